"""Redis-backed live state and bus: several workers share calls and the console's view.

* ownership: ``SET cc:owner:<call> <worker> NX PX`` — exactly one worker wins a call;
* namespaces: one hash per namespace (``cc:ns:calls``…), JSON values;
* bus: ``PUBLISH cc:bus:<topic>``; subscriptions use ``PSUBSCRIBE`` so ``call.*`` works.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
import structlog

from callcontrol.errors import StoreError
from callcontrol.live.base import Message

log = structlog.get_logger(__name__)

PREFIX = "cc"
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


def _client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=True, socket_timeout=5)


class RedisLiveState:
    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self._redis = _client(url)
        self._prefix = prefix

    def _ns(self, namespace: str) -> str:
        return f"{self._prefix}:ns:{namespace}"

    async def claim(self, call_id: str, worker_id: str, ttl_s: float) -> bool:
        key = f"{self._prefix}:owner:{call_id}"
        try:
            won = await self._redis.set(key, worker_id, nx=True, px=int(ttl_s * 1000))
            if won:
                return True
            if await self._redis.get(key) != worker_id:
                return False
            # Ours already: a renewal (a lease held by a live worker must not lapse).
            await self._redis.pexpire(key, int(ttl_s * 1000))
            return True
        except aioredis.RedisError as exc:
            raise StoreError(f"redis claim failed: {exc}") from exc

    async def owner(self, call_id: str) -> str | None:
        value = await self._redis.get(f"{self._prefix}:owner:{call_id}")
        return str(value) if value is not None else None

    async def release(self, call_id: str, worker_id: str) -> None:
        await self._redis.eval(_RELEASE, 1, f"{self._prefix}:owner:{call_id}", worker_id)

    async def put(self, namespace: str, key: str, value: Message) -> None:
        await self._redis.hset(self._ns(namespace), key, json.dumps(value, default=str))

    async def delete(self, namespace: str, key: str) -> None:
        await self._redis.hdel(self._ns(namespace), key)

    async def get(self, namespace: str, key: str) -> Message | None:
        raw = await self._redis.hget(self._ns(namespace), key)
        return _loads(str(raw)) if raw is not None else None

    async def all(self, namespace: str) -> dict[str, Message]:
        raw = await self._redis.hgetall(self._ns(namespace))
        out = {}
        for key, value in raw.items():
            decoded = _loads(str(value))
            if decoded is not None:
                out[str(key)] = decoded
        return out

    async def close(self) -> None:
        await self._redis.aclose()


def _loads(raw: str) -> Message | None:
    try:
        value = json.loads(raw)
    except ValueError:
        log.warning("ignoring a live-state value that is not JSON")
        return None
    return value if isinstance(value, dict) else None


class _RedisSubscription:
    def __init__(self, pubsub: Any, channel_prefix: str) -> None:
        self._pubsub = pubsub
        self._prefix = channel_prefix

    @property
    def dropped(self) -> int:
        return 0

    async def __aiter__(self) -> AsyncIterator[tuple[str, Message]]:
        async for item in self._pubsub.listen():
            if item.get("type") not in ("pmessage", "message"):
                continue
            channel = str(item.get("channel", ""))
            data = _loads(str(item.get("data", "")))
            if data is None:
                continue
            yield channel[len(self._prefix) :], data


class RedisBus:
    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self._redis = _client(url)
        self._prefix = f"{prefix}:bus:"

    async def publish(self, topic: str, message: Message) -> None:
        await self._redis.publish(self._prefix + topic, json.dumps(message, default=str))

    @asynccontextmanager
    async def subscribe(self, *patterns: str) -> AsyncIterator[_RedisSubscription]:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.psubscribe(*(self._prefix + p for p in patterns))
            yield _RedisSubscription(pubsub, self._prefix)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()
