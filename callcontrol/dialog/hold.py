"""A caller on hold: music between the spoken updates, and when the next update is due.

The machine decides *when* (``START_MUSIC`` once the hold phrase or an update has been
said, ``STOP_MUSIC`` before anything else is said, ``ARM_REASSURANCE`` for the next
update); this module does the looping and the arithmetic. Music is not a reply: it is
never recorded as a turn and never answers anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from callcontrol.media.base import AudioOutput
from callcontrol.media.codecs import Int16Array


def next_update(elapsed_s: float, updates_s: Sequence[float], every_s: float) -> float | None:
    """Seconds from now to the next spoken update, ``elapsed_s`` into the hold.

    ``updates_s``: offsets from the hand-over (15 and 30 s by default); after the last,
    one every ``every_s`` (0: none). None: no more updates (music until the timeout).
    """
    for offset in sorted(updates_s):
        if offset > elapsed_s + 1e-3:
            return offset - elapsed_s
    if every_s <= 0:
        return None
    last = max(updates_s, default=0.0)
    passed = max(0.0, elapsed_s - last)
    return every_s - (passed % every_s)


class HoldMusic:
    """Loops the hold music on the call's output until stopped."""

    def __init__(
        self,
        output: AudioOutput,
        music: Callable[[], Int16Array | None],
        sample_rate: int,
        spawn: Callable[[Awaitable[Any], str], asyncio.Task[Any]],
    ) -> None:
        self._output = output
        self._music = music
        self._rate = sample_rate
        self._spawn = spawn
        self._task: asyncio.Task[Any] | None = None
        self.loops = 0  # how many times the music started (for the logs and tests)

    @property
    def playing(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.playing:
            return
        pcm = self._music()
        if pcm is None or pcm.size == 0:
            return  # music off: silence between the updates
        self._task = self._spawn(self._loop(pcm), "hold-music")

    async def _loop(self, pcm: Int16Array) -> None:
        while True:
            self.loops += 1
            handle = await self._output.play(pcm, self._rate, "")
            await handle.wait()

    async def stop(self) -> bool:
        """Stop the music now (True if it was playing); nothing else is touched."""
        task, self._task = self._task, None
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self._output.clear()
        return True
