// Jobs: run a finished or failed transcription again (admins); the page refreshes itself.
"use strict";
(() => {
  const { api, detail, toast } = CC;
  for (const button of document.querySelectorAll("button.retry")) {
    button.addEventListener("click", async () => {
      const r = await api("POST", `/api/jobs/${encodeURIComponent(button.dataset.call)}/retry`);
      if (r.ok) { toast("Queued again", "good"); setTimeout(() => location.reload(), 500); }
      else toast(detail(r), "bad");
    });
  }
  // While work is queued or running, show its progress.
  if (document.querySelector('tr[data-status="queued"], tr[data-status="running"]')) {
    setTimeout(() => location.reload(), 5000);
  }
})();
