// Campaigns: create; on a campaign, start/pause/resume/stop, upload contacts, call now.
"use strict";
(() => {
  const { api, detail, toast, csrf } = CC;
  const reload = () => setTimeout(() => location.reload(), 500);
  const form = document.getElementById("new-campaign");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = (id) => document.getElementById(id).value.trim();
      const body = {
        name: v("c-name"), owner: v("c-owner") || null, dialstring: v("c-dial"), flow: v("c-flow") || null,
        cps: Number(v("c-cps")), max_concurrent: Number(v("c-max")), region: v("c-region"),
        timezone: v("c-tz"), windows: { days: [0, 1, 2, 3, 4, 5], start: v("c-start"), end: v("c-end") },
        retries: { busy: { count: 2, after_s: 900 }, no_answer: { count: 2, after_s: 3600 } },
      };
      const r = await api("POST", "/api/campaigns", body);
      if (r.ok) location.href = `/campaigns/${r.data.id}`; else toast(detail(r), "bad");
    });
  }
  const actions = document.getElementById("campaign-actions");
  if (!actions) return;
  const id = actions.dataset.id;
  for (const button of actions.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      const r = await api("POST", `/api/campaigns/${id}/${button.dataset.action}`);
      if (r.ok) { toast(`Campaign ${r.data.status}`, "good"); reload(); } else toast(detail(r), "bad");
    });
  }
  document.getElementById("upload-contacts").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("contacts-file").files[0];
    if (!file) return;
    const data = new FormData();
    data.append("file", file);
    const r = await fetch(`/api/campaigns/${id}/contacts`, { method: "POST", body: data, headers: { "X-CSRF-Token": csrf } });
    const body = await r.json().catch(() => ({}));
    const out = document.getElementById("upload-result");
    if (r.ok) { out.textContent = `${body.added} added, ${body.merged} merged`; toast("Contacts uploaded", "good"); reload(); }
    else { const d = body.detail || {}; out.textContent = d.errors ? d.errors.map((e) => `row ${e.row} ${e.column}: ${e.reason}`).join("\n") : JSON.stringify(d); toast("Nothing imported", "bad"); }
  });
  document.getElementById("call-now").addEventListener("click", async () => {
    const ids = [...document.querySelectorAll("#contacts tr[data-id]")].filter((tr) => tr.querySelector(".pick").checked).map((tr) => tr.dataset.id);
    if (!ids.length) { toast("Select contacts first", "bad"); return; }
    const r = await api("POST", `/api/campaigns/${id}/call-now`, { contact_ids: ids });
    if (r.ok) { toast(`${r.data.due_now} due now`, "good"); reload(); } else toast(detail(r), "bad");
  });
})();
