// A call's recording: waveform (caller above, the other side below), player, and the
// per-channel transcript with times; clicking a line or the waveform plays from there.
"use strict";
(() => {
  const { el, clear, api, detail } = CC;
  const callId = CC.pageData().call_id;
  const status = document.getElementById("recording-status");
  const canvas = document.getElementById("waveform");
  const audio = document.getElementById("recording-audio");
  const list = document.getElementById("recording-segments");
  let info = null;

  function fmt(s) {
    const m = Math.floor(s / 60);
    return `${String(m).padStart(2, "0")}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
  }

  function draw() {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, mid = h / 2;
    ctx.clearRect(0, 0, w, h);
    const peaks = (info && info.peaks) || [];
    const colours = ["#2f6fde", "#1b9e77"];
    peaks.forEach((channel, i) => {
      if (!channel.length) return;
      ctx.fillStyle = colours[i % 2];
      const step = w / channel.length;
      channel.forEach((v, x) => {
        const bar = Math.max(1, v * (mid - 2));
        if (i === 0) ctx.fillRect(x * step, mid - bar, Math.max(1, step - 0.5), bar);
        else ctx.fillRect(x * step, mid, Math.max(1, step - 0.5), bar);
      });
    });
    ctx.fillStyle = "#c8ccd4";
    ctx.fillRect(0, mid, w, 1);
    const duration = info && info.duration_s;
    if (duration && audio.currentTime) {
      ctx.fillStyle = "#d33";
      ctx.fillRect((audio.currentTime / duration) * w, 0, 2, h);
    }
  }

  function playFrom(seconds) {
    audio.currentTime = seconds;
    audio.play().catch(() => {});
  }

  function render() {
    const parts = [`${info.status}`];
    if (info.duration_s) parts.push(fmt(info.duration_s));
    if (info.encrypted) parts.push("encrypted at rest");
    if (info.keep) parts.push("kept (on hold)");
    const job = info.transcription;
    if (job) parts.push(`transcript ${job.status}${job.status === "running" ? ` ${Math.round(job.progress * 100)} %` : ""}`);
    if (info.error) parts.push(info.error);
    status.textContent = parts.join(" · ");
    draw();
    clear(list);
    if (!info.segments.length) {
      list.append(el("p", { class: "muted small" }, job && job.status !== "done" ? "The transcript is being made." : "No speech transcribed."));
    }
    for (const seg of info.segments) {
      const line = el("div", { class: `turn ${seg.channel === "caller" ? "caller" : seg.speaker}`, dataset: { start: seg.start_s } },
        el("button", { type: "button", class: "link mono small", title: "play from here" }, fmt(seg.start_s)),
        el("span", { class: "who" }, seg.speaker), seg.text);
      line.querySelector("button").addEventListener("click", () => playFrom(seg.start_s));
      list.append(line);
    }
  }

  async function load() {
    const r = await api("GET", `/api/calls/${encodeURIComponent(callId)}/recording`);
    if (!r.ok) { status.textContent = detail(r); return; }
    info = r.data;
    render();
    const job = info.transcription;
    if (info.status === "recording" || (job && (job.status === "queued" || job.status === "running"))) {
      setTimeout(load, 3000);
    }
  }

  canvas.addEventListener("click", (event) => {
    if (!info || !info.duration_s) return;
    const box = canvas.getBoundingClientRect();
    playFrom(((event.clientX - box.left) / box.width) * info.duration_s);
  });
  audio.addEventListener("timeupdate", draw);
  load();
})();
