"""Streaming the bot's speech into a FreeSWITCH call over the fork's own websocket.

jambonz's ``mod_audio_fork`` (a fork started with ``… true true <rate>``) plays raw L16 it
receives as binary frames: the caller hears it 10–20 ms after it arrives, against
~150–230 ms for the ``playAudio`` → temp file → ``uuid_broadcast`` round trip of
:class:`~callcontrol.media.playback.ForkPlayback`. What the module does, and what this
output does about it (docs/wire-protocols.md):

* it plays only while the channel writes frames: ``send_silence_when_idle=-1`` must be set
  before answer (the actor does it; ``calls/actor.py``);
* it holds back up to 80 ms of a message until more audio arrives: every utterance ends
  with a run of zeros (``tail_ms`` ≥ 100) so its last syllable is not kept for the next;
* there are no ESL playback events: what was played is accounted by time (playout is
  real time and lossless) and confirmed by a ``mark`` after each utterance, which the
  module reports (``{"type": "mark", … "event": "playout"}``) when playout reaches it;
* marks misfire when the module resamples (so the stream's rate is the call's codec
  rate) and on the sample value −1 (replaced by 0 here);
* ``killAudio`` clears the playout buffer at the next 20 ms tick, reports pending marks
  ``cleared``, and audio sent right after it is lost: the next utterance waits for that
  ``cleared`` (or ``kill_settle_ms``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import structlog

from callcontrol.media.base import BinaryLink, ForkLink, PlaybackHandle
from callcontrol.media.fork_wire import KillAudio, MarkNotice, mark_message
from callcontrol.media.output import QueuedItem, QueuedOutput

log = structlog.get_logger(__name__)

_marks = itertools.count(1)


class StreamLink(ForkLink, BinaryLink, Protocol):
    """A fork socket that also carries binary frames (``WebsocketLink`` is one)."""


@dataclass(slots=True, eq=False)
class _Item(QueuedItem):
    pcm: bytes = b""
    mark: str = ""
    played: asyncio.Event = field(default_factory=asyncio.Event)


class StreamPlayback(QueuedOutput[_Item]):
    """The :class:`~callcontrol.media.base.AudioOutput` of a call whose fork streams."""

    kind = "fork-stream"

    def __init__(
        self,
        link: StreamLink,
        *,
        sample_rate: int = 8000,
        chunk_ms: int = 200,
        tail_ms: int = 120,
        kill_settle_ms: int = 60,
        heard_after_ms: float = 20.0,
        mark_margin_s: float = 1.0,
        marks: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if chunk_ms < 80:
            raise ValueError("stream chunks must be ≥ 80 ms: the module holds back 80 ms")
        if tail_ms < 100:
            raise ValueError("the tail of zeros must be ≥ 100 ms to flush the module's 80 ms")
        super().__init__(link, sample_rate, clock=clock)
        self._stream = link
        self._chunk_bytes = sample_rate * chunk_ms // 1000 * 2
        self._tail = bytes(sample_rate * tail_ms // 1000 * 2)
        self.kill_settle_s = kill_settle_ms / 1000
        self.heard_after_s = heard_after_ms / 1000
        self.mark_margin_s = mark_margin_s
        self.marks = marks  # jambonz's module reports marks from 1.2.30 on
        self._playout_until = 0.0  # when what was sent will have played out
        self._killed: asyncio.Event | None = None  # set when the kill's marks came back
        self._pending: dict[str, _Item] = {}

    # --- QueuedOutput ----------------------------------------------------------------

    async def _prepare(self, handle: PlaybackHandle, data: bytes, text: str) -> _Item:
        samples = np.frombuffer(data, dtype="<i2").copy()
        samples[samples == -1] = 0  # the module takes -1 for a mark
        return _Item(handle, pcm=samples.tobytes(), mark=f"u{next(_marks)}")

    def _position_ms(self) -> float:
        item = self._current
        if item is None or item.started_at is None:
            return 0.0
        heard = (self._clock() - item.started_at) * 1000
        return max(0.0, min(heard, item.handle.duration_ms))

    async def _after_clear(self, played_ms: float) -> None:
        """Zeros, then killAudio. The module clears its playout buffer at the next tick but
        not its pre-buffer, which may still hold the end of a cut utterance (an utterance
        cancelled while it was being sent): the zeros push that into the playout buffer
        the kill clears. What is sent before the module has cleared is lost, so the next
        utterance waits for the marks' ``cleared``."""
        self._killed = asyncio.Event()
        self._playout_until = 0.0
        await self._stream.send_bytes(self._tail)
        await self._stream.send_message(KillAudio())
        for item in self._pending.values():
            item.played.set()
        self._pending.clear()

    def _on_close(self) -> None:
        for item in self._pending.values():
            item.played.set()
        self._pending.clear()

    async def _play_item(self, item: _Item) -> None:
        await self._settle_after_kill()
        now = self._clock()
        # The caller hears the first frame ~one 20 ms tick after it arrives, or after
        # what is still playing out.
        start = max(now + self.heard_after_s, self._playout_until)
        duration = item.handle.duration_ms / 1000
        tail = len(self._tail) / 2 / self.sample_rate
        self._playout_until = start + duration + tail
        self._pending[item.mark] = item
        pcm, step = item.pcm, self._chunk_bytes
        for i in range(0, len(pcm), step):  # faster than real time: the module buffers
            await self._stream.send_bytes(pcm[i : i + step])
        if self.marks:
            await self._stream.send_message(mark_message(item.mark))
        await self._stream.send_bytes(self._tail)  # flushes the hold-back; carries the mark
        delay = start - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        self._started(item, start)
        if self.marks:
            try:
                limit = start + duration + tail + self.mark_margin_s - self._clock()
                await asyncio.wait_for(item.played.wait(), max(limit, 0.0))
            except TimeoutError:
                log.warning("stream.no_mark", call_id=self._link.call_id, mark=item.mark)
        self._pending.pop(item.mark, None)
        # A mark's playout comes at the end of the audio; by time, never before it.
        remaining = start + duration - self._clock()
        if remaining > 0:
            await asyncio.sleep(remaining)
        self._finish(item.handle, item.handle.duration_ms, interrupted=False)

    async def _settle_after_kill(self) -> None:
        killed = self._killed
        if killed is None:
            return
        try:
            await asyncio.wait_for(killed.wait(), self.kill_settle_s)
        except TimeoutError:
            pass  # no mark was pending: the settle time is enough
        self._killed = None

    # --- the fork socket's text frames -------------------------------------------------

    def on_mark(self, notice: MarkNotice) -> None:
        """A mark notice from the module (``playout`` or ``cleared``)."""
        if notice.event == "cleared":
            if self._killed is not None:
                self._killed.set()
            return
        item = self._pending.get(notice.name)
        if item is not None:
            item.played.set()
