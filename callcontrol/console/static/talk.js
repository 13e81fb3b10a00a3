// Talk to the bot: microphone -> /ws/talk (16 kHz L16 frames); bot audio and transcript back.
"use strict";
(() => {
  const { el } = CC;
  const RATE = 16000;
  const startBtn = document.getElementById("talk-start");
  const stopBtn = document.getElementById("talk-stop");
  const status = document.getElementById("talk-status");
  const meter = document.getElementById("talk-meter");
  const transcript = document.getElementById("talk-transcript");
  let ws = null, ctx = null, stream = null, node = null;
  let playHead = 0;
  let rate = RATE;
  const sources = new Set();
  window.ccTalk = { framesSent: 0, audioFrames: 0, events: [] }; // for tests and curiosity

  function say(text) { status.textContent = text; }

  function line(speaker, text, partial) {
    const last = transcript.lastElementChild;
    if (last && last.classList.contains("partial") && last.dataset.speaker === speaker) last.remove();
    const item = el("div", { class: `turn ${speaker}${partial ? " partial" : ""}`, dataset: { speaker } },
      el("span", { class: "who" }, speaker), text);
    transcript.append(item);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function play(buffer) {
    const pcm = new Int16Array(buffer);
    if (!pcm.length || !ctx) return;
    const audio = ctx.createBuffer(1, pcm.length, rate);
    const data = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 0x8000;
    const src = ctx.createBufferSource();
    src.buffer = audio;
    src.connect(ctx.destination);
    playHead = Math.max(playHead, ctx.currentTime + 0.02);
    src.start(playHead);
    playHead += audio.duration;
    sources.add(src);
    src.onended = () => sources.delete(src);
    window.ccTalk.audioFrames++;
  }

  function flush() {
    for (const src of sources) { try { src.stop(); } catch (_) { /* already stopped */ } }
    sources.clear();
    playHead = 0;
  }

  function onEvent(msg) {
    window.ccTalk.events.push(msg);
    switch (msg.type) {
      case "ready":
        rate = msg.sampleRate || RATE;
        say("Connected. Speak now.");
        break;
      case "clear":
        flush();
        break;
      case "transcript":
      case "turn":
      case "partial": {
        const speaker = msg.speaker || msg.role || "bot";
        const partial = msg.type === "partial" || msg.final === false;
        if (msg.text) line(speaker === "user" ? "caller" : speaker, msg.text, partial);
        break;
      }
      case "error":
        say("Error: " + msg.message);
        break;
      default:
        break;
    }
  }

  async function start() {
    startBtn.disabled = true;
    say("Asking for the microphone…");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    } catch (err) {
      say("No microphone: " + err.message);
      startBtn.disabled = false;
      return;
    }
    try {
      ctx = new AudioContext({ sampleRate: RATE });
    } catch (_) {
      ctx = new AudioContext(); // the worklet resamples
    }
    await ctx.audioWorklet.addModule("/static/talk-worklet.js");
    const source = ctx.createMediaStreamSource(stream);
    node = new AudioWorkletNode(ctx, "pcm-capture", { processorOptions: { targetRate: RATE, frameSamples: RATE / 50 } });
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(node);
    node.connect(mute).connect(ctx.destination); // keeps the worklet running, plays nothing

    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}/ws/talk`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      ws.send(JSON.stringify({ sampleRate: RATE, knowledgeOwner: document.getElementById("talk-owner").value.trim() || null }));
      say("Connecting to the bot…");
      stopBtn.disabled = false;
    };
    node.port.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) {
        if (ws && ws.readyState === WebSocket.OPEN) { ws.send(event.data); window.ccTalk.framesSent++; }
      } else if (event.data && typeof event.data.level === "number") {
        meter.style.width = `${Math.min(100, event.data.level * 140)}%`;
      }
    };
    ws.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) { play(event.data); return; }
      let msg;
      try { msg = JSON.parse(event.data); } catch (_) { return; }
      onEvent(msg);
    };
    ws.onclose = (event) => {
      if (status.textContent.indexOf("Error") !== 0) say(`Disconnected (${event.code}${event.reason ? ": " + event.reason : ""}).`);
      stop(false);
    };
  }

  function stop(hangup) {
    if (hangup && ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "hangup" }));
      ws.close(1000);
    }
    ws = null;
    if (node) { node.port.onmessage = null; node.disconnect(); node = null; }
    if (stream) { for (const t of stream.getTracks()) t.stop(); stream = null; }
    flush();
    if (ctx) { ctx.close(); ctx = null; }
    meter.style.width = "0%";
    startBtn.disabled = false;
    stopBtn.disabled = true;
  }

  startBtn.addEventListener("click", start);
  stopBtn.addEventListener("click", () => stop(true));
})();
