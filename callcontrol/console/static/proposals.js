// Proposed knowledge: approve (as edited) into the owner's knowledge, or reject.
"use strict";
(() => {
  const { api, detail, toast } = CC;
  for (const form of document.querySelectorAll("form.proposal")) {
    const id = form.dataset.id;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = form.querySelector("textarea").value.trim();
      const r = await api("POST", `/api/proposals/${id}/approve`, { text });
      if (r.ok) { toast("Added to the knowledge", "good"); form.remove(); } else toast(detail(r), "bad");
    });
    form.querySelector(".reject").addEventListener("click", async () => {
      const r = await api("POST", `/api/proposals/${id}/reject`);
      if (r.ok) { toast("Rejected", "good"); form.remove(); } else toast(detail(r), "bad");
    });
  }
})();
