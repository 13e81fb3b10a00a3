// Edit or delete one knowledge document.
"use strict";
(() => {
  const { api, detail, toast } = CC;
  const page = CC.pageData();
  const url = "/api/kb/docs/" + encodeURIComponent(page.id);
  document.getElementById("doc-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const r = await api("PUT", url, {
      title: document.getElementById("doc-title").value,
      text: document.getElementById("doc-text").value,
    });
    if (r.ok) toast(`Saved (${r.data.chunk_count} chunks)`, "good"); else toast(detail(r), "bad");
  });
  document.getElementById("doc-delete").addEventListener("click", async () => {
    if (!confirm("Delete this document? The bot will stop answering from it.")) return;
    const r = await api("DELETE", url);
    if (r.ok) window.location.assign("/kb?owner=" + encodeURIComponent(page.owner));
    else toast(detail(r), "bad");
  });
})();
