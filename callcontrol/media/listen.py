"""The listening half of a call, ready for a ForkConsumer to use.

:class:`CallAudioInput` takes the caller's frames as the websocket delivers them
(``feed`` is cheap: a resample for 8 kHz forks, a ring-buffer copy, a queue append),
runs the streaming VAD and the endpointer on the shared :class:`~callcontrol.media.vad.VadWorker`
thread, and calls ``on_event`` on the event loop with
:mod:`~callcontrol.media.endpoint` events. ``audio(start_ms, end_ms)`` then cuts the
utterance as 16 kHz float32 for Whisper; the times of the events and of the buffer are
the same stream clock (ms of caller audio received).

Typical consumer::

    def on_audio(self, samples, rate):        # ForkConsumer
        return self.input.feed(samples, rate)

    def on_endpoint(self, event):             # on_event
        if isinstance(event, SpeechPaused):   start STT on input.audio(event.start_ms, event.end_ms)
        if isinstance(event, BargeIn):        await output.clear()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

from callcontrol.media.codecs import Float32Array, Int16Array
from callcontrol.media.endpoint import EndpointConfig, EndpointEvent
from callcontrol.media.resample import StreamResampler, resample
from callcontrol.media.silero import SAMPLE_RATE
from callcontrol.media.vad import VadChannel, VadWorker

_SAMPLES_PER_MS: Final = SAMPLE_RATE // 1000


class CallAudioInput:
    """One call's caller audio: 16 kHz ring buffer + VAD/endpointing. Loop thread only."""

    def __init__(
        self,
        worker: VadWorker,
        on_event: Callable[[EndpointEvent], None],
        config: EndpointConfig | None = None,
        *,
        keep_seconds: float = 60.0,
        max_backlog_ms: float = 2000.0,
    ) -> None:
        self._channel: VadChannel = worker.open(on_event, config)
        self._keep_seconds = keep_seconds
        self._ring = np.zeros(int(keep_seconds * SAMPLE_RATE), dtype=np.int16)
        self._written = 0  # samples at 16 kHz since the start of the call
        self._resampler: StreamResampler | None = None
        # Audio at the caller's own rate when it is not 16 kHz: utterances for speech
        # recognition are resampled from it whole, in high quality (resample.py).
        self._raw: _Ring | None = None
        self.max_backlog_ms = max_backlog_ms
        self.frames_dropped = 0

    # --- input ---------------------------------------------------------------------

    def feed(self, samples: Int16Array, sample_rate: int) -> bool:
        """Take one frame of caller audio; False if it was dropped (VAD far behind)."""
        if self._channel.closed:
            return False
        if self.backlog_ms > self.max_backlog_ms:
            self.frames_dropped += 1
            return False
        if sample_rate != SAMPLE_RATE:
            if self._resampler is None or self._resampler.in_rate != sample_rate:
                self._resampler = StreamResampler(sample_rate, SAMPLE_RATE)
                self._raw = _Ring(sample_rate, self._keep_seconds)
            assert self._raw is not None
            self._raw.store(samples)
            samples = self._resampler.process(samples).astype(np.int16, copy=False)
        if samples.size == 0:
            return True
        self._store(samples)
        self._channel.push(samples)
        return True

    def _store(self, samples: Int16Array) -> None:
        self._written = _store(self._ring, self._written, samples)

    # --- output --------------------------------------------------------------------

    @property
    def received_ms(self) -> float:
        """Caller audio received so far (the stream clock)."""
        return self._written / _SAMPLES_PER_MS

    @property
    def backlog_ms(self) -> float:
        """Audio received but not yet through the VAD."""
        return self._channel.backlog_ms

    @property
    def vad_max_lag_ms(self) -> float:
        return self._channel.max_lag_ms

    def audio(self, start_ms: float, end_ms: float | None = None) -> Float32Array:
        """The caller's audio between two stream times, 16 kHz float32 in [-1, 1).
        Clipped to what the ring buffer still holds."""
        if self._raw is not None:
            end_ms = self.received_ms if end_ms is None else min(end_ms, self.received_ms)
            raw = self._raw.cut(start_ms, end_ms)
            pcm = resample(raw, self._raw.rate, SAMPLE_RATE, quality="HQ")
            return pcm.astype(np.float32) * np.float32(1 / 32768)
        end = self._written if end_ms is None else min(self._written, int(end_ms * _SAMPLES_PER_MS))
        start = max(int(start_ms * _SAMPLES_PER_MS), self._written - self._ring.size, 0)
        if end <= start:
            return np.zeros(0, dtype=np.float32)
        size = self._ring.size
        idx = np.arange(start, end) % size
        return self._ring[idx].astype(np.float32) * np.float32(1 / 32768)

    # --- control -------------------------------------------------------------------

    @property
    def bot_speaking(self) -> bool:
        return self._channel.bot_speaking

    @bot_speaking.setter
    def bot_speaking(self, value: bool) -> None:
        """Set while the bot's audio is heard: enables BargeIn events."""
        self._channel.bot_speaking = value

    def close(self) -> None:
        self._channel.close()


def _store(ring: Int16Array, written: int, samples: Int16Array) -> int:
    """Append to a ring buffer; returns the new count of samples ever written."""
    size = ring.size
    if samples.size >= size:
        samples = samples[-size:]
    start = written % size
    first = min(size - start, samples.size)
    ring[start : start + first] = samples[:first]
    ring[: samples.size - first] = samples[first:]
    return written + samples.size


class _Ring:
    """The caller's audio at its own sample rate."""

    def __init__(self, rate: int, seconds: float) -> None:
        self.rate = rate
        self.ring = np.zeros(int(seconds * rate), dtype=np.int16)
        self.written = 0

    def store(self, samples: Int16Array) -> None:
        self.written = _store(self.ring, self.written, samples)

    def cut(self, start_ms: float, end_ms: float) -> Int16Array:
        per_ms = self.rate / 1000
        end = min(self.written, int(end_ms * per_ms))
        start = max(int(start_ms * per_ms), self.written - self.ring.size, 0)
        if end <= start:
            return np.zeros(0, dtype=np.int16)
        return self.ring[np.arange(start, end) % self.ring.size]
