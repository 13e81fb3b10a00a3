// Follow-ups: questions nobody could answer in time; annotate, mark contacted/resolved.
"use strict";
(() => {
  const { el, clear, api, detail, toast, fmtTime } = CC;
  const page = CC.pageData();
  const body = document.getElementById("followups");
  const rows = new Map(page.rows.map((r) => [r.id, r]));
  const WHY = { unavailable: "nobody available", timeout: "no answer in time", cancelled: "caller hung up" };
  const visible = page.show === "all" ? ["unresolved", "contacted", "resolved"] : ["unresolved", "contacted"];

  function line(row) {
    const notes = el("textarea", { rows: 2, maxlength: 10000, class: "notes", "aria-label": "Notes" });
    notes.value = row.notes || "";
    const status = async (value) => {
      const r = await api("POST", `/api/hitl/${encodeURIComponent(row.id)}/followup`,
        { status: value, notes: notes.value });
      if (r.ok) { update(r.data); toast(value ? `Marked ${value}` : "Notes saved", "good"); }
      else toast(detail(r), "bad");
    };
    return el("tr", { dataset: { id: row.id } },
      el("td", { class: "small" }, fmtTime(row.created_at)),
      el("td", {}, row.caller_number || "—", el("br"), el("a", { class: "small", href: "/calls/" + encodeURIComponent(row.call_id) }, "call")),
      el("td", { class: "question" }, row.question || ""),
      el("td", { class: "small muted" }, WHY[row.outcome] || row.outcome || ""),
      el("td", {}, el("span", { class: "pill " + row.status }, row.status),
        row.followup_by ? el("div", { class: "small muted" }, "by " + row.followup_by) : null),
      el("td", {}, notes),
      el("td", {}, el("div", { class: "actions" },
        el("button", { class: "small secondary", type: "button", onclick: () => status(null) }, "Save notes"),
        el("button", { class: "small secondary", type: "button", onclick: () => status("contacted") }, "Contacted"),
        el("button", { class: "small", type: "button", onclick: () => status("resolved") }, "Resolved"))));
  }

  function render() {
    clear(body);
    const list = [...rows.values()].filter((r) => visible.includes(r.status))
      .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    if (!list.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "Nothing to follow up.")));
    for (const row of list) body.append(line(row));
  }

  function update(row) {
    const merged = { ...(rows.get(row.id) || {}), ...row };
    rows.set(row.id, merged);
    const current = body.querySelector(`tr[data-id="${CSS.escape(row.id)}"]`);
    if (current && visible.includes(merged.status)) current.replaceWith(line(merged));
    else render();
  }

  CC.on("hitl", (row) => {
    if (["unresolved", "contacted", "resolved"].includes(row.status)) update(row);
  });
  render();
})();
