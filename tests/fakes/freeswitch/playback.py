"""What ``playback`` can play, and the record of what the caller actually heard."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .media import CAPTURE_RATE, read_wav, resample, tone, wav_bytes

_RAW_RATES = {
    ".r8": 8000,
    ".r16": 16000,
    ".r24": 24000,
    ".r32": 32000,
    ".r48": 48000,
    ".r64": 64000,
}
_READ_AHEAD_SAMPLES = 32768  # FILE_BUFSIZE / 2: FreeSWITCH reports read-ahead in playback_ms
_ENDLESS_SECONDS = 120


class PlaybackError(Exception):
    """The file cannot be played; ``response`` is the current_application_response FS sets."""

    def __init__(self, response: str) -> None:
        super().__init__(response)
        self.response = response


@dataclass(frozen=True, eq=False)
class Playable:
    """Decoded audio for one playback, at CAPTURE_RATE; ``samples`` None means endless silence."""

    path: str
    samples: np.ndarray | None
    native_rate: int
    file_type: str | None = None  # "tone_stream" for Playback-File-Type

    @property
    def total(self) -> int | None:
        return None if self.samples is None else len(self.samples)

    def slice(self, start: int, stop: int) -> np.ndarray:
        if self.samples is None:
            return np.zeros(max(0, stop - start), dtype=np.int16)
        return self.samples[start:stop]


def _strip_vars(arg: str) -> tuple[str, dict[str, str]]:
    variables: dict[str, str] = {}
    if arg.startswith("{") and "}" in arg:
        inner, _, rest = arg[1:].partition("}")
        for item in inner.split(","):
            key, _, value = item.partition("=")
            if key:
                variables[key.strip()] = value
        arg = rest
    return arg, variables


def _tone_stream(spec: str) -> np.ndarray:
    """``tone_stream://%(on,off,f1[,f2...]);...`` (one repetition; loops handled by caller)."""
    out: list[np.ndarray] = []
    for part in spec.split(";"):
        part = part.strip()
        if not part or part.startswith("L="):
            continue
        match = re.fullmatch(r"%\((\d+),(\d+),([\d.,+]+)\)", part)
        if not match:
            continue
        on, off = int(match.group(1)), int(match.group(2))
        freqs = [float(f) for f in re.split(r"[,+]", match.group(3)) if f]
        out.append(tone(freqs, on, CAPTURE_RATE))
        out.append(np.zeros(int(CAPTURE_RATE * off / 1000), dtype=np.int16))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def load_playable(arg: str) -> Playable:
    """Resolve what the ``playback`` application was given. Raises PlaybackError."""
    path, variables = _strip_vars(arg.strip())
    loops = int(variables.get("loops", "1") or "1")
    if path.startswith("silence_stream://"):
        ms = int(path[len("silence_stream://") :].split(",")[0] or "0")
        if ms < 0 or loops < 0:
            return Playable(path, None, 8000)
        return Playable(path, np.zeros(int(CAPTURE_RATE * ms / 1000) * loops, dtype=np.int16), 8000)
    if path.startswith("tone_stream://"):
        spec = path[len("tone_stream://") :]
        inline = re.search(r"loops=(-?\d+)", spec)
        if inline:
            loops = int(inline.group(1))
        one = _tone_stream(spec)
        if loops < 0:
            loops = _ENDLESS_SECONDS * CAPTURE_RATE // max(1, len(one))  # "forever" is 2 minutes
        return Playable(path, np.tile(one, max(1, loops)), 8000, "tone_stream")
    file = Path(path)
    if not file.is_file():
        raise PlaybackError("FILE NOT FOUND")
    suffix = file.suffix.lower()
    try:
        if suffix == ".wav":
            samples, rate = read_wav(file)
        elif suffix in _RAW_RATES:
            rate = _RAW_RATES[suffix]
            raw = file.read_bytes()
            samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
        else:
            raise PlaybackError("PLAYBACK ERROR")
    except ValueError as exc:
        raise PlaybackError("PLAYBACK ERROR") from exc
    data = resample(samples, rate, CAPTURE_RATE)
    if loops > 1:
        data = np.tile(data, loops)
    return Playable(path, data, rate)


def reported_samples(played: int, total: int | None, native_rate: int) -> int:
    """``playback_samples`` as FreeSWITCH reports it: file read-ahead included (native rate)."""
    played_native = played * native_rate // CAPTURE_RATE
    total_native = None if total is None else total * native_rate // CAPTURE_RATE
    blocks = -(-max(played_native, 1) // _READ_AHEAD_SAMPLES)
    value = blocks * _READ_AHEAD_SAMPLES
    return value if total_native is None else min(total_native, value)


@dataclass(frozen=True, eq=False)
class PlaybackRecord:
    """One playback as the caller experienced it."""

    path: str
    started_at: float  # time.time() when PLAYBACK_START fired
    stopped_at: float  # time.time() when it stopped
    total_samples: int | None  # at sample_rate; None for endless streams
    played_samples: int
    status: str  # "done" | "break" | "hangup" | "error"
    pcm: bytes  # exactly what was played, L16LE mono at sample_rate
    sample_rate: int = CAPTURE_RATE

    @property
    def interrupted(self) -> bool:
        return self.status != "done"

    @property
    def played_seconds(self) -> float:
        return self.played_samples / self.sample_rate


@dataclass(eq=False)
class StreamRun:
    """Streamed audio (jambonz mod_audio_fork) that reached the caller without a gap.

    One run is consecutive write ticks that each added streamed samples; ``ticks`` are the
    emulator's own 20 ms write-tick numbers (counted from the fork's connect), so a test can
    measure in ticks instead of wall-clock time.
    """

    bugname: str
    started_at: float  # time.time() of the first tick (the first packet the caller got)
    loop_started_at: float  # the same on the event-loop clock
    first_tick: int
    codec_rate: int  # rate of ``frames`` (the channel's codec rate)
    frames: list[np.ndarray] = field(default_factory=list)
    ticks: list[int] = field(default_factory=list)

    @property
    def samples_native(self) -> np.ndarray:
        return np.concatenate(self.frames) if self.frames else np.zeros(0, dtype=np.int16)

    @property
    def pcm(self) -> bytes:
        """The run as L16LE mono at CAPTURE_RATE (like PlaybackRecord.pcm)."""
        return resample(self.samples_native, self.codec_rate, CAPTURE_RATE).astype("<i2").tobytes()

    @property
    def played_seconds(self) -> float:
        return sum(len(f) for f in self.frames) / self.codec_rate

    @property
    def last_tick(self) -> int:
        return self.ticks[-1] if self.ticks else self.first_tick


@dataclass
class CallAudio:
    """Everything played to one channel's caller, in order.

    ``playbacks`` are the playback application's files; ``streams`` the audio a jambonz
    fork streamed back (added to whatever was written at the same time).
    """

    sample_rate: int = CAPTURE_RATE
    playbacks: list[PlaybackRecord] = field(default_factory=list)
    streams: list[StreamRun] = field(default_factory=list)

    def first_stream_audio_at(self, threshold: int = 1000) -> float | None:
        """time.time() of the first streamed frame with any |sample| > threshold (None: none)."""
        tick = self.first_stream_audio_tick(threshold)
        return None if tick is None else tick[1]

    def first_stream_audio_tick(self, threshold: int = 1000) -> tuple[int, float] | None:
        """(write tick, time.time()) of the first streamed frame louder than ``threshold``."""
        for run in self.streams:
            for i, frame in enumerate(run.frames):
                if len(frame) and int(np.abs(frame.astype(np.int32)).max()) > threshold:
                    period = len(frame) / run.codec_rate
                    return run.ticks[i], run.started_at + (run.ticks[i] - run.first_tick) * period
        return None

    @property
    def pcm(self) -> bytes:
        """The played audio back to back (no gaps), L16LE mono at ``sample_rate``."""
        return b"".join(p.pcm for p in self.playbacks)

    @property
    def samples(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2").astype(np.int16)

    @property
    def played_seconds(self) -> float:
        return sum(p.played_seconds for p in self.playbacks)

    def wav(self) -> bytes:
        return wav_bytes(self.samples, self.sample_rate)

    def timeline(self) -> np.ndarray:
        """Played audio on the wall clock from the first start, silence in between.

        Playbacks and streamed runs are added (the module adds streamed audio to what is
        written).
        """
        pieces: list[tuple[float, bytes]] = [(p.started_at, p.pcm) for p in self.playbacks]
        pieces += [(r.started_at, r.pcm) for r in self.streams]
        if not pieces:
            return np.zeros(0, dtype=np.int16)
        origin = min(t for t, _ in pieces)
        end = max(t + len(pcm) / 2 / self.sample_rate for t, pcm in pieces)
        out = np.zeros(int(round((end - origin) * self.sample_rate)) + 1, dtype=np.int32)
        for started, pcm in pieces:
            data = np.frombuffer(pcm, dtype="<i2")
            at = int(round((started - origin) * self.sample_rate))
            out[at : at + len(data)] += data[: max(0, len(out) - at)]
        return np.clip(out, -32768, 32767).astype(np.int16)
