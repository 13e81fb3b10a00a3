// AudioWorklet: microphone samples -> 16 kHz L16 little-endian frames (20 ms) for the bot.
"use strict";

class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.target = opts.targetRate || 16000;
    this.frame = opts.frameSamples || 320;
    this.ratio = sampleRate / this.target; // sampleRate: the context's, a global here
    this.pos = 0;
    this.out = new Int16Array(this.frame);
    this.fill = 0;
    this.peak = 0;
    this.blocks = 0;
  }

  push(value) {
    const s = Math.max(-1, Math.min(1, value));
    this.out[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    this.peak = Math.max(this.peak, Math.abs(s));
    if (this.fill === this.frame) {
      const buf = this.out.buffer.slice(0);
      this.port.postMessage(buf, [buf]);
      this.fill = 0;
    }
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (input) {
      if (this.ratio === 1) {
        for (let i = 0; i < input.length; i++) this.push(input[i]);
      } else {
        // linear interpolation from the context rate down (or up) to the target rate
        while (this.pos < input.length - 1) {
          const i = Math.floor(this.pos);
          const f = this.pos - i;
          this.push(input[i] * (1 - f) + input[i + 1] * f);
          this.pos += this.ratio;
        }
        this.pos -= input.length;
      }
    }
    if (++this.blocks % 8 === 0) { this.port.postMessage({ level: this.peak }); this.peak = 0; }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
