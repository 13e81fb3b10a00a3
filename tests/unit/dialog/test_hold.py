"""Hold: when the next spoken update is due, and the music a caller hears meanwhile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callcontrol.dialog.hold import next_update
from callcontrol.errors import ConfigError
from callcontrol.media import hold_music
from callcontrol.media.codecs import write_wav


@pytest.mark.parametrize(
    ("elapsed", "every", "expected"),
    [
        (0.0, 0.0, 15.0),  # at the hand-over: the first update in 15 s
        (15.0, 0.0, 15.0),  # just said the first: the second at 30 s
        (20.0, 0.0, 10.0),
        (30.0, 0.0, None),  # both said, no interval: music until the timeout
        (30.0, 20.0, 20.0),  # then one every 20 s
        (45.0, 20.0, 5.0),
    ],
)
def test_next_update(elapsed: float, every: float, expected: float | None) -> None:
    got = next_update(elapsed, [30.0, 15.0], every)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_no_listed_updates_and_no_interval_means_no_updates() -> None:
    assert next_update(0.0, [], 0.0) is None
    assert next_update(3.0, [], 10.0) == pytest.approx(7.0)


def test_the_builtin_music_is_quiet_and_loops_cleanly() -> None:
    pcm = hold_music.load("builtin", 8000)
    assert pcm is not None and pcm.dtype == np.int16 and len(pcm) == 8 * 8000
    peak = int(np.max(np.abs(pcm.astype(np.int32))))
    assert 0.05 * 32767 < peak <= 0.13 * 32767  # audible, well under the speech
    assert abs(int(pcm[0])) < 200 and abs(int(pcm[-1])) < 200  # no click at the seam
    assert hold_music.load("off", 8000) is None


def test_a_file_is_resampled_to_the_call_and_a_bad_one_is_an_error(tmp_path: Path) -> None:
    tone = (np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050) * 8000).astype(np.int16)
    path = tmp_path / "music.wav"
    write_wav(path, tone, 22050)
    pcm = hold_music.load(str(path), 16000)
    assert pcm is not None and pcm.dtype == np.int16 and abs(len(pcm) - 16000) <= 2
    bad = tmp_path / "not-music.wav"
    bad.write_bytes(b"RIFF but not really")
    with pytest.raises(ConfigError, match="hold_music"):
        hold_music.load(str(bad), 16000)
    with pytest.raises(ConfigError, match="hold_music"):
        hold_music.load(str(tmp_path / "missing.wav"), 16000)
