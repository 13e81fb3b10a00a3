"""Playing the bot's speech into a FreeSWITCH call through mod_audio_fork, with barge-in.

mod_audio_fork does not play what it is sent: for each ``playAudio`` message it writes a
temp file and fires ``mod_audio_fork::play_audio`` naming it; the application plays the
file with ``uuid_broadcast`` and sees PLAYBACK_START / PLAYBACK_STOP (shared PROTOCOLS.md,
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

import numpy as np
import structlog

from callcontrol.aio import cancel_and_wait
from callcontrol.media.base import (
    ForkLink,
    PlaybackControl,
    PlaybackHandle,
    PlaybackListener,
    PlaybackListeners,
)
from callcontrol.media.codecs import pcm_bytes
from callcontrol.media.fork_wire import (
    MAX_SERVER_MESSAGE_BYTES,
    ForkEvent,
    Int16Array,
    KillAudio,
    KillAudioEvent,
    PlayAudio,
    PlayAudioEvent,
)
from callcontrol.media.resample import resample

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Segment:
    audio: bytes
    duration_ms: float
    file: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Item:
    handle: PlaybackHandle
    segments: list[_Segment]
    started_at: float | None = None  # PLAYBACK_START of the first segment
    done_ms: float = 0.0  # duration of the segments already finished
    segment_started_at: float | None = None


class ForkPlayback:
    """The :class:`~callcontrol.media.base.AudioOutput` of one FreeSWITCH call."""

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
        self._link = link
        self._control = control
        self.sample_rate = sample_rate
        self._max_segment_bytes = PlayAudio.max_raw_bytes(max_message_bytes)
        self.event_timeout = event_timeout
        self.start_timeout = start_timeout
        self.stop_margin = stop_margin
        self._clock = clock
        self._listeners = PlaybackListeners()
        self._queue: collections.deque[_Item] = collections.deque()
        self._current: _Item | None = None
        self._awaiting_file: collections.deque[_Segment] = collections.deque()
        self._send_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._playing_file: str | None = None
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # --- AudioOutput -----------------------------------------------------------------

    def subscribe(self, listener: PlaybackListener) -> None:
        self._listeners.add(listener)

    @property
    def playing(self) -> bool:
        return self._current is not None and self._current.started_at is not None

    @property
    def busy(self) -> bool:
        """Something is playing, about to play, or queued."""
        return self._current is not None or bool(self._queue)

    async def play(self, pcm: Int16Array, sample_rate: int, text: str = "") -> PlaybackHandle:
        samples = resample(np.asarray(pcm, dtype=np.int16), sample_rate, self.sample_rate)
        data = pcm_bytes(samples.astype(np.int16, copy=False))
        handle = PlaybackHandle(text, len(data) / 2 * 1000 / self.sample_rate)
        if self._closed or self._link.closed or not data:
            self._listeners.emit(handle.finish(0, interrupted=bool(data)))
            return handle
        step = self._max_segment_bytes
        segments = [
            _Segment(data[i : i + step], len(data[i : i + step]) / 2 * 1000 / self.sample_rate)
            for i in range(0, len(data), step)
        ]
        item = _Item(handle, segments)
        async with self._send_lock:  # the FIFO order must be the order on the wire
            for n, segment in enumerate(segments):
                self._awaiting_file.append(segment)
                message = PlayAudio(segment.audio, self.sample_rate, text=text if n == 0 else None)
                await self._link.send_message(message)
        self._queue.append(item)
        self._wakeup.set()
        self._ensure_task()
        return handle

    async def clear(self) -> int:
        """Barge-in: killAudio + break_all, drop the queue; ms of the current item heard."""
        if not self.busy:
            return 0
        played = self._position_ms()
        await self._stop_task()
        item, self._current = self._current, None
        self._playing_file = None
        if item is not None:
            self._listeners.emit(item.handle.finish(played, interrupted=True))
        while self._queue:
            self._listeners.emit(self._queue.popleft().handle.finish(0, interrupted=True))
        await self._link.send_message(KillAudio())
        try:
            await self._control.break_all()
        except Exception:
            log.exception("playback.break_failed", call_id=self._link.call_id)
        if not self._closed:
            self._ensure_task()
        return round(played)

    async def aclose(self) -> None:
        self._closed = True
        played = self._position_ms()
        await self._stop_task()
        item, self._current = self._current, None
        if item is not None:
            self._listeners.emit(item.handle.finish(played, interrupted=True))
        while self._queue:
            self._listeners.emit(self._queue.popleft().handle.finish(0, interrupted=True))
        for segment in self._awaiting_file:
            segment.file.cancel()
        self._awaiting_file.clear()

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
            self._started.set()

    def on_playback_stop(self, file: str) -> None:
        """PLAYBACK_STOP for this channel (``Playback-File-Path``)."""
        if file == self._playing_file:
            self._stopped.set()

    # --- internals -------------------------------------------------------------------

    def _position_ms(self) -> float:
        item = self._current
        if item is None or item.segment_started_at is None:
            return item.done_ms if item is not None else 0.0
        segment_ms = (self._clock() - item.segment_started_at) * 1000
        return min(item.done_ms + segment_ms, item.handle.duration_ms)

    def _ensure_task(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name=f"fork-play-{self._link.call_id}")

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        error = await cancel_and_wait(task)
        if error is not None:
            log.error("playback.task_failed", exc_info=error)

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            item = self._queue.popleft()
            self._current = item
            try:
                await self._play_item(item)
            except Exception:
                log.exception("playback.item_failed", call_id=self._link.call_id)
                self._listeners.emit(item.handle.finish(self._position_ms(), interrupted=True))
            self._current = None
            self._playing_file = None

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
            self._started.clear()
            self._stopped.clear()
            await self._control.broadcast(file)
            try:
                await asyncio.wait_for(self._started.wait(), self.start_timeout)
            except TimeoutError:
                log.warning("playback.no_start_event", call_id=call_id, file=file)
            item.segment_started_at = self._clock()
            if item.started_at is None:
                item.started_at = item.segment_started_at
                self._listeners.emit(item.handle.started())
            try:
                limit = segment.duration_ms / 1000 + self.stop_margin
                await asyncio.wait_for(self._stopped.wait(), limit)
            except TimeoutError:
                log.warning("playback.no_stop_event", call_id=call_id, file=file)
            item.done_ms += segment.duration_ms
            item.segment_started_at = None
        if item.started_at is None:  # nothing could be played
            self._listeners.emit(item.handle.finish(0, interrupted=True))
        else:
            self._listeners.emit(item.handle.finish(item.handle.duration_ms, interrupted=False))
