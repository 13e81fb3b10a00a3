"""Ordered hand-off of work from the gevent thread to the asyncio loop, one wakeup per burst.

``loop.call_soon_threadsafe`` writes to the loop's self-pipe on every call. A busy
Event Socket delivers events and replies in bursts (one socket read can hold a
dozen): a poster queues them and wakes the loop once for the burst. Replies and
events share one poster per connection, so asyncio still sees them in wire order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class LoopPoster:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._scheduled = False

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """From any thread: run ``fn(*args)`` on the loop, after everything posted before."""
        self._items.append((fn, args))  # append before reading the flag: see _drain
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        # Clear the flag first: anything appended from now on either is drained below or
        # schedules another drain (an extra, empty drain is harmless; a lost item is not).
        self._scheduled = False
        items = self._items
        while items:
            fn, args = items.popleft()
            fn(*args)
