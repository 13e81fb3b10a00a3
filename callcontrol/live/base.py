"""Seams for live state shared between workers and for fan-out of live updates.

In-process implementations serve a single worker; Redis ones (``redis.py``) let
several workers share calls: a console served by one worker shows calls handled
by another, and exactly one worker owns each call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Message = dict[str, Any]


class Subscription(Protocol):
    """An open subscription: iterate for ``(topic, message)`` pairs."""

    def __aiter__(self) -> AsyncIterator[tuple[str, Message]]: ...

    @property
    def dropped(self) -> int:
        """Messages lost because this subscriber fell behind (the console then reloads)."""
        ...


class EventBus(Protocol):
    """Publish/subscribe of JSON-able messages on string topics.

    A subscription pattern ending in ``*`` matches every topic with that prefix.
    """

    async def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(self, *patterns: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


class LiveState(Protocol):
    """Small shared key/value namespaces plus call ownership."""

    async def claim(self, call_id: str, worker_id: str, ttl_s: float) -> bool:
        """Become the owner of ``call_id`` unless another worker already is."""
        ...

    async def owner(self, call_id: str) -> str | None: ...

    async def release(self, call_id: str, worker_id: str) -> None: ...

    async def put(self, namespace: str, key: str, value: Message) -> None: ...

    async def delete(self, namespace: str, key: str) -> None: ...

    async def get(self, namespace: str, key: str) -> Message | None: ...

    async def all(self, namespace: str) -> dict[str, Message]: ...

    async def close(self) -> None: ...
