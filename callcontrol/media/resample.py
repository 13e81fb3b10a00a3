"""Sample-rate conversion with soxr: a streaming resampler per call, and a one-shot helper.

Latency matters for live input: fed 20 ms frames, soxr releases its output in bursts —
``LQ`` every 60 ms, ``MQ`` every ~110 ms, ``HQ`` later still; ``QQ`` (cubic) almost at
once. The VAD's stream of 8 k → 16 k caller input therefore uses ``LQ``. Whisper does
not hear that stream: :class:`~callcontrol.media.listen.CallAudioInput` keeps the
caller's audio at its own rate and resamples each utterance whole with ``HQ`` (word
error rate on ``make eval``'s 8 kHz development speech: 31.5 % from the ``LQ`` stream,
29.5 % from ``HQ``). Whole TTS sentences (22050 Hz → 8/16 kHz) use ``HQ`` too.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import soxr

from callcontrol.errors import MediaError
from callcontrol.media.codecs import Float32Array, Int16Array

Quality: TypeAlias = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]
Samples: TypeAlias = Int16Array | Float32Array


def _check_rates(in_rate: int, out_rate: int) -> None:
    if in_rate <= 0 or out_rate <= 0:
        raise MediaError(f"sample rates must be positive, got {in_rate} → {out_rate}")


def resample(samples: Samples, in_rate: int, out_rate: int, quality: Quality = "HQ") -> Samples:
    """Resample a whole mono signal (int16 or float32; the dtype is kept)."""
    _check_rates(in_rate, out_rate)
    if in_rate == out_rate:
        return samples
    if samples.dtype not in (np.int16, np.float32):
        raise MediaError(f"resample takes int16 or float32, not {samples.dtype}")
    out: Samples = soxr.resample(samples, in_rate, out_rate, quality=quality)
    return out


class StreamResampler:
    """One call's streaming resampler (mono int16 or float32). Not thread-safe.

    ``process(chunk)`` may return fewer (or more) samples than the ratio suggests: soxr
    holds a short tail for its filter. ``flush()`` returns that tail at the end.
    """

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        *,
        dtype: Literal["int16", "float32"] = "int16",
        quality: Quality = "LQ",
    ) -> None:
        _check_rates(in_rate, out_rate)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.dtype = np.dtype(dtype)
        self._passthrough = in_rate == out_rate
        self._stream = (
            None
            if self._passthrough
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype=dtype, quality=quality)
        )

    @property
    def delay_samples(self) -> float:
        """Output samples soxr currently holds back."""
        return 0.0 if self._stream is None else float(self._stream.delay())

    def process(self, samples: Samples) -> Samples:
        if samples.dtype != self.dtype:
            raise MediaError(f"resampler expects {self.dtype}, got {samples.dtype}")
        if self._stream is None:
            return samples
        out: Samples = self._stream.resample_chunk(samples, last=False)
        return out

    def flush(self) -> Samples:
        if self._stream is None:
            return np.zeros(0, dtype=self.dtype)
        out: Samples = self._stream.resample_chunk(np.zeros(0, dtype=self.dtype), last=True)
        return out

    def reset(self) -> None:
        if self._stream is not None:
            self._stream.clear()
