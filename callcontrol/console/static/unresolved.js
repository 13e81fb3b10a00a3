// Follow-ups: questions nobody could answer in time; annotate, mark noted/contacted/
// resolved, set where to call back, and call the caller back from the operator's phone.
"use strict";
(() => {
  const { el, clear, api, detail, toast, fmtTime } = CC;
  const page = CC.pageData();
  const body = document.getElementById("followups");
  const rows = new Map(page.rows.map((r) => [r.id, r]));
  const WHY = { unavailable: "nobody available", timeout: "no answer in time", cancelled: "caller hung up" };
  const ALL = ["unresolved", "noted", "contacted", "resolved"];
  const visible = page.show === "all" ? ALL : page.show === "open" ? ["unresolved", "noted", "contacted"] : [page.show];

  function line(row) {
    const notes = el("textarea", { rows: 2, maxlength: 10000, class: "notes", "aria-label": "Notes" });
    notes.value = row.notes || "";
    const phone = el("input", { type: "tel", maxlength: 64, class: "phone", value: row.followup_phone || row.caller_number || "", "aria-label": "Call back on" });
    const required = el("input", { type: "checkbox", class: "required" });
    required.checked = row.followup_required !== false;
    const status = async (value) => {
      const r = await api("POST", `/api/hitl/${encodeURIComponent(row.id)}/followup`,
        { status: value, notes: notes.value, phone: phone.value.trim(), required: required.checked });
      if (r.ok) { update(r.data); toast(value ? `Marked ${value}` : "Saved", "good"); }
      else toast(detail(r), "bad");
    };
    const callBack = el("button", { class: "small", type: "button" }, "Call back");
    callBack.addEventListener("click", async () => {
      callBack.disabled = true;
      toast("Ringing your phone; answer it to call " + (phone.value || "the caller") + ".");
      const r = await api("POST", `/api/hitl/${encodeURIComponent(row.id)}/callback`, {});
      callBack.disabled = false;
      if (r.ok) { update(r.data.row); toast("Connected to the caller.", "good"); }
      else toast(detail(r), "bad");
    });
    const who = [];
    if (row.noted_by) who.push(el("div", { class: "small muted" }, `noted by ${row.noted_by} ${fmtTime(row.noted_at)}`));
    if (row.resolved_by) who.push(el("div", { class: "small muted" }, `resolved by ${row.resolved_by} ${fmtTime(row.resolved_at)}`));
    else if (row.followup_by) who.push(el("div", { class: "small muted" }, "by " + row.followup_by));
    const message = row.voicemail ? el("div", { class: "voicemail" },
      el("audio", { controls: true, preload: "none", src: `/api/hitl/${encodeURIComponent(row.id)}/voicemail` }),
      el("div", { class: "small transcript" }, row.voicemail_transcript ? "“" + row.voicemail_transcript + "”" : "(no words heard)")) : null;
    const calls = (row.callbacks || []).map((id, n) => el("a", { class: "small callback-link", href: "/calls/" + encodeURIComponent(id) }, `call-back ${n + 1}`));
    return el("tr", { dataset: { id: row.id } },
      el("td", { class: "small" }, fmtTime(row.created_at)),
      el("td", {}, row.caller_number || "—", el("br"), el("a", { class: "small", href: "/calls/" + encodeURIComponent(row.call_id) }, "call")),
      el("td", { class: "question" }, row.question || "", message),
      el("td", { class: "small muted" }, WHY[row.outcome] || row.outcome || ""),
      el("td", {}, el("span", { class: "pill " + row.status }, row.status), ...who),
      el("td", {}, notes,
        el("div", { class: "check" }, required, el("span", { class: "small" }, "Needs a call back on")), phone,
        el("div", { class: "small" }, ...calls)),
      el("td", {}, el("div", { class: "actions" },
        callBack,
        el("button", { class: "small secondary", type: "button", onclick: () => status(null) }, "Save"),
        el("button", { class: "small secondary", type: "button", onclick: () => status("noted") }, "Noted"),
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
    if (ALL.includes(row.status)) update(row);
  });
  render();
})();
