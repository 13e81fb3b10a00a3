"""Playing the bot's speech into a FreeSWITCH call through mod_audio_fork, with barge-in.

mod_audio_fork does not play what it is sent: for each ``playAudio`` message it writes a
temp file and fires ``mod_audio_fork::play_audio`` naming it; the application plays the
file with ``uuid_broadcast`` and sees PLAYBACK_START / PLAYBACK_STOP (docs/wire-protocols.md,
recordings ``audio-fork-esl-*``). :class:`ForkPlayback` keeps that dance in order:

* ``play()`` resamples to the fork's rate, splits audio that would exceed the module's
  message limit, and sends every ``playAudio`` at once (the files are ready early);
* one owned task plays the items strictly in order: wait for the segment's
  ``play_audio`` event (matched first-in first-out) → ``broadcast(file)`` → wait for its
  PLAYBACK_START, then its PLAYBACK_STOP. Broadcasting only after the previous STOP
  matters: a second ``uuid_broadcast`` during a playback runs nested inside it;
* ``clear()`` (barge-in) sends ``killAudio`` and ``break_all()``, drops the queue and
  returns how many ms of the current item the caller heard, measured from its
  PLAYBACK_START (FreeSWITCH's ``playback_ms`` counts read-ahead: 2048 ms reported for
  ~850 ms actually played in the recording).

The ESL side calls :meth:`ForkPlayback.on_fork_event`, :meth:`~ForkPlayback.on_playback_start`
and :meth:`~ForkPlayback.on_playback_stop` for this call's events, and implements
:class:`~callcontrol.media.base.PlaybackControl`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from callcontrol.media.base import ForkLink, PlaybackControl, PlaybackHandle
from callcontrol.media.fork_esl import ForkEvent, KillAudioEvent, PlayAudioEvent
from callcontrol.media.fork_wire import MAX_SERVER_MESSAGE_BYTES, KillAudio, PlayAudio
from callcontrol.media.output import QueuedItem, QueuedOutput

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Segment:
    audio: bytes
    duration_ms: float
    file: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True, eq=False)
class _Item(QueuedItem):
    # started_at: PLAYBACK_START of the first segment
    segments: list[_Segment] = field(default_factory=list)
    done_ms: float = 0.0  # duration of the segments already finished
    segment_started_at: float | None = None


class ForkPlayback(QueuedOutput[_Item]):
    """The :class:`~callcontrol.media.base.AudioOutput` of one FreeSWITCH call."""

    kind = "fork-play"

    def __init__(
        self,
        link: ForkLink,
        control: PlaybackControl,
        *,
        sample_rate: int = 16000,
        max_message_bytes: int = MAX_SERVER_MESSAGE_BYTES,
        event_timeout: float = 3.0,
        start_timeout: float = 2.0,
        stop_margin: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError("mod_audio_fork plays raw audio at 8000 or 16000 Hz")
        super().__init__(link, sample_rate, clock=clock)
        self._fork = link
        self._control = control
        self._max_segment_bytes = PlayAudio.max_raw_bytes(max_message_bytes)
        self.event_timeout = event_timeout
        self.start_timeout = start_timeout
        self.stop_margin = stop_margin
        self._awaiting_file: collections.deque[_Segment] = collections.deque()
        self._send_lock = asyncio.Lock()
        self._playing_file: str | None = None
        self._started_event = asyncio.Event()
        self._stopped = asyncio.Event()

    # --- QueuedOutput ----------------------------------------------------------------

    async def _prepare(self, handle: PlaybackHandle, data: bytes, text: str) -> _Item | None:
        if not data:
            self._finish(handle, 0, interrupted=False)
            return None
        step = self._max_segment_bytes
        segments = [
            _Segment(data[i : i + step], len(data[i : i + step]) / 2 * 1000 / self.sample_rate)
            for i in range(0, len(data), step)
        ]
        async with self._send_lock:  # the FIFO order must be the order on the wire
            for n, segment in enumerate(segments):
                self._awaiting_file.append(segment)
                message = PlayAudio(segment.audio, self.sample_rate, text=text if n == 0 else None)
                await self._fork.send_message(message)
        return _Item(handle, segments=segments)

    async def _after_clear(self, played_ms: float) -> None:
        """killAudio (drops what the module queued) + ``uuid_break … all``."""
        await self._fork.send_message(KillAudio())
        try:
            await self._control.break_all()
        except Exception:
            log.exception("playback.break_failed", call_id=self._link.call_id)

    def _item_done(self) -> None:
        self._playing_file = None

    def _on_close(self) -> None:
        for segment in self._awaiting_file:
            segment.file.cancel()
        self._awaiting_file.clear()

    def _position_ms(self) -> float:
        item = self._current
        if item is None or item.segment_started_at is None:
            return item.done_ms if item is not None else 0.0
        segment_ms = (self._clock() - item.segment_started_at) * 1000
        return min(item.done_ms + segment_ms, item.handle.duration_ms)

    # --- ESL side --------------------------------------------------------------------

    def on_fork_event(self, event: ForkEvent) -> None:
        """Feed this call's ``mod_audio_fork::*`` events (parsed by ``parse_fork_event``)."""
        if isinstance(event, PlayAudioEvent):
            if not self._awaiting_file:
                log.warning("playback.unexpected_play_audio", file=event.file)
                return
            segment = self._awaiting_file.popleft()
            if not segment.file.done():
                segment.file.set_result(event.file)
        elif isinstance(event, KillAudioEvent):
            log.debug("playback.killed", call_id=self._link.call_id)

    def on_playback_start(self, file: str) -> None:
        """PLAYBACK_START for this channel (``Playback-File-Path``)."""
        if file == self._playing_file:
            self._started_event.set()

    def on_playback_stop(self, file: str) -> None:
        """PLAYBACK_STOP for this channel (``Playback-File-Path``)."""
        if file == self._playing_file:
            self._stopped.set()

    # --- playing one item ------------------------------------------------------------

    async def _play_item(self, item: _Item) -> None:
        call_id = self._link.call_id
        for segment in item.segments:
            try:
                file = await asyncio.wait_for(asyncio.shield(segment.file), self.event_timeout)
            except TimeoutError:
                log.warning("playback.no_play_audio_event", call_id=call_id)
                item.done_ms += segment.duration_ms
                continue
            self._playing_file = file
            self._started_event.clear()
            self._stopped.clear()
            await self._control.broadcast(file)
            try:
                await asyncio.wait_for(self._started_event.wait(), self.start_timeout)
            except TimeoutError:
                log.warning("playback.no_start_event", call_id=call_id, file=file)
            item.segment_started_at = self._clock()
            if item.started_at is None:
                self._started(item, item.segment_started_at)
            try:
                limit = segment.duration_ms / 1000 + self.stop_margin
                await asyncio.wait_for(self._stopped.wait(), limit)
            except TimeoutError:
                log.warning("playback.no_stop_event", call_id=call_id, file=file)
            item.done_ms += segment.duration_ms
            item.segment_started_at = None
        if item.started_at is None:  # nothing could be played
            self._finish(item.handle, 0, interrupted=True)
        else:
            self._finish(item.handle, item.handle.duration_ms, interrupted=False)
