"""Audio helpers: WAV/G.711 decoding, simple resampling, tones, and clock-placed timelines.

Everything is 16-bit signed mono PCM held in numpy arrays. No I/O beyond reading files.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CAPTURE_RATE = 16000  # rate of everything the emulator records ("what the caller heard")


def _mulaw_table() -> np.ndarray:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_MULAW = _mulaw_table()
_ALAW = _alaw_table()


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 μ-law bytes → int16 samples."""
    return _MULAW[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> np.ndarray:
    """G.711 A-law bytes → int16 samples."""
    return _ALAW[np.frombuffer(data, dtype=np.uint8)]


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Linear-interpolation resampling (good enough for speech-to-text in tests)."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples.astype(np.int16, copy=False)
    n_out = int(round(len(samples) * dst_rate / src_rate))
    positions = np.arange(n_out, dtype=np.float64) * (src_rate / dst_rate)
    out = np.interp(
        positions, np.arange(len(samples), dtype=np.float64), samples.astype(np.float64)
    )
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def tone(freqs: list[float], ms: int, rate: int, amplitude: float = 0.3) -> np.ndarray:
    n = int(rate * ms / 1000)
    if not freqs:
        return np.zeros(n, dtype=np.int16)
    t = np.arange(n, dtype=np.float64) / rate
    wave = sum(np.sin(2 * math.pi * f * t) for f in freqs) / len(freqs)
    return np.round(np.asarray(wave) * amplitude * 32767).astype(np.int16)


def read_wav(source: bytes | str | Path) -> tuple[np.ndarray, int]:
    """Decode a RIFF/WAVE file (PCM 8/16/24/32, float, G.711 μ-law/A-law) to mono int16."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    payload: bytes | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", body, 0)
            bits = struct.unpack_from("<H", body, 14)[0]
            if tag == 0xFFFE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise ValueError("WAVE file without fmt or data chunk")
    tag, channels, rate, bits = fmt
    if tag == 7:
        samples = mulaw_decode(payload)
    elif tag == 6:
        samples = alaw_decode(payload)
    elif tag == 1 and bits == 16:
        samples = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)
    elif tag == 1 and bits == 8:
        samples = ((np.frombuffer(payload, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(
            np.int16
        )
    elif tag == 1 and bits == 24:
        raw = np.frombuffer(payload[: len(payload) // 3 * 3], dtype=np.uint8).reshape(-1, 3)
        ints = (
            raw[:, 0].astype(np.int32)
            | (raw[:, 1].astype(np.int32) << 8)
            | (raw[:, 2].astype(np.int32) << 16)
        )
        ints = np.where(ints & 0x800000, ints - 0x1000000, ints)
        samples = (ints >> 8).astype(np.int16)
    elif tag == 1 and bits == 32:
        samples = (np.frombuffer(payload[: len(payload) // 4 * 4], dtype="<i4") >> 16).astype(
            np.int16
        )
    elif tag == 3 and bits == 32:
        floats = np.frombuffer(payload[: len(payload) // 4 * 4], dtype="<f4")
        samples = np.clip(np.round(floats * 32767), -32768, 32767).astype(np.int16)
    else:
        raise ValueError(f"unsupported WAVE format tag={tag} bits={bits}")
    if channels > 1:
        usable = len(samples) // channels * channels
        samples = samples[:usable].reshape(-1, channels).mean(axis=1).round().astype(np.int16)
    return samples, rate


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """A 16-bit PCM WAVE file: mono, or one channel per column of a 2-D array."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    pcm = samples.astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels, 2 * channels, 16
    )
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono int16 audio at a known rate (what a test hands the emulator as a caller's voice)."""

    samples: np.ndarray
    rate: int

    @classmethod
    def from_pcm(cls, pcm: bytes, rate: int) -> Audio:
        return cls(np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16), rate)

    @classmethod
    def from_wav(cls, source: bytes | str | Path) -> Audio:
        samples, rate = read_wav(source)
        return cls(samples, rate)

    @classmethod
    def silence(cls, seconds: float, rate: int = CAPTURE_RATE) -> Audio:
        return cls(np.zeros(int(seconds * rate), dtype=np.int16), rate)

    @classmethod
    def tone(cls, freq: float, seconds: float, rate: int = CAPTURE_RATE) -> Audio:
        return cls(tone([freq], int(seconds * 1000), rate), rate)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def at(self, rate: int) -> np.ndarray:
        return resample(self.samples, self.rate, rate)

    @property
    def pcm(self) -> bytes:
        return self.samples.astype("<i2").tobytes()


def as_audio(source: Audio | bytes | str | Path, rate: int | None = None) -> Audio:
    """Accept an Audio, a WAV path/bytes, or raw L16LE PCM bytes (then ``rate`` is required)."""
    if isinstance(source, Audio):
        return source
    if isinstance(source, bytes) and source[:4] != b"RIFF":
        if rate is None:
            raise ValueError("raw PCM needs a sample rate")
        return Audio.from_pcm(source, rate)
    return Audio.from_wav(source)


@dataclass(eq=False)
class Segment:
    """Audio placed on the event-loop clock; ``samples`` is at the timeline's rate.

    A ``silent`` segment holds a zero-stride view, so hours of silence cost no memory.
    """

    start: float
    samples: np.ndarray
    silent: bool = False
    _cache: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of_silence(cls, start: float, n: int) -> Segment:
        return cls(start, np.broadcast_to(np.int16(0), (n,)), silent=True)

    def at(self, own_rate: int, rate: int) -> np.ndarray:
        if rate == own_rate:
            return self.samples
        n = int(round(len(self.samples) * rate / own_rate))
        if self.silent:
            return np.broadcast_to(np.int16(0), (n,))
        cached = self._cache.get(rate)
        if cached is None or len(cached) != n:
            cached = resample(self.samples, own_rate, rate)
            self._cache[rate] = cached
        return cached

    def truncate(self, n: int) -> None:
        self.samples = self.samples[:n]
        self._cache.clear()


class Timeline:
    """Clock-placed audio (the caller's voice, or what is played to the caller)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.segments: list[Segment] = []

    def add(self, start: float, samples: np.ndarray) -> Segment:
        seg = Segment(start, samples.astype(np.int16, copy=False))
        self.segments.append(seg)
        return seg

    def add_segment(self, seg: Segment) -> Segment:
        self.segments.append(seg)
        return seg

    @property
    def end(self) -> float:
        return max((s.start + len(s.samples) / self.rate for s in self.segments), default=0.0)

    def read(self, origin: float, index: int, n: int, rate: int) -> np.ndarray | None:
        """Samples ``[index, index+n)`` at ``rate`` counted from clock time ``origin``.

        Returns None when no segment overlaps the window (nothing was "written").
        """
        out = np.zeros(n, dtype=np.int32)
        hit = False
        for seg in self.segments:
            data = seg.at(self.rate, rate)
            seg_index = int(round((seg.start - origin) * rate))
            lo = max(index, seg_index)
            hi = min(index + n, seg_index + len(data))
            if lo >= hi:
                continue
            hit = True
            out[lo - index : hi - index] += data[lo - seg_index : hi - seg_index]
        if not hit:
            return None
        return np.clip(out, -32768, 32767).astype(np.int16)
