"""Taking a message: the tone before it, and the caller's audio while it is recorded.

The machine says when (``START_RECORDING`` once the prompt and the tone have played,
``STOP_RECORDING`` after ``voicemail_silence_s`` of silence once the caller spoke, at
``voicemail_max_s``, or when they hang up); this keeps the samples, bounded.
"""

from __future__ import annotations

import numpy as np

from callcontrol.media.codecs import Int16Array

TONE_HZ = 1000.0
TONE_S = 0.5
GAP_S = 0.25


def tone(sample_rate: int) -> bytes:
    """A short gap, then the beep a caller expects before speaking (int16 PCM bytes)."""
    t = np.arange(int(TONE_S * sample_rate)) / sample_rate
    ramp = np.minimum(1.0, np.minimum(t, TONE_S - t) / 0.01)  # 10 ms edges: no click
    beep = 0.3 * np.sin(2 * np.pi * TONE_HZ * t) * ramp
    gap = np.zeros(int(GAP_S * sample_rate))
    return (np.concatenate([gap, beep]) * 32767).astype("<i2").tobytes()


class MessageRecorder:
    """The caller's audio between :meth:`start` and :meth:`stop`, at most ``max_s``."""

    def __init__(self) -> None:
        self._chunks: list[Int16Array] = []
        self._rate: int | None = None
        self._limit = 0
        self._kept = 0
        self.active = False

    def start(self, max_s: float) -> None:
        self._chunks, self._rate, self._kept = [], None, 0
        self._max_s = max_s
        self.active = True

    def feed(self, samples: Int16Array, sample_rate: int) -> None:
        if not self.active:
            return
        if self._rate is None:
            self._rate = sample_rate
            self._limit = int((self._max_s + 1.0) * sample_rate)
        if sample_rate != self._rate or self._kept >= self._limit:
            return  # one rate per call; past the limit the machine is about to stop it
        chunk = np.asarray(samples, dtype=np.int16)[: self._limit - self._kept]
        self._chunks.append(chunk.copy())
        self._kept += len(chunk)

    def stop(self) -> tuple[Int16Array, int]:
        """The message and its sample rate (empty if the caller sent nothing)."""
        self.active = False
        rate = self._rate or 8000
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self._chunks = []
        return audio.astype(np.int16, copy=False), rate
