"""Replay a recorded jambonz streaming scenario through the emulator's ``StreamBuffer``.

The recordings (tests/data/recordings/jambonz-mod-audio-fork) hold every server→FreeSWITCH
frame with its send time (binary frames by length only), the mark replies FreeSWITCH sent,
and the runs of audible RTP packets the caller got. The replay feeds the same messages at
the same times into the model, runs a 20 ms write tick on the recorded packet phase, and
returns what the caller would have heard and the mark replies, on the recording's clock.
Binary content is rebuilt as a tone (amplitude 8000, the phase's frequency; -1 samples
avoided as the rig's tones were) or zeros for the rig's zero pads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.fakes.freeswitch.stream import StreamBuffer

ROOT = Path(__file__).resolve().parents[1] / "data" / "recordings" / "jambonz-mod-audio-fork"
TICK_MS = 20.0
AUDIBLE = 1000
CAPTURE_LAG_MS = 0.5  # the recording's rule: a packet is audio if any |sample| > 1000


def frames(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ROOT / f"{name}.frames.jsonl").read_text().splitlines()]


def rtp_runs(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / f"{name}.rtp-runs.json").read_text())
    return data


def api_rows(name: str) -> list[dict[str, Any]]:
    path = ROOT / f"{name}.api.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class Replay:
    audible_ticks: list[float] = field(default_factory=list)  # t_ms of audible packets
    marks: list[tuple[float, str]] = field(default_factory=list)  # (t_ms, text frame)

    def runs_between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        """(first_ms, last_ms, packets) of consecutive audible ticks inside [start, end)."""
        out: list[tuple[float, float, int]] = []
        for t in (t for t in self.audible_ticks if start <= t < end):
            if out and t - out[-1][1] <= TICK_MS + 0.5:
                first, _, n = out[-1]
                out[-1] = (first, t, n + 1)
            else:
                out.append((t, t, 1))
        return out


def _tone(n: int, freq: float, rate: int, start: int) -> bytes:
    t = (np.arange(n) + start) / rate
    samples = np.round(8000 * np.sin(2 * math.pi * freq * t)).astype(np.int16)
    samples[samples == -1] = 0
    return samples.astype("<i2").tobytes()


def replay(
    name: str,
    stream_rate: int,
    *,
    bug: str = "audio_fork",
    codec_rate: int = 8000,
    runs_of: str | None = None,
) -> Replay:
    """Feed the scenario's server messages into a StreamBuffer and tick it every 20 ms.

    ``name`` is the frames file (a ws path tag such as ``extras-m1``); ``runs_of`` the
    scenario whose rtp-runs/api files go with it (default: the same name).
    """
    scenario = runs_of or name
    runs = rtp_runs(scenario)
    phases = runs["phases"]
    sends: list[tuple[float, str, Any]] = []
    freq = 440.0
    offset = 0
    for row in frames(name):
        if row["dir"] != "send":
            continue
        current = [p for p in phases if p["t_ms"] <= row["t_ms"]]
        if current:
            freq = float(current[-1].get("freq") or 660)
        if row["opcode"] == "binary":
            note = row.get("note") or ""
            n = row["len"] // 2
            if "pad" in note or "zero" in note:
                data = bytes(row["len"])
            else:
                data = _tone(n, freq, stream_rate, offset)[: row["len"]]
                offset += n
                if "-1 samples every 50ms" in note:  # extras-m1: a -1 every 400 samples
                    samples = np.frombuffer(data, dtype="<i2").copy()
                    samples[stream_rate // 20 :: stream_rate // 20] = -1
                    data = samples.astype("<i2").tobytes()
            sends.append((row["t_ms"], "binary", data))
        elif row["opcode"] == "text":
            sends.append((row["t_ms"], "text", json.loads(row["text"])))
    for row in api_rows(scenario) if (ROOT / f"{scenario}.api.jsonl").exists() else []:
        words = row["cmd"].split()
        if words[0] == "uuid_audio_fork" and row["reply"].startswith("+OK"):
            if words[2] == "stop_play":
                sends.append((row["t_ms"], "stop_play", None))
            elif words[2] == "stop" and (words[3] if len(words) > 3 else "audio_fork") == bug:
                sends.append((row["t_ms"], "stop", None))
    sends.sort(key=lambda s: s[0])
    buf = StreamBuffer(stream_rate, codec_rate)
    out = Replay()
    i = 0
    n = codec_rate * 20 // 1000
    for t in tick_times(phases, sends[0][0], max(s[0] for s in sends) + 30_000):
        while i < len(sends) and sends[i][0] < t:
            _, kind, payload = sends[i]
            i += 1
            if kind == "stop":
                return out  # the bug is removed: buffered audio stops at once
            if kind == "binary" and payload:
                buf.feed(payload)
            elif kind == "stop_play":
                buf.stop_play()
            elif kind == "text":
                msg_type = payload.get("type")
                if msg_type == "killAudio":
                    buf.kill()
                elif msg_type == "mark":
                    buf.mark(payload["data"]["name"])
                elif msg_type == "clearMarks":
                    buf.clear_marks()
        tick = buf.tick(n)
        out.marks += [(t, text) for text in tick.marks]
        if tick.samples is not None and int(np.abs(tick.samples.astype(np.int32)).max()) > AUDIBLE:
            out.audible_ticks.append(t)
    return out


def tick_times(phases: list[dict[str, Any]], start: float, end: float) -> list[float]:
    """The write ticks on the recording's clock.

    The RTP timer drifts against the rig's clock by about a millisecond over a scenario, so
    each phase takes its grid from its own first captured packet, less ``CAPTURE_LAG_MS``
    (a packet leaves a fraction of a millisecond after its write tick; 0.4-1.0 ms bracket
    it in stream-16k ``kill`` and stream-8k ``kill_then_new``).
    """
    anchor = next(r["first_ms"] for p in phases for r in p["audio_runs_to_caller"])
    out: list[float] = []
    bounds = [p["t_ms"] for p in phases] + [end]
    t = start
    for k, phase in enumerate(phases):
        if phase["audio_runs_to_caller"]:
            anchor = phase["audio_runs_to_caller"][0]["first_ms"]
        grid = (anchor - CAPTURE_LAG_MS) % TICK_MS
        lo, hi = (start if k == 0 else bounds[k]), bounds[k + 1]
        t = lo + (grid - lo) % TICK_MS
        if out and t - out[-1] < TICK_MS / 2:
            t += TICK_MS
        while t < hi:
            out.append(t)
            t += TICK_MS
    return out
