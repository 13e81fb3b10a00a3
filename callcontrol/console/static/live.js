// Live calls: the list from the snapshot, kept current by "calls" messages.
"use strict";
(() => {
  const { el, clear, fmtDuration, secondsSince } = CC;
  const calls = new Map(); // id -> snapshot
  const ended = new Map(); // id -> time it ended (kept briefly, faded)
  const body = document.getElementById("calls");
  const count = document.getElementById("call-count");

  function who(number, name) {
    if (name && name !== number) return `${name} (${number || "?"})`;
    return number || "—";
  }

  function row(call) {
    const since = call.answered_at || call.created_at;
    return el("tr", { dataset: { id: call.id }, class: ended.has(call.id) ? "ended" : "" },
      el("td", { class: "caller" }, who(call.caller, call.caller_name)),
      el("td", {}, call.callee || "—"),
      el("td", {}, el("span", { class: "pill " + call.state }, call.state)),
      el("td", { class: "num duration", dataset: { since: since || "" } }, fmtDuration(secondsSince(since))),
      el("td", {}, el("span", { class: "pill " + call.handled_by }, call.handled_by)),
      el("td", { class: "small muted" }, call.worker || "—"),
      el("td", {}, el("a", { href: "/calls/" + encodeURIComponent(call.id) }, "Open")));
  }

  function render() {
    clear(body);
    const list = [...calls.values()].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
    if (!list.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No calls right now.")));
    for (const call of list) body.append(row(call));
    const live = list.length - ended.size;
    count.textContent = `${live} in progress`;
  }

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  }

  CC.onSnapshot((frame) => {
    calls.clear(); ended.clear();
    for (const c of frame.calls || []) if (c.state !== "hangup") calls.set(c.id, c);
    schedule();
  });

  CC.on("calls", (call) => {
    if (call.state === "hangup") {
      if (!calls.has(call.id)) return;
      calls.set(call.id, call);
      ended.set(call.id, Date.now());
      setTimeout(() => { calls.delete(call.id); ended.delete(call.id); schedule(); }, 4000);
    } else {
      calls.set(call.id, call);
    }
    schedule();
  });

  setInterval(() => {
    for (const cell of body.querySelectorAll("td.duration")) {
      if (cell.closest("tr.ended")) continue;
      cell.textContent = fmtDuration(secondsSince(cell.dataset.since));
    }
  }, 1000);
})();
