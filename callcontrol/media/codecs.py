"""Sample formats: G.711 μ-law / A-law (table based), int16 ↔ float32, WAV files.

G.711 follows the reference algorithm (Sun Microsystems' public-domain ``g711.c``, which
sox, FreeSWITCH and Python's old ``audioop`` share). Encoding is one lookup in a 64 Ki
table indexed by the int16 sample, decoding one lookup in a 256-entry table; the tables
are built on first use.

WAV: 16-bit PCM through the stdlib :mod:`wave`; μ-law and A-law WAV files (format tags
7 and 6, what ``sox -e mu-law`` writes) through a minimal RIFF reader, since
:mod:`wave` only reads PCM.
"""

from __future__ import annotations

import functools
import io
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from callcontrol.errors import MediaError

Int16Array: TypeAlias = npt.NDArray[np.int16]
UInt8Array: TypeAlias = npt.NDArray[np.uint8]
Float32Array: TypeAlias = npt.NDArray[np.float32]

_ULAW_BIAS: Final = 0x84
_WAVE_FORMAT_PCM: Final = 1
_WAVE_FORMAT_ALAW: Final = 6
_WAVE_FORMAT_MULAW: Final = 7
_WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE


def _all_int16() -> npt.NDArray[np.int32]:
    return np.arange(-32768, 32768, dtype=np.int32)


def _segment(values: npt.NDArray[np.int32], ends: list[int]) -> npt.NDArray[np.int32]:
    """Index of the first segment end >= value (8 when above the last one)."""
    return np.searchsorted(np.asarray(ends), values, side="left").astype(np.int32)


@functools.cache
def _ulaw_encode_table() -> UInt8Array:
    pcm = _all_int16() >> 2  # μ-law works on 14 bits
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + (_ULAW_BIAS >> 2)
    seg = _segment(mag, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    uval = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return ((uval ^ mask) & 0xFF).astype(np.uint8)


@functools.cache
def _ulaw_decode_table() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


@functools.cache
def _alaw_encode_table() -> UInt8Array:
    pcm = _all_int16() >> 3  # A-law works on 13 bits
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, aval)
    return ((aval ^ mask) & 0xFF).astype(np.uint8)


@functools.cache
def _alaw_decode_table() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _as_int16(samples: npt.ArrayLike) -> Int16Array:
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        raise MediaError(f"expected int16 samples, got {arr.dtype}")
    return arr


def _as_bytes(data: bytes | UInt8Array) -> UInt8Array:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8)


def ulaw_encode(samples: Int16Array) -> bytes:
    """int16 PCM → G.711 μ-law bytes."""
    pcm = _as_int16(samples)
    return _ulaw_encode_table()[pcm.astype(np.int32) + 32768].tobytes()


def ulaw_decode(data: bytes | UInt8Array) -> Int16Array:
    """G.711 μ-law bytes → int16 PCM."""
    return _ulaw_decode_table()[_as_bytes(data)]


def alaw_encode(samples: Int16Array) -> bytes:
    """int16 PCM → G.711 A-law bytes."""
    pcm = _as_int16(samples)
    return _alaw_encode_table()[pcm.astype(np.int32) + 32768].tobytes()


def alaw_decode(data: bytes | UInt8Array) -> Int16Array:
    """G.711 A-law bytes → int16 PCM."""
    return _alaw_decode_table()[_as_bytes(data)]


def int16_to_float32(samples: Int16Array) -> Float32Array:
    """[-32768, 32767] → [-1.0, 1.0) (what Whisper and Silero take)."""
    return _as_int16(samples).astype(np.float32) * np.float32(1.0 / 32768.0)


def float32_to_int16(samples: npt.NDArray[np.floating]) -> Int16Array:
    """[-1.0, 1.0] → int16, rounded and clipped."""
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * np.float32(32768.0))
    out: Int16Array = np.clip(scaled, -32768, 32767).astype(np.int16)
    return out


def pcm_bytes(samples: Int16Array) -> bytes:
    """int16 samples as L16 little-endian bytes."""
    return _as_int16(samples).astype("<i2", copy=False).tobytes()


def pcm_from_bytes(data: bytes) -> Int16Array:
    if len(data) % 2:
        raise MediaError(f"L16 data of odd length {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


# ---------------------------------------------------------------------------------------
# WAV


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded audio: int16 samples shaped ``(frames,)`` mono or ``(frames, channels)``."""

    samples: Int16Array
    sample_rate: int

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def mono(self) -> Int16Array:
        """Channel 0 (left = caller in mod_audio_fork's stereo)."""
        return self.samples if self.samples.ndim == 1 else self.samples[:, 0].copy()


def _shape(samples: Int16Array, channels: int) -> Int16Array:
    return samples if channels == 1 else samples.reshape(-1, channels)


def _read_g711_wav(raw: bytes) -> Audio:
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise MediaError("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(raw):
        chunk_id, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", body, 0)
            bits = struct.unpack_from("<H", body, 14)[0]
            if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise MediaError("WAV data chunk before its fmt chunk")
            tag, channels, rate, bits = fmt
            if tag == _WAVE_FORMAT_MULAW and bits == 8:
                return Audio(_shape(ulaw_decode(body), channels), rate)
            if tag == _WAVE_FORMAT_ALAW and bits == 8:
                return Audio(_shape(alaw_decode(body), channels), rate)
            raise MediaError(f"unsupported WAV format tag {tag} with {bits} bits")
        pos += 8 + size + (size & 1)
    raise MediaError("WAV file without a data chunk")


def read_wav(source: str | Path | bytes) -> Audio:
    """Read 16-bit PCM, 8-bit PCM, μ-law or A-law WAV (a path or the file's bytes)."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        with wave.open(io.BytesIO(raw), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except wave.Error as exc:
        if "unknown format" in str(exc):
            return _read_g711_wav(raw)
        raise MediaError(f"not a readable WAV file: {exc}") from exc
    except EOFError as exc:
        raise MediaError("truncated WAV file") from exc
    if width == 2:
        samples = np.frombuffer(frames, dtype="<i2").astype(np.int16)
    elif width == 1:
        samples = ((np.frombuffer(frames, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(
            np.int16
        )
    else:
        raise MediaError(f"unsupported WAV sample width {8 * width} bits")
    return Audio(_shape(samples, channels), rate)


def wav_bytes(samples: Int16Array, sample_rate: int) -> bytes:
    """A 16-bit PCM WAV file in memory (mono, or ``(frames, channels)``)."""
    pcm = _as_int16(samples)
    channels = 1 if pcm.ndim == 1 else int(pcm.shape[1])
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.astype("<i2", copy=False).tobytes())
    return buf.getvalue()


def write_wav(path: str | Path, samples: Int16Array, sample_rate: int) -> None:
    Path(path).write_bytes(wav_bytes(samples, sample_rate))
