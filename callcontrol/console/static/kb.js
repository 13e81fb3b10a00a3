// Knowledge base: documents of one owner, scored search, add, upload with progress.
"use strict";
(() => {
  const { el, clear, api, detail, toast, fmtTime } = CC;
  const page = CC.pageData();
  if (!page.configured) return;
  const ownerInput = document.getElementById("owner-select");
  const docsBody = document.getElementById("docs");
  const owner = () => ownerInput.value.trim();

  function renderDocs(docs) {
    clear(docsBody);
    if (!docs.length) docsBody.append(el("tr", {}, el("td", { colspan: 5, class: "empty" }, owner() ? "No documents yet." : "Choose an owner.")));
    for (const d of docs) {
      docsBody.append(el("tr", { dataset: { id: d.id } },
        el("td", {}, el("a", { href: "/kb/docs/" + encodeURIComponent(d.id) }, d.title)),
        el("td", { class: "num" }, d.chunk_count),
        el("td", { class: "num" }, d.chars),
        el("td", { class: "small" }, fmtTime(d.updated_at)),
        el("td", { class: "small muted" }, d.source || "—")));
    }
  }

  async function reload() {
    if (!owner()) { renderDocs([]); return; }
    document.getElementById("owner-name").textContent = owner();
    const r = await api("GET", "/api/kb/docs?owner=" + encodeURIComponent(owner()));
    if (r.ok) renderDocs(r.data); else toast(detail(r), "bad");
  }

  document.getElementById("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = document.getElementById("search-q").value.trim();
    const out = document.getElementById("search-results");
    if (!q || !owner()) { toast("Choose an owner and type a question", "bad"); return; }
    clear(out);
    out.append(el("p", { class: "muted" }, "Searching…"));
    const r = await api("GET", `/api/kb/search?owner=${encodeURIComponent(owner())}&q=${encodeURIComponent(q)}&k=5`);
    clear(out);
    if (!r.ok) { out.append(el("div", { class: "error" }, detail(r))); return; }
    out.append(el("p", { class: r.data.confident ? "notice" : "error" },
      r.data.confident ? "The bot would answer from the best passage." : "No passage is good enough: the bot would ask an operator."));
    if (!r.data.passages.length) out.append(el("p", { class: "muted" }, "Nothing found."));
    for (const p of r.data.passages) {
      out.append(el("div", { class: "passage " + (p.confident ? "confident" : "weak") },
        el("span", { class: "score" }, p.score.toFixed(3)),
        el("b", {}, p.title), " — ", p.text));
    }
  });

  document.getElementById("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!owner()) { toast("Choose an owner first", "bad"); return; }
    const title = document.getElementById("add-title");
    const text = document.getElementById("add-text");
    const r = await api("POST", "/api/kb/docs", { owner: owner(), title: title.value, text: text.value });
    if (r.ok) { toast(`Saved "${r.data.title}" (${r.data.chunk_count} chunks)`, "good"); title.value = ""; text.value = ""; reload(); }
    else toast(detail(r), "bad");
  });

  document.getElementById("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const files = document.getElementById("upload-files").files;
    if (!owner() || !files.length) { toast("Choose an owner and files", "bad"); return; }
    const total = [...files].reduce((n, f) => n + f.size, 0);
    if (total > page.max_upload_bytes) { toast("Too large for the upload limit", "bad"); return; }
    const form = new FormData();
    form.append("owner", owner());
    for (const f of files) form.append("files", f, f.name);
    const bar = document.getElementById("upload-progress");
    const fill = bar.firstElementChild;
    bar.hidden = false;
    fill.style.width = "0%";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/kb/upload");
    xhr.setRequestHeader("X-CSRF-Token", CC.csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) fill.style.width = `${(e.loaded / e.total) * 90}%`; };
    xhr.onload = () => {
      fill.style.width = "100%";
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch (_) { data = {}; }
      if (xhr.status >= 200 && xhr.status < 300) {
        toast(`Uploaded ${data.documents.length} file(s)`, "good");
        document.getElementById("upload-files").value = "";
        reload();
      } else {
        toast(detail({ status: xhr.status, data }), "bad");
      }
      setTimeout(() => { bar.hidden = true; }, 800);
    };
    xhr.onerror = () => { toast("Upload failed", "bad"); bar.hidden = true; };
    xhr.send(form);
  });

  renderDocs(page.docs);
})();
