"""Read the telephone-quality test clips (8 kHz μ-law WAV) as 16 kHz float32."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soxr

AUDIO = Path(__file__).parents[2] / "data" / "audio"


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = (u & 0x0F).astype(np.int32)
    magnitude = ((mantissa << 3) + 0x84) << exponent
    return np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


ULAW = _ulaw_table()


def ulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """G.711 μ-law bytes of int16 samples (to put TTS output through a phone line)."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """int16 samples and rate of a mono PCM or μ-law WAV."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", path
    pos, fmt, body = 12, None, b""
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        if chunk == b"data":
            break
        pos += 8 + size + (size & 1)
    assert fmt is not None, path
    tag, channels, rate = fmt[0], fmt[1], fmt[2]
    assert channels == 1, path
    if tag == 7:
        return ULAW[np.frombuffer(body, dtype=np.uint8)], rate
    assert tag == 1 and fmt[5] == 16, path
    return np.frombuffer(body, dtype=np.int16), rate


def to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    audio = pcm.astype(np.float32) / 32768.0
    if rate != 16000:
        audio = soxr.resample(audio, rate, 16000)
    return np.ascontiguousarray(audio, dtype=np.float32)


def load_clip(name: str) -> np.ndarray:
    """``tests/data/audio/pipeline_<name>.wav`` as 16 kHz float32 (like the media layer)."""
    pcm, rate = read_wav(AUDIO / f"pipeline_{name}.wav")
    return to_16k(pcm, rate)


def phone_line(pcm16: bytes, rate: int = 8000) -> np.ndarray:
    """TTS output at 8 kHz through μ-law and back, then to 16 kHz float32."""
    samples = np.frombuffer(pcm16, dtype=np.int16)
    return to_16k(ULAW[ulaw_encode(samples)], rate)
