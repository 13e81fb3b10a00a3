// The HITL queue: questions waiting for an operator, with what the bot knew; answer forms.
"use strict";
(() => {
  const { el, api, detail, toast, fmtDuration, secondsSince } = CC;
  const list = document.getElementById("hitl-list");
  const empty = document.getElementById("hitl-empty");
  const cards = new Map(); // id -> card node
  const notifyMe = document.getElementById("notify-me");
  notifyMe.checked = CC.notifyWanted();
  notifyMe.addEventListener("change", async () => {
    const wanted = notifyMe.checked;
    const on = await CC.setNotify(wanted);
    notifyMe.checked = on;
    if (wanted && !on) toast("Notifications are blocked or not supported in this browser.", "bad");
    else toast(on ? "You will be notified of new questions." : "Notifications off.");
  });

  function passages(retrieval) {
    if (!retrieval || !retrieval.length) return el("p", { class: "muted small" }, "Retrieval found nothing.");
    return el("div", {}, retrieval.map((p) => el("div", { class: "passage" },
      el("span", { class: "score" }, typeof p.score === "number" ? p.score.toFixed(3) : ""),
      el("b", {}, p.title || ""), p.title ? " — " : "", p.text || "")));
  }

  function recent(turns) {
    if (!turns || !turns.length) return el("p", { class: "muted small" }, "No earlier turns.");
    return el("ol", { class: "recent" }, turns.map((t) => el("li", {}, el("b", {}, (t.speaker || "?") + ": "), t.text || "")));
  }

  function card(row) {
    const ctx = row.context || {};
    const answer = el("textarea", { rows: 3, maxlength: 4000, required: true, placeholder: "Your answer; the bot will say it in its own words.", class: "answer" });
    const save = el("input", { type: "checkbox", class: "save-kb" });
    const title = el("input", { type: "text", maxlength: 200, value: row.question || "", class: "kb-title", "aria-label": "Title in the knowledge base" });
    const send = el("button", { type: "submit" }, "Send answer");
    const waited = el("span", { class: "waited", dataset: { since: row.created_at || "" } }, fmtDuration(secondsSince(row.created_at)));
    const form = el("form", { class: "answer-form" },
      el("label", {}, "Answer"), answer,
      el("div", { class: "check" }, save, el("span", {}, "Save to the knowledge base of " + (row.owner || "default") + " as")),
      title,
      el("div", { class: "actions" }, send));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = answer.value.trim();
      if (!text) return;
      send.disabled = true;
      const r = await api("POST", `/api/hitl/${encodeURIComponent(row.id)}/answer`,
        { answer: text, save_to_kb: save.checked, kb_title: save.checked ? title.value : null });
      if (r.ok && r.data.status === "answered") {
        let msg = "Answer sent to the caller.";
        if (r.data.saved_to_kb) msg += " Saved to the knowledge base.";
        if (r.data.kb_error) msg += " Not saved: " + r.data.kb_error;
        toast(msg, r.data.kb_error ? "bad" : "good");
        remove(row.id);
      } else if (r.ok) {
        toast("Answer sent; waiting for the call to confirm.");
      } else {
        toast(detail(r), "bad");
        if (r.status === 409 || r.status === 404) remove(row.id);
        send.disabled = false;
      }
    });
    return el("div", { class: "panel hitl-card", dataset: { id: row.id, created: row.created_at || "" } },
      el("div", { class: "meta" },
        el("span", { class: "position" }, ""),
        el("span", { class: "pill waiting" }, row.reason || "question"),
        ctx.queued_behind_busy ? el("span", { class: "pill busy", title: "Asked while every operator was busy: it waits for the first one free." }, "queued: operators busy") : "",
        el("span", {}, "Caller " + (row.caller_number || "unknown")),
        el("span", {}, "waiting ", waited),
        el("a", { href: "/calls/" + encodeURIComponent(row.call_id) }, "open the call")),
      el("div", { class: "question" }, row.question || ""),
      el("div", { class: "grid halves" },
        el("div", {}, el("h3", {}, "Recent turns"), recent(ctx.recent_turns)),
        el("div", {}, el("h3", {}, "What retrieval found"), passages(ctx.retrieval))),
      form);
  }

  function ordinal(n) {
    const s = ["th", "st", "nd", "rd"], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }

  // Oldest first: a card's place in the list is its place in the line.
  function renumber() {
    const nodes = [...cards.values()].sort((a, b) => a.dataset.created.localeCompare(b.dataset.created));
    nodes.forEach((node, i) => {
      list.append(node);
      node.querySelector(".position").textContent = ordinal(i + 1) + " in line";
    });
  }

  function add(row) {
    if (cards.has(row.id)) return;
    const node = card(row);
    cards.set(row.id, node);
    list.append(node);
    empty.hidden = true;
    renumber();
  }

  function remove(id) {
    const node = cards.get(id);
    if (node) { node.remove(); cards.delete(id); }
    empty.hidden = cards.size > 0;
    renumber();
  }

  CC.onSnapshot((frame) => {
    for (const id of [...cards.keys()]) remove(id);
    for (const row of frame.hitl || []) add(row);
  });
  CC.on("hitl", (row) => {
    if (row.status === "waiting") add(row);
    else if (cards.has(row.id)) {
      if (row.outcome === "answered" && row.operator !== document.body.dataset.user) toast(`${row.operator} answered "${row.question}"`);
      remove(row.id);
    }
  });
  setInterval(() => {
    for (const node of list.querySelectorAll(".waited")) node.textContent = fmtDuration(secondsSince(node.dataset.since));
  }, 1000);
})();
