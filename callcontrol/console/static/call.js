// One call: transcript as it is spoken, latency waterfall per turn, timeline, actions.
"use strict";
(() => {
  const { el, clear, api, detail, toast, fmtTime, fmtDuration } = CC;
  const page = CC.pageData();
  const callId = page.call_id;
  const data = page.detail;
  const turns = new Map(); // seq -> turn
  const partials = new Map(); // speaker -> text
  const hitl = new Map(); // request id -> item
  let info = Object.assign({}, data.call || {}, data.live || {});
  let active = page.active;

  const STAGES = [
    ["stt_done", "speech to text"],
    ["retrieval_done", "retrieval"],
    ["llm_first_token", "LLM first token"],
    ["first_audio_sent", "first audio"],
    ["playback_started", "playback"],
  ];

  function waterfall(timings, v2vMs) {
    const marks = [];
    for (const [key, label] of STAGES) {
      const v = Number(timings[key]);
      if (!isNaN(v) && timings[key] !== null && timings[key] !== undefined) marks.push([label, v]);
    }
    for (const [key, value] of Object.entries(timings)) {
      if (key === "end_of_speech" || STAGES.some(([k]) => k === key)) continue;
      const v = Number(value);
      if (!isNaN(v)) marks.push([key.replace(/_/g, " "), v]);
    }
    if (!marks.length) return null;
    marks.sort((a, b) => a[1] - b[1]);
    const total = Math.max(marks[marks.length - 1][1], 0.001);
    const bar = el("div", { class: "wf-bar", title: "seconds after the caller stopped speaking" });
    const legend = el("div", { class: "wf-legend" });
    let previous = 0;
    marks.forEach(([label, at], i) => {
      const seg = el("div", { class: `wf-seg s${i % 6}`, title: `${label}: ${Math.round(at * 1000)} ms` });
      seg.style.width = `${(Math.max(at - previous, 0) / total) * 100}%`;
      bar.append(seg);
      legend.append(el("span", {}, el("i", { class: `wf-seg s${i % 6}` }), `${label} ${Math.round(at * 1000)} ms`));
      previous = Math.max(previous, at);
    });
    const v2v = v2vMs ?? (timings.playback_started !== undefined ? Number(timings.playback_started) * 1000 : null);
    if (v2v !== null && !isNaN(v2v)) legend.append(el("span", { class: "v2v" }, `voice to voice ${Math.round(v2v)} ms`));
    return el("div", { class: "waterfall" }, bar, legend);
  }

  function turnNode(t, partial) {
    const speaker = String(t.speaker || "bot");
    const classes = ["turn", speaker];
    if (partial) classes.push("partial");
    if (t.interrupted) classes.push("interrupted");
    const node = el("div", { class: classes.join(" "), dataset: { seq: t.seq ?? "" } },
      el("span", { class: "who" }, speaker), t.text || "");
    const timings = t.timings || {};
    if (!partial && Object.keys(timings).length) {
      const wf = waterfall(timings, t.voice_to_voice_ms);
      if (wf) node.append(wf);
    }
    return node;
  }

  const box = document.getElementById("transcript");
  function renderTranscript() {
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    clear(box);
    const list = [...turns.values()].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    if (!list.length && !partials.size) box.append(el("p", { class: "muted" }, "Nothing said yet."));
    for (const t of list) box.append(turnNode(t, false));
    for (const [speaker, text] of partials) box.append(turnNode({ speaker, text }, true));
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  const timeline = document.getElementById("timeline");
  function addEvent(e) {
    const data = e.data && Object.keys(e.data).length ? " " + JSON.stringify(e.data) : "";
    timeline.append(el("li", {}, el("time", {}, fmtTime(e.at)), el("span", {}, e.name + data)));
  }

  const facts = document.getElementById("facts");
  function renderFacts() {
    clear(facts);
    const cdr = data.cdr || {};
    const rows = [
      ["Caller", info.caller_name && info.caller_name !== info.caller ? `${info.caller_name} (${info.caller})` : info.caller || cdr.caller],
      ["Called", info.callee || cdr.callee],
      ["Owner", info.owner || cdr.owner],
      ["Direction", info.direction || cdr.direction],
      ["State", info.state],
      ["Handled by", info.handled_by || cdr.handled_by],
      ["Started", fmtTime(info.created_at || cdr.start_at)],
      ["Answered", fmtTime(info.answered_at || cdr.answer_at)],
      ["Ended", fmtTime(info.ended_at || cdr.end_at)],
      ["Worker", info.worker || cdr.worker_id],
    ];
    if (data.cdr) {
      rows.push(["Duration", fmtDuration(cdr.duration_s)], ["Billed", fmtDuration(cdr.billsec_s)],
        ["Outcome", cdr.outcome], ["Hangup cause", cdr.hangup_cause]);
    } else if (info.hangup_cause) {
      rows.push(["Hangup cause", info.hangup_cause]);
    }
    for (const [k, v] of rows) {
      if (v === undefined || v === null || v === "" || v === "—") continue;
      facts.append(el("dt", {}, k), el("dd", {}, String(v)));
    }
    const pill = document.getElementById("call-state");
    pill.textContent = active ? (info.state || "live") : "ended";
    pill.className = "pill " + (active ? info.state || "answered" : "hangup");
    for (const id of ["btn-hangup", "btn-transfer", "btn-takeover"]) document.getElementById(id).disabled = !active;
  }

  const hitlBox = document.getElementById("hitl-items");
  function renderHitl() {
    clear(hitlBox);
    if (!hitl.size) { hitlBox.append(el("p", { class: "muted" }, "None.")); return; }
    for (const h of hitl.values()) {
      hitlBox.append(el("div", { class: "passage" },
        el("span", { class: "pill " + (h.status || "") }, h.status || ""), " ",
        el("b", {}, h.question || ""),
        h.answer ? el("div", {}, "Answer: ", h.answer, h.operator ? ` (${h.operator})` : "") : null,
        h.outcome && h.outcome !== "answered" ? el("div", { class: "muted small" }, h.outcome) : null));
    }
  }

  // initial state from the database (and live state)
  for (const t of data.turns || []) turns.set(t.seq, t);
  for (const e of data.events || []) addEvent(e);
  for (const h of data.hitl || []) hitl.set(h.id, { ...h, operator: null });
  renderTranscript(); renderFacts(); renderHitl();

  CC.on("call." + callId, (msg) => {
    if (msg.type === "turn") {
      turns.set(msg.seq ?? turns.size, msg);
      partials.delete(msg.speaker);
      renderTranscript();
    } else if (msg.type === "partial") {
      if (msg.text) partials.set(msg.speaker, msg.text); else partials.delete(msg.speaker);
      renderTranscript();
    } else if (msg.type === "event") {
      addEvent({ name: msg.name, at: msg.at || new Date().toISOString(), data: msg.data });
    } else if (msg.type === "hitl") {
      hitl.set(msg.request_id, { ...hitl.get(msg.request_id), ...msg, id: msg.request_id });
      renderHitl();
    }
  });

  CC.on("calls", (call) => {
    if (call.id !== callId) return;
    info = Object.assign(info, call);
    if (call.state === "hangup") active = false; else active = true;
    renderFacts();
  });

  const result = document.getElementById("action-result");
  async function act(button, url, body, doing) {
    button.disabled = true;
    result.textContent = doing;
    const r = await api("POST", url, body);
    button.disabled = !active;
    result.textContent = r.ok ? "Done." : "Failed: " + detail(r);
    toast(r.ok ? doing.replace("…", " done") : "Failed: " + detail(r), r.ok ? "good" : "bad");
  }
  const base = "/api/calls/" + encodeURIComponent(callId);
  document.getElementById("btn-hangup").addEventListener("click", (e) => {
    if (confirm("Hang up this call?")) act(e.target, base + "/hangup", {}, "Hanging up…");
  });
  document.getElementById("btn-transfer").addEventListener("click", (e) => {
    const to = document.getElementById("transfer-to").value.trim();
    if (!to) { toast("Where to?", "bad"); return; }
    act(e.target, base + "/transfer", { destination: to }, `Transferring to ${to}…`);
  });
  document.getElementById("btn-takeover").addEventListener("click", (e) => {
    const to = document.getElementById("takeover-to").value.trim();
    act(e.target, base + "/takeover", { target: to || null }, "Ringing your phone…");
  });
})();
