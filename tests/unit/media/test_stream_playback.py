"""StreamPlayback — the bot's speech as binary frames on a jambonz fork — against a peer
that records what reaches the module and answers marks when the test says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import numpy as np
import pytest

from callcontrol.media.base import PlaybackEvent, PlaybackFinished, PlaybackStarted
from callcontrol.media.fork_wire import KillAudio, MarkNotice, OtherMessage, ServerMessage
from callcontrol.media.stream_playback import StreamLink, StreamPlayback

RATE = 8000


class ModulePeer:
    """What the module receives, in order: ('bytes', n) / ('mark', name) / ('kill', '')."""

    def __init__(self) -> None:
        self.call_id = "call-1"
        self.closed = False
        self.wire: list[tuple[str, object]] = []
        self.audio = bytearray()

    async def send_text(self, text: str) -> None:
        self.wire.append(("text", text))

    async def send_bytes(self, data: bytes) -> None:
        self.wire.append(("bytes", len(data)))
        self.audio += data

    async def send_message(self, message: ServerMessage) -> None:
        if isinstance(message, KillAudio):
            self.wire.append(("kill", ""))
        elif isinstance(message, OtherMessage) and message.type == "mark":
            assert message.data is not None
            self.wire.append(("mark", message.data["name"]))
            assert message.to_json() == json.dumps(
                {"type": "mark", "data": {"name": message.data["name"]}}, separators=(",", ":")
            )
        else:
            raise AssertionError(f"unexpected message {message!r}")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    def marks(self) -> list[str]:
        return [str(name) for kind, name in self.wire if kind == "mark"]


_link: StreamLink = ModulePeer()  # the peer satisfies the seam (mypy)


def speech(ms: int, value: int = 1000) -> np.ndarray:
    return np.full(RATE * ms // 1000, value, dtype=np.int16)


async def until(predicate: Callable[[], object], what: str) -> None:
    for _ in range(5000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def recorder(playback: StreamPlayback) -> list[PlaybackEvent]:
    events: list[PlaybackEvent] = []
    playback.subscribe(events.append)
    return events


async def test_an_utterance_goes_out_in_chunks_then_a_mark_then_zeros() -> None:
    peer = ModulePeer()
    playback = StreamPlayback(peer, sample_rate=RATE, chunk_ms=100, tail_ms=120)
    events = recorder(playback)
    pcm = speech(250)
    pcm[10] = -1  # the module would take this sample for a mark
    handle = await playback.play(pcm, RATE, "Hello there")
    await until(lambda: peer.marks(), "the mark went out")
    kinds = [kind for kind, _ in peer.wire]
    sizes = [n for kind, n in peer.wire if kind == "bytes"]
    # 250 ms in 100 ms chunks (faster than real time), the mark, then 120 ms of zeros.
    assert kinds == ["bytes", "bytes", "bytes", "mark", "bytes"]
    assert sizes == [1600, 1600, 800, 1920]
    sent = np.frombuffer(bytes(peer.audio), dtype="<i2")
    assert -1 not in sent[:4000] and sent[10] == 0
    assert not sent[4000:].any()  # the tail is zeros
    playback.on_mark(MarkNotice(peer.marks()[0], "playout"))
    finished = await handle.wait()
    assert not finished.interrupted and finished.position_ms == pytest.approx(250)
    assert [type(e) for e in events] == [PlaybackStarted, PlaybackFinished]
    await playback.aclose()


async def test_utterances_queue_back_to_back_and_each_waits_for_its_time() -> None:
    peer = ModulePeer()
    playback = StreamPlayback(peer, sample_rate=RATE, chunk_ms=200, tail_ms=100)
    first = await playback.play(speech(100), RATE, "one")
    second = await playback.play(speech(100), RATE, "two")
    await until(lambda: len(peer.marks()) == 1, "the first utterance went out")
    playback.on_mark(MarkNotice(peer.marks()[0], "playout"))
    await first.wait()
    await until(lambda: len(peer.marks()) == 2, "the second utterance went out")
    playback.on_mark(MarkNotice(peer.marks()[1], "playout"))
    done = await second.wait()
    assert not done.interrupted and done.text == "two"
    await playback.aclose()


async def test_barge_in_kills_and_the_next_utterance_waits_for_cleared() -> None:
    peer = ModulePeer()
    playback = StreamPlayback(
        peer, sample_rate=RATE, chunk_ms=200, tail_ms=100, kill_settle_ms=5000
    )
    events = recorder(playback)
    long = await playback.play(speech(3000), RATE, "a long answer that will be cut short")
    await until(lambda: any(isinstance(e, PlaybackStarted) for e in events), "heard")
    await asyncio.sleep(0.05)  # the caller hears a little of it
    heard_ms = await playback.clear()
    result = await long.wait()
    assert result.interrupted and 0 < result.position_ms < 3000 and heard_ms > 0
    # Zeros push any held-back tail of the cut utterance out of the pre-buffer, then the kill.
    assert peer.wire[-2:] == [("bytes", 1600), ("kill", "")]
    # Audio sent right after killAudio is lost: nothing goes out until the module says
    # it cleared (the pending mark comes back "cleared").
    after_kill = len(peer.wire)
    nxt = await playback.play(speech(100), RATE, "next")
    for _ in range(50):  # loop turns, not time: an early send would happen in the first
        await asyncio.sleep(0)
    assert len(peer.wire) == after_kill
    playback.on_mark(MarkNotice(peer.marks()[0], "cleared"))
    await until(lambda: len(peer.marks()) == 2, "the next utterance went out after cleared")
    playback.on_mark(MarkNotice(peer.marks()[1], "playout"))
    assert not (await nxt.wait()).interrupted
    await playback.aclose()


async def test_with_nothing_pending_a_kill_waits_only_the_settle_time() -> None:
    peer = ModulePeer()
    playback = StreamPlayback(peer, sample_rate=RATE, kill_settle_ms=60)
    first = await playback.play(speech(100), RATE, "first")
    await until(lambda: peer.marks(), "sent")
    await playback.clear()
    await first.wait()
    nxt = await playback.play(speech(100), RATE, "after")
    await until(lambda: len(peer.marks()) == 2, "sent after the settle time, no cleared needed")
    playback.on_mark(MarkNotice(peer.marks()[1], "playout"))
    assert not (await nxt.wait()).interrupted
    await playback.aclose()


async def test_a_lost_mark_does_not_hang_the_queue() -> None:
    peer = ModulePeer()
    playback = StreamPlayback(peer, sample_rate=RATE, mark_margin_s=0.05)
    handle = await playback.play(speech(100), RATE, "no mark comes back")
    finished = await handle.wait()  # by time, once the margin has passed
    assert not finished.interrupted
    await playback.aclose()


def test_chunks_and_tail_that_the_module_would_hold_back_are_refused() -> None:
    with pytest.raises(ValueError, match="80 ms"):
        StreamPlayback(ModulePeer(), chunk_ms=40)
    with pytest.raises(ValueError, match="100 ms"):
        StreamPlayback(ModulePeer(), tail_ms=60)


async def test_without_marks_playout_is_timed_and_nothing_but_audio_goes_out() -> None:
    peer = ModulePeer()  # a module older than 1.2.30 refuses "mark" messages
    playback = StreamPlayback(peer, sample_rate=RATE, marks=False)
    handle = await playback.play(speech(100), RATE, "timed")
    finished = await handle.wait()
    assert not finished.interrupted and peer.marks() == []
    assert {kind for kind, _ in peer.wire} == {"bytes"}
    await playback.aclose()
