// Admin data: purge now; erase one number's data (asks first).
"use strict";
(() => {
  const { api, detail, toast } = CC;
  document.getElementById("purge-now").addEventListener("click", async () => {
    const r = await api("POST", "/api/admin/retention/purge");
    if (r.ok) { document.getElementById("purge-result").textContent = JSON.stringify(r.data, null, 2); toast("Purged", "good"); }
    else toast(detail(r), "bad");
  });
  document.getElementById("erase-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = document.getElementById("erase-number").value.trim();
    if (!confirm(`Erase every call's personal data for ${number}? This cannot be undone.`)) return;
    const r = await api("POST", "/api/admin/erase", { number });
    if (r.ok) { document.getElementById("erase-result").textContent = JSON.stringify(r.data, null, 2); toast("Erased", "good"); }
    else toast(detail(r), "bad");
  });
})();
