// callcontrol console: helpers shared by every page, and the page's live connection.
// Text from the server is only ever put into the page with textContent (never innerHTML).
"use strict";

const CC = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const handlers = new Map(); // topic (or "call.*") -> [fn]
  const snapshotHandlers = [];
  const connHandlers = [];
  const waitingHitl = new Set();
  let socket = null;
  let backoff = 500;
  let started = false;

  async function api(method, url, body) {
    const init = { method, headers: { "X-CSRF-Token": csrf, Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      return { ok: false, status: 0, data: { detail: "network error: " + err } };
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); }
    return { ok: response.ok, status: response.status, data };
  }

  function detail(result) {
    const d = result.data && result.data.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d) && d.length) return d.map((e) => e.msg || String(e)).join("; ");
    return "HTTP " + result.status;
  }

  // el("div", {class: "x", dataset: {id: 1}, onclick: fn}, "text", child, ...)
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const today = new Date();
    const sameDay = d.toDateString() === today.toDateString();
    return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "—";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
  }

  function secondsSince(iso) {
    if (!iso) return null;
    const t = Date.parse(iso);
    return isNaN(t) ? null : (Date.now() - t) / 1000;
  }

  function toast(message, kind) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = el("div", { class: "toast " + (kind || ""), role: "status" }, message);
    box.append(item);
    setTimeout(() => item.remove(), 5000);
  }

  function pageData() {
    const node = document.getElementById("page-data");
    return node ? JSON.parse(node.textContent) : {};
  }

  function on(topic, fn) {
    if (!handlers.has(topic)) handlers.set(topic, []);
    handlers.get(topic).push(fn);
  }
  function onSnapshot(fn) { snapshotHandlers.push(fn); }
  function onConnection(fn) { connHandlers.push(fn); }

  function dispatch(topic, data) {
    const exact = handlers.get(topic) || [];
    const wild = topic.startsWith("call.") ? handlers.get("call.*") || [] : [];
    for (const fn of [...exact, ...wild]) {
      try { fn(data, topic); } catch (err) { console.error("handler failed", topic, err); }
    }
  }

  function setConn(up) {
    const dot = document.getElementById("conn");
    if (dot) { dot.classList.toggle("up", up); dot.classList.toggle("down", !up); }
    for (const fn of connHandlers) fn(up);
  }

  // Open follow-ups: asked of the server (they live in the database), again whenever a
  // question changes (a few at a time, not once per message).
  let followupTimer = null;
  async function refreshFollowupBadge() {
    const badge = document.getElementById("followup-count");
    if (!badge) return;
    const r = await api("GET", "/api/hitl/open-count");
    if (!r.ok) return;
    badge.textContent = String(r.data.open);
    badge.hidden = r.data.open === 0;
  }
  function followupBadgeSoon() {
    if (followupTimer) return;
    followupTimer = setTimeout(() => { followupTimer = null; refreshFollowupBadge(); }, 300);
  }

  // Desktop notifications for new questions, opt-in per browser (the page's
  // "Notify me" switch asks the browser's permission), with a short chime.
  const NOTIFY_KEY = "cc-notify";
  function notifyWanted() {
    return localStorage.getItem(NOTIFY_KEY) === "1" && "Notification" in window && Notification.permission === "granted";
  }
  async function setNotify(on) {
    if (!on) { localStorage.removeItem(NOTIFY_KEY); return false; }
    if (!("Notification" in window)) return false;
    const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    if (permission !== "granted") return false;
    localStorage.setItem(NOTIFY_KEY, "1");
    return true;
  }
  function chime() {
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
      osc.connect(gain).connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.4);
    } catch (_) { /* no audio: the notification alone */ }
  }
  function notifyQuestion(row) {
    if (!notifyWanted()) return;
    try {
      const n = new Notification("Question from the bot", { body: row.question || "", tag: "hitl-" + row.id });
      n.onclick = () => { window.focus(); location.href = "/hitl"; };
      chime();
    } catch (err) { console.error("notification failed", err); }
  }

  function updateHitlBadge() {
    const badge = document.getElementById("hitl-count");
    if (!badge) return;
    badge.textContent = String(waitingHitl.size);
    badge.hidden = waitingHitl.size === 0;
  }

  function topics() {
    const extra = (document.body.dataset.topics || "").split(",").map((t) => t.trim()).filter(Boolean);
    return [...new Set(["hitl", "operators", ...extra])].join(",");
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${proto}//${location.host}/ws/live?topics=${encodeURIComponent(topics())}`);
    socket.onopen = () => { backoff = 500; setConn(true); };
    socket.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      if (frame.type === "snapshot") {
        waitingHitl.clear();
        for (const row of frame.hitl || []) waitingHitl.add(row.id);
        updateHitlBadge();
        refreshFollowupBadge();
        for (const fn of snapshotHandlers) fn(frame);
      } else if (frame.type === "batch") {
        for (const m of frame.messages) {
          if (m.topic === "hitl") {
            if (m.data.status === "waiting" && !waitingHitl.has(m.data.id)) notifyQuestion(m.data);
            if (m.data.status === "waiting") waitingHitl.add(m.data.id); else waitingHitl.delete(m.data.id);
            updateHitlBadge();
            if (m.data.status !== "waiting") followupBadgeSoon();
          }
          if (m.topic === "operators" && m.data.id === document.body.dataset.userId) showStatus(m.data.status);
          dispatch(m.topic, m.data);
        }
      } else if (frame.type === "resync") {
        socket.close();
      }
    };
    socket.onclose = () => {
      setConn(false);
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  function showStatus(status) {
    const select = document.getElementById("status-select");
    const dot = document.getElementById("status-dot");
    if (select && select.value !== status) select.value = status;
    if (dot) dot.className = "status-dot " + status;
  }

  function wireStatus() {
    const select = document.getElementById("status-select");
    if (!select) return;
    select.addEventListener("change", async () => {
      const result = await api("PUT", "/api/me/status", { status: select.value });
      if (result.ok) { showStatus(result.data.status); toast("You are " + result.data.status); }
      else toast("Could not change status: " + detail(result), "bad");
    });
  }

  function localTimes() {
    for (const node of document.querySelectorAll("time.local-time")) {
      node.textContent = fmtTime(node.getAttribute("datetime"));
    }
  }

  function start() {
    if (started) return;
    started = true;
    wireStatus();
    localTimes();
    if (document.body.dataset.user) connect();
  }

  return { api, detail, el, clear, fmtTime, fmtDuration, secondsSince, toast, pageData, on, onSnapshot, onConnection, start, csrf, notifyWanted, setNotify };
})();

document.addEventListener("DOMContentLoaded", () => CC.start());
