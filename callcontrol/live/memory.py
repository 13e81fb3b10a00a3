"""In-process bus and live state: the embedded default (one worker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from callcontrol.live.base import Message


def matches(pattern: str, topic: str) -> bool:
    if pattern.endswith("*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic


class _QueueSubscription:
    def __init__(self, patterns: tuple[str, ...], maxsize: int) -> None:
        self.patterns = patterns
        self.queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue(maxsize)
        self._dropped = 0

    @property
    def dropped(self) -> int:
        return self._dropped

    def offer(self, topic: str, message: Message) -> None:
        if not any(matches(p, topic) for p in self.patterns):
            return
        try:
            self.queue.put_nowait((topic, message))
        except asyncio.QueueFull:
            self._dropped += 1

    async def __aiter__(self) -> AsyncIterator[tuple[str, Message]]:
        while True:
            yield await self.queue.get()


class InProcessBus:
    """Fan-out inside one process; a slow subscriber loses messages, never blocks publishers."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subs: set[_QueueSubscription] = set()
        self._queue_size = queue_size

    async def publish(self, topic: str, message: Message) -> None:
        for sub in tuple(self._subs):
            sub.offer(topic, message)

    @asynccontextmanager
    async def subscribe(self, *patterns: str) -> AsyncIterator[_QueueSubscription]:
        sub = _QueueSubscription(patterns, self._queue_size)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    async def close(self) -> None:
        self._subs.clear()


class InMemoryLiveState:
    def __init__(self) -> None:
        self._owners: dict[str, tuple[str, float]] = {}
        self._data: dict[str, dict[str, Message]] = {}

    async def claim(self, call_id: str, worker_id: str, ttl_s: float) -> bool:
        now = time.monotonic()
        current = self._owners.get(call_id)
        if current is not None and current[0] != worker_id and current[1] > now:
            return False
        self._owners[call_id] = (worker_id, now + ttl_s)
        return True

    async def owner(self, call_id: str) -> str | None:
        current = self._owners.get(call_id)
        if current is None or current[1] <= time.monotonic():
            return None
        return current[0]

    async def release(self, call_id: str, worker_id: str) -> None:
        current = self._owners.get(call_id)
        if current is not None and current[0] == worker_id:
            del self._owners[call_id]

    async def put(self, namespace: str, key: str, value: Message) -> None:
        self._data.setdefault(namespace, {})[key] = value

    async def delete(self, namespace: str, key: str) -> None:
        self._data.get(namespace, {}).pop(key, None)

    async def get(self, namespace: str, key: str) -> Message | None:
        return self._data.get(namespace, {}).get(key)

    async def all(self, namespace: str) -> dict[str, Message]:
        return dict(self._data.get(namespace, {}))

    async def close(self) -> None:
        self._data.clear()
        self._owners.clear()
