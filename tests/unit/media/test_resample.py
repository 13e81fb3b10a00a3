"""soxr resampling keeps frequencies, lengths and streaming equals one-shot."""

from __future__ import annotations

import numpy as np
import pytest

from callcontrol.errors import MediaError
from callcontrol.media.resample import StreamResampler, resample


def _sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amp).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    x = x.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("src", "dst", "freq"),
    [(8000, 16000, 1000.0), (22050, 16000, 440.0), (22050, 8000, 1500.0), (16000, 8000, 300.0)],
)
def test_one_shot_keeps_the_frequency_and_length(src: int, dst: int, freq: float) -> None:
    x = _sine(freq, src, 1.0)
    y = resample(x, src, dst)
    assert y.dtype == np.float32
    assert abs(len(y) - dst) <= 1
    assert _peak_hz(y, dst) == pytest.approx(freq, abs=2.0)
    # amplitude is kept (away from the filter's edges)
    assert np.max(np.abs(y[dst // 10 : -dst // 10])) == pytest.approx(0.5, abs=0.02)


def test_int16_stays_int16() -> None:
    x = (_sine(440, 22050, 0.5) * 32767).astype(np.int16)
    y = resample(x, 22050, 16000)
    assert y.dtype == np.int16 and abs(len(y) - 8000) <= 1


def test_content_above_the_new_nyquist_is_removed() -> None:
    x = _sine(6000, 16000, 1.0)
    y = resample(x, 16000, 8000)
    assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) < 0.01


@pytest.mark.parametrize("quality", ["QQ", "LQ", "HQ"])
def test_streaming_in_20ms_frames_matches_the_signal(quality: str) -> None:
    src = (_sine(1000, 8000, 2.0) * 20000).astype(np.int16)
    rs = StreamResampler(8000, 16000, quality=quality)  # type: ignore[arg-type]
    parts = [rs.process(src[i : i + 160]) for i in range(0, len(src), 160)]
    parts.append(rs.flush())
    out = np.concatenate(parts)
    assert abs(len(out) - 2 * len(src)) <= 2
    assert _peak_hz(out, 16000) == pytest.approx(1000, abs=2.0)
    # the streamed result equals a one-shot resample of the same quality
    whole = resample(src, 8000, 16000, quality=quality)  # type: ignore[arg-type]
    n = min(len(whole), len(out))
    assert np.max(np.abs(out[:n].astype(np.int32) - whole[:n].astype(np.int32))) <= 2


def test_low_latency_default_releases_audio_quickly() -> None:
    rs = StreamResampler(8000, 16000)
    produced = [len(rs.process(np.zeros(160, np.int16))) for _ in range(10)]
    assert sum(produced) >= 0.6 * 3200  # at most ~4 frames held back (LQ)


def test_passthrough_and_errors() -> None:
    x = np.arange(10, dtype=np.int16)
    rs = StreamResampler(16000, 16000)
    assert rs.process(x) is x and rs.flush().size == 0 and rs.delay_samples == 0
    assert resample(x, 16000, 16000) is x
    with pytest.raises(MediaError):
        rs.process(x.astype(np.float32))
    with pytest.raises(MediaError):
        StreamResampler(0, 16000)
    with pytest.raises(MediaError):
        resample(x.astype(np.int32), 8000, 16000)  # type: ignore[arg-type]
