// After the call: the summary, action items (status changeable) and proposed knowledge,
// each with the words of the transcript segment it comes from.
"use strict";
(() => {
  const { el, clear, api, detail, toast } = CC;
  const callId = CC.pageData().call_id;
  const summary = document.getElementById("postcall-summary");
  const actions = document.getElementById("postcall-actions");
  const proposals = document.getElementById("postcall-proposals");
  const STATUSES = ["TODO", "IN_PROGRESS", "DONE"];

  function evidence(text) {
    return el("blockquote", { class: "evidence small muted", title: "what was said" }, `\u201c${text}\u201d`);
  }

  function render(data) {
    summary.textContent = data.summary || (data.job ? `Being made (${data.job.status}).` : "Made when the call has ended.");
    summary.classList.toggle("muted", !data.summary);
    clear(actions);
    if (!data.action_items.length) actions.append(el("p", { class: "muted small" }, "None."));
    for (const item of data.action_items) {
      const select = el("select", { class: "action-status", "aria-label": "status" },
        ...STATUSES.map((s) => el("option", { value: s, selected: s === item.status }, s.replace("_", " ").toLowerCase())));
      select.addEventListener("change", async () => {
        const r = await api("PUT", `/api/action-items/${item.id}`, { status: select.value });
        if (r.ok) toast("Saved", "good"); else toast(detail(r), "bad");
      });
      actions.append(el("div", { class: "action-item", dataset: { id: item.id } },
        el("div", {}, el("strong", {}, item.title), " ",
          el("span", { class: "pill" }, item.assignee === "caller" ? "caller" : "us"),
          item.due_date ? el("span", { class: "muted small" }, ` due ${item.due_date}`) : null, " ", select),
        evidence(item.evidence)));
    }
    clear(proposals);
    if (!data.proposals.length) proposals.append(el("p", { class: "muted small" }, "None."));
    for (const p of data.proposals) {
      proposals.append(el("div", { class: "proposal" },
        el("div", {}, el("span", { class: "pill" }, p.category), " ", p.text, " ",
          el("span", { class: "muted small" }, p.status === "pending" ? "" : `(${p.status} by ${p.decided_by})`)),
        evidence(p.evidence)));
    }
  }

  async function load() {
    const r = await api("GET", `/api/calls/${encodeURIComponent(callId)}/postcall`);
    if (!r.ok) return;
    render(r.data);
    if (!r.data.summary && r.data.job && ["queued", "running"].includes(r.data.job.status)) setTimeout(load, 3000);
  }
  load();
})();
