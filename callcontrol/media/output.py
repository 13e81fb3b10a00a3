"""What every :class:`~callcontrol.media.base.AudioOutput` does the same way (after livekit
agents' ``voice/io.py``): a FIFO of queued items, one owned task that plays them in order,
the listeners, and barge-in bookkeeping — ``clear()`` finishes the current item with what
the caller heard and drops the queue, ``aclose()`` does the same for good.

A transport supplies only what differs (:class:`QueuedOutput`'s abstract methods): how an
item is prepared (``_prepare``: split into fork messages or into paced frames), how it is
played (``_play_item``), how far into the current item the caller is (``_position_ms``)
and what the far end must be told on a barge-in (``_after_clear``).

* :class:`~callcontrol.media.playback.ForkPlayback` — FreeSWITCH's mod_audio_fork file
  playback (``playAudio`` → ``play_audio`` event → ``uuid_broadcast``);
* :class:`~callcontrol.media.direct.DirectPlayback` — PCM paced in real time to a direct
  websocket client.
"""

from __future__ import annotations

import asyncio
import collections
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import structlog

from callcontrol.aio import cancel_and_wait
from callcontrol.media.base import MediaLink, PlaybackHandle, PlaybackListener, PlaybackListeners
from callcontrol.media.codecs import Int16Array, pcm_bytes
from callcontrol.media.resample import resample

log = structlog.get_logger(__name__)


@dataclass(slots=True, eq=False)
class QueuedItem:
    """One ``play()``: its handle, and when the caller started hearing it."""

    handle: PlaybackHandle
    started_at: float | None = None


ItemT = TypeVar("ItemT", bound=QueuedItem)


class QueuedOutput(ABC, Generic[ItemT]):
    """An :class:`~callcontrol.media.base.AudioOutput` that plays a FIFO of items in order."""

    kind = "output"  # names the playing task: "<kind>-<call id>"

    def __init__(
        self, link: MediaLink, sample_rate: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._link = link
        self.sample_rate = sample_rate
        self._clock = clock
        self._listeners = PlaybackListeners()
        self._queue: collections.deque[ItemT] = collections.deque()
        self._current: ItemT | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # --- what a transport supplies ---------------------------------------------------

    @abstractmethod
    async def _prepare(self, handle: PlaybackHandle, data: bytes, text: str) -> ItemT | None:
        """Turn ``data`` (int16 at :attr:`sample_rate`) into an item to queue; None when
        the handle is already finished (nothing to play)."""

    @abstractmethod
    async def _play_item(self, item: ItemT) -> None:
        """Play one item to its end; must finish its handle (``self._finish``)."""

    @abstractmethod
    def _position_ms(self) -> float:
        """How many ms of the current item the caller has heard (≤ its duration)."""

    @abstractmethod
    async def _after_clear(self, played_ms: float) -> None:
        """Tell the far end to stop and drop what it buffered."""

    def _item_done(self) -> None:
        """After an item, played or not (a hook)."""

    def _on_close(self) -> None:
        """At ``aclose`` after every handle finished (a hook)."""

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
        if self._closed or self._link.closed:
            self._finish(handle, 0, interrupted=True)
            return handle
        item = await self._prepare(handle, data, text)
        if item is None:
            return handle
        self._queue.append(item)
        self._wakeup.set()
        self._ensure_task()
        return handle

    async def clear(self) -> int:
        """Barge-in: stop now, drop the queue; the ms of the current item heard."""
        if not self.busy:
            return 0
        played = self._position_ms()
        await self._stop_task()
        self._drop_all(played)
        await self._after_clear(played)
        self._ensure_task()
        return round(played)

    async def aclose(self) -> None:
        self._closed = True
        played = self._position_ms()
        await self._stop_task()
        self._drop_all(played)
        self._on_close()

    # --- shared internals ------------------------------------------------------------

    def _finish(self, handle: PlaybackHandle, position_ms: float, *, interrupted: bool) -> None:
        self._listeners.emit(handle.finish(position_ms, interrupted=interrupted))

    def _started(self, item: ItemT, at: float) -> None:
        """The caller starts hearing ``item`` now."""
        item.started_at = at
        self._listeners.emit(item.handle.started())

    def _drop_all(self, played_ms: float) -> None:
        item, self._current = self._current, None
        if item is not None:
            self._finish(item.handle, played_ms, interrupted=True)
        while self._queue:
            self._finish(self._queue.popleft().handle, 0, interrupted=True)
        self._item_done()

    def _ensure_task(self) -> None:
        if self._task is None and not self._closed:
            name = f"{self.kind}-{self._link.call_id}"
            self._task = asyncio.create_task(self._run(), name=name)

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        error = await cancel_and_wait(task)
        if error is not None:
            log.error("playback.task_failed", call_id=self._link.call_id, exc_info=error)

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
                self._finish(item.handle, self._position_ms(), interrupted=True)
            self._current = None
            self._item_done()
