"""What a caller on hold hears between spoken updates: a looped audio file, or the
built-in loop (pure: numpy, soxr).

``pipeline.hold_music``: ``"builtin"`` (the default: a quiet, slow chord loop made here
with numpy, so no recording ships with the code and none needs a licence), ``"off"``
(silence), or the path of a WAV file (16-bit/8-bit PCM, μ-law or A-law, any rate,
mono or stereo; resampled once to the call's rate). A file that cannot be read is
an error at start-up, not a silent caller.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from callcontrol.errors import ConfigError, MediaError
from callcontrol.media.codecs import Int16Array, read_wav
from callcontrol.media.resample import resample

BUILTIN = "builtin"
OFF = "off"
# C, A minor, F, G: four slow bars, a triad each, then the loop starts again.
_CHORDS = (
    (261.63, 329.63, 392.00),
    (220.00, 261.63, 329.63),
    (174.61, 220.00, 261.63),
    (196.00, 246.94, 293.66),
)
_BAR_S = 2.0
_PEAK = 0.12  # of full scale: music under a phone line, not over it


def builtin_loop(sample_rate: int) -> Int16Array:
    """Eight seconds of soft chords that loop without a click."""
    n = int(_BAR_S * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    attack, release = 0.25, 0.6
    envelope = np.minimum(1.0, t / attack) * np.minimum(1.0, (_BAR_S - t) / release)
    bars = []
    for chord in _CHORDS:
        bar = sum(np.sin(2 * np.pi * f * t) for f in chord) / len(chord)
        bar += 0.3 * np.sin(2 * np.pi * 2 * chord[0] * t)  # a little shimmer, an octave up
        bars.append(bar * envelope)
    signal = np.concatenate(bars)
    signal *= _PEAK / float(np.max(np.abs(signal)))
    return (signal * 32767).astype(np.int16)


@lru_cache(maxsize=8)
def load(setting: str, sample_rate: int) -> Int16Array | None:
    """The hold music at ``sample_rate`` (None: off). Raises ConfigError if unreadable.

    Read once per worker and rate (cached): every call on hold shares the samples."""
    value = setting.strip()
    if not value or value.lower() == OFF:
        return None
    if value.lower() == BUILTIN:
        return builtin_loop(sample_rate)
    path = Path(value).expanduser()
    try:
        audio = read_wav(path)
    except (OSError, MediaError) as exc:
        raise ConfigError(f"pipeline.hold_music: cannot read {path}: {exc}") from exc
    samples = audio.mono()
    if samples.size == 0:
        raise ConfigError(f"pipeline.hold_music: {path} holds no audio")
    out = resample(samples.astype(np.int16), audio.sample_rate, sample_rate)
    return out.astype(np.int16, copy=False)
