"""ForkPlayback against a fake FreeSWITCH that behaves like the recordings: playAudio →
play_audio event with a temp file; uuid_broadcast → PLAYBACK_START ~then STOP after the
file's duration; killAudio / uuid_break stop the current file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from callcontrol.media.base import PlaybackEvent, PlaybackFinished, PlaybackStarted
from callcontrol.media.fork_wire import (
    KillAudio,
    PlayAudio,
)
from callcontrol.media.playback import ForkPlayback
from tests.fakes.media import ScriptedForkPeer


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


async def make(fs: ScriptedForkPeer, **kwargs: float) -> tuple[ForkPlayback, list[PlaybackEvent]]:
    playback = ForkPlayback(fs, fs, **kwargs)  # type: ignore[arg-type]
    fs.playback = playback
    events: list[PlaybackEvent] = []
    playback.subscribe(events.append)
    return playback, events


@pytest.fixture
async def fs() -> AsyncIterator[ScriptedForkPeer]:
    fake = ScriptedForkPeer()
    yield fake
    fake.cancel_timers()


async def test_items_play_in_order_one_broadcast_at_a_time(fs: ScriptedForkPeer) -> None:
    playback, events = await make(fs)
    handles = [
        await playback.play(tone(0.1), 16000, "First sentence."),
        await playback.play(tone(0.05), 16000, "Second."),
        await playback.play(tone(0.08), 16000, "Third one."),
    ]
    # every playAudio goes out at once, so the files are ready early
    assert [type(m).__name__ for m in fs.messages] == ["PlayAudio"] * 3
    assert [m.text for m in fs.messages] == ["First sentence.", "Second.", "Third one."]  # type: ignore[union-attr]
    results = [await h.wait() for h in handles]
    assert [r.interrupted for r in results] == [False] * 3
    assert [r.position_ms for r in results] == pytest.approx([100, 50, 80])
    assert [c[0] for c in fs.commands] == ["broadcast"] * 3
    assert [c[1] for c in fs.commands] == sorted(fs.files)  # FIFO file matching
    assert [type(e).__name__ for e in events] == ["PlaybackStarted", "PlaybackFinished"] * 3
    assert [e.playback_id for e in events if isinstance(e, PlaybackStarted)] == [
        h.playback_id for h in handles
    ]
    assert not playback.playing and not playback.busy
    await playback.aclose()


async def test_audio_is_resampled_and_split_to_fit_the_module_limit(fs: ScriptedForkPeer) -> None:
    playback, _ = await make(fs, max_message_bytes=20_000)
    handle = await playback.play(tone(1.0, 22050), 22050, "long")
    finished = await handle.wait()
    plays = [m for m in fs.messages if isinstance(m, PlayAudio)]
    assert len(plays) > 1
    assert all(len(m.to_json()) <= 20_000 for m in plays)
    assert {m.sample_rate for m in plays} == {16000}
    assert sum(len(m.audio) for m in plays) == pytest.approx(32000, abs=4)
    assert [m.text for m in plays][:2] == ["long", None]
    assert len(fs.commands) == len(plays)
    assert not finished.interrupted and finished.duration_ms == pytest.approx(1000, abs=1)
    await playback.aclose()


async def test_clear_stops_now_drops_the_queue_and_reports_what_was_heard(
    fs: ScriptedForkPeer,
) -> None:
    playback, events = await make(fs)
    first = await playback.play(tone(2.0), 16000, "one two three four five six seven eight")
    second = await playback.play(tone(1.0), 16000, "never heard")
    started: asyncio.Future[PlaybackEvent] = asyncio.get_running_loop().create_future()

    def on_event(event: PlaybackEvent) -> None:
        if not started.done():
            started.set_result(event)

    playback.subscribe(on_event)
    await asyncio.wait_for(started, 2)
    await asyncio.sleep(0.3)
    played = await playback.clear()
    assert 250 <= played <= 800
    r1, r2 = await first.wait(), await second.wait()
    assert r1.interrupted and r1.position_ms == pytest.approx(played, abs=1)
    assert r1.heard_text and "eight" not in r1.heard_text
    assert r2.interrupted and r2.position_ms == 0 and r2.heard_text == ""
    assert isinstance(fs.messages[-1], KillAudio)
    assert fs.commands[-1] == ("break_all", "")
    assert [type(e).__name__ for e in events[-2:]] == ["PlaybackFinished", "PlaybackFinished"]

    # after a barge-in the next answer plays normally, with the right file
    third = await playback.play(tone(0.05), 16000, "after")
    r3 = await third.wait()
    assert not r3.interrupted
    assert fs.commands[-1][1] == max(fs.files)  # the newest file, not a stale one
    await playback.aclose()


async def test_clear_before_the_play_audio_event_arrived(fs: ScriptedForkPeer) -> None:
    """Events of discarded playAudio messages still arrive; they must not be played."""
    fs.answer_play_audio = False
    playback, _ = await make(fs)
    dropped = await playback.play(tone(0.2), 16000, "dropped")
    assert await playback.clear() == 0
    assert (await dropped.wait()).interrupted
    fs.answer_play_audio = True
    for event in fs.withheld:  # FreeSWITCH answers late
        playback.on_fork_event(event)
    kept = await playback.play(tone(0.05), 16000, "kept")
    assert not (await kept.wait()).interrupted
    assert [c for c in fs.commands if c[0] == "broadcast"] == [("broadcast", max(fs.files))]
    await playback.aclose()


async def test_clear_when_idle_sends_nothing(fs: ScriptedForkPeer) -> None:
    playback, _ = await make(fs)
    assert await playback.clear() == 0
    assert fs.messages == [] and fs.commands == []
    await playback.aclose()


async def test_a_missing_play_audio_event_skips_the_item(fs: ScriptedForkPeer) -> None:
    fs.answer_play_audio = False
    playback, _ = await make(fs, event_timeout=0.1)
    lost = await playback.play(tone(0.05), 16000, "lost")
    result = await lost.wait()
    assert result.interrupted and result.position_ms == 0
    assert fs.commands == []
    await playback.aclose()


async def test_a_missing_playback_stop_does_not_hang_the_queue(fs: ScriptedForkPeer) -> None:
    fs.send_stop = False
    playback, _ = await make(fs, stop_margin=0.05)
    first = await playback.play(tone(0.05), 16000, "a")
    assert not (await asyncio.wait_for(first.wait(), 2)).interrupted
    fs.current = None  # FreeSWITCH moved on without telling us
    second = await playback.play(tone(0.05), 16000, "b")
    assert not (await asyncio.wait_for(second.wait(), 2)).interrupted
    await playback.aclose()


async def test_closed_link_and_aclose(fs: ScriptedForkPeer) -> None:
    playback, events = await make(fs)
    long = await playback.play(tone(5.0), 16000, "long")
    queued = await playback.play(tone(1.0), 16000, "queued")
    await asyncio.sleep(0.1)
    await playback.aclose()
    assert (await long.wait()).interrupted and (await queued.wait()).interrupted
    finished = [e for e in events if isinstance(e, PlaybackFinished)]
    assert len(finished) == 2
    fs.closed = True
    after = await playback.play(tone(0.1), 16000, "x")
    assert (await after.wait()).interrupted


async def test_empty_audio_finishes_at_once(fs: ScriptedForkPeer) -> None:
    playback, _ = await make(fs)
    handle = await playback.play(np.zeros(0, np.int16), 16000, "")
    assert handle.done() and not (await handle.wait()).interrupted
    await playback.aclose()


def test_only_raw_rates_the_module_plays() -> None:
    with pytest.raises(ValueError):
        ForkPlayback(None, None, sample_rate=22050)  # type: ignore[arg-type]


def test_heard_text_is_cut_at_a_word() -> None:
    assert PlaybackFinished(1, "hello there my friend", 1000, 600, True).heard_text == "hello there"
    # a word cut in the middle was not heard
    assert PlaybackFinished(1, "hello there my friend", 1000, 500, True).heard_text == "hello"
    assert PlaybackFinished(1, "hello", 1000, 1000, False).heard_text == "hello"
    assert PlaybackFinished(1, "hello", 1000, 0, True).heard_text == ""
