// Scripted flows: check a document (problems and warnings listed), save it.
"use strict";
(() => {
  const { api, toast } = CC;
  const v = (id) => document.getElementById(id).value;
  const out = document.getElementById("f-result");
  const body = () => ({
    document: v("f-doc"), owner: v("f-owner").trim(),
    fields: v("f-fields").split(",").map((s) => s.trim()).filter(Boolean),
  });
  const show = (r) => {
    const d = r.data || {};
    const problems = (d.detail && d.detail.problems) || [];
    if (!r.ok) { out.textContent = problems.length ? problems.join("\n") : JSON.stringify(d.detail || d); return false; }
    out.textContent = [`${d.name}: ${d.nodes} nodes`, ...(d.warnings || []).map((w) => `warning: ${w}`)].join("\n");
    return true;
  };
  document.getElementById("f-check").addEventListener("click", async () => {
    const r = await api("POST", "/api/flows/check", body());
    toast(show(r) ? "The flow is valid" : "The flow has problems", r.ok ? "good" : "bad");
  });
  document.getElementById("flow-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const r = await api("POST", "/api/flows", body());
    if (show(r)) { toast("Flow saved", "good"); setTimeout(() => location.reload(), 500); } else toast("Not saved", "bad");
  });
})();
