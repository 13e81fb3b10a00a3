// Admin: webhooks (add, enable/disable, delete) and the delivery log (send again).
"use strict";
(() => {
  const { api, detail, toast } = CC;
  const reload = () => setTimeout(() => location.reload(), 600);
  document.getElementById("add-webhook").addEventListener("submit", async (event) => {
    event.preventDefault();
    const events = [...document.querySelectorAll(".events input:checked")].map((i) => i.value);
    const owner = document.getElementById("hook-owner").value.trim() || null;
    const r = await api("POST", "/api/admin/webhooks", { url: document.getElementById("hook-url").value, owner, events });
    if (!r.ok) { toast(detail(r), "bad"); return; }
    const out = document.getElementById("new-secret");
    out.hidden = false;
    out.textContent = `Secret (shown once): ${r.data.secret}`;
    toast("Webhook added", "good");
  });
  for (const row of document.querySelectorAll("#hooks tr[data-id]")) {
    row.querySelector(".toggle").addEventListener("click", async (e) => {
      const enabled = e.target.dataset.enabled !== "true";
      const r = await api("PUT", `/api/admin/webhooks/${row.dataset.id}`, { enabled });
      if (r.ok) reload(); else toast(detail(r), "bad");
    });
    row.querySelector(".remove").addEventListener("click", async () => {
      const r = await api("DELETE", `/api/admin/webhooks/${row.dataset.id}`);
      if (r.ok) reload(); else toast(detail(r), "bad");
    });
  }
  for (const row of document.querySelectorAll("#deliveries tr[data-id]")) {
    row.querySelector(".resend").addEventListener("click", async () => {
      const r = await api("POST", `/api/admin/webhooks/deliveries/${row.dataset.id}/resend`);
      if (r.ok) { toast("Queued to send again", "good"); reload(); } else toast(detail(r), "bad");
    });
  }
})();
