"""The console's live feed: bus messages to a browser over one websocket.

Frames sent to the browser (JSON):

* ``{"type": "snapshot", "calls": [...], "hitl": [...], "operators": [...]}`` first —
  the state to start from (only the parts subscribed to);
* ``{"type": "batch", "messages": [{"topic": t, "data": {...}}, ...]}`` — bus messages
  in order, batched when they come faster than they can be sent;
* ``{"type": "resync"}`` — this client fell behind and lost messages: reconnect.

Each websocket has its own bus subscription (one Redis connection in Redis mode),
a pump into a bounded queue, a sender, a presence heartbeat and a receiver that
notices the browser leaving; all four are tasks owned by :func:`serve_live`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Coroutine
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from callcontrol.aio import first_done
from callcontrol.console.context import Console
from callcontrol.console.deps import Authed
from callcontrol.errors import Resync
from callcontrol.esl.commands import CALL_ID_CHARS
from callcontrol.live import topics as bus_topics
from callcontrol.live.base import Message, Subscription
from callcontrol.store.writer import is_outage

log = structlog.get_logger(__name__)

QUEUE_SIZE = 5000
BATCH_MAX = 500
_CALL_TOPIC = re.compile(rf"^call\.(\*|{CALL_ID_CHARS})$")
BASE_TOPICS = frozenset({bus_topics.CALLS, bus_topics.HITL, bus_topics.OPERATORS})


def parse_topics(raw: str) -> list[str]:
    """``calls,hitl,call.<id>`` → topics; raises ValueError on anything unknown."""
    out: list[str] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if item not in BASE_TOPICS and not _CALL_TOPIC.fullmatch(item):
            raise ValueError(f"unknown topic {item[:80]!r}")
        if item not in out:
            out.append(item)
    if not out or len(out) > 8:
        raise ValueError("subscribe to 1..8 topics")
    return out


async def snapshot(console: Console, wanted: list[str]) -> dict[str, Any]:
    service = console.service
    out: dict[str, Any] = {"type": "snapshot"}
    if bus_topics.CALLS in wanted:
        calls = await service.live.all("calls")
        out["calls"] = sorted(calls.values(), key=lambda c: str(c.get("created_at", "")))
    if bus_topics.HITL in wanted:
        out["hitl"] = await service.desk.waiting()
    if bus_topics.OPERATORS in wanted:
        out["operators"] = await console.presence.board()
    return out


async def send_json(websocket: WebSocket, data: Any) -> None:
    """Like ``send_json``, but anything JSON does not know (datetimes…) becomes a string."""
    await websocket.send_text(json.dumps(data, default=str, separators=(",", ":")))


async def _pump(subscription: Subscription, queue: asyncio.Queue[tuple[str, Message]]) -> None:
    async for topic, message in subscription:
        try:
            queue.put_nowait((topic, message))
        except asyncio.QueueFull:
            raise Resync() from None


async def _send(websocket: WebSocket, queue: asyncio.Queue[tuple[str, Message]]) -> None:
    while True:
        first = await queue.get()
        batch = [first]
        while len(batch) < BATCH_MAX and not queue.empty():
            batch.append(queue.get_nowait())
        await send_json(
            websocket, {"type": "batch", "messages": [{"topic": t, "data": m} for t, m in batch]}
        )


async def _receive(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _heartbeat(console: Console, user: Authed) -> None:
    interval = max(1.0, min(20.0, console.settings.console.presence_timeout_s / 3))
    while True:
        try:
            await console.presence.heartbeat(user.operator)
        except Exception as exc:  # noqa: BLE001 - presence is best effort
            log.warning("presence heartbeat failed", error=str(exc))
        await asyncio.sleep(interval)
        try:
            still = await console.sessions.lookup(user.session.id)
        except Exception as exc:
            if not is_outage(exc):
                raise
            continue  # the database is down: live views go on (sign-out still closes it)
        if still is None:
            return  # signed out or removed: stop serving this socket


async def _until_ended(ended: Subscription, user: Authed) -> None:
    """Return when this socket's session is ended (sign-out, password change, …)."""
    async for _topic, message in ended:
        if message.get("session_id") == user.session.id or (
            message.get("operator_id") == user.operator.id
            and message.get("keep") != user.session.id
        ):
            log.info("console session ended; closing its live socket", user=user.username)
            return


async def serve_live(
    websocket: WebSocket, console: Console, user: Authed, wanted: list[str]
) -> None:
    """Run one accepted websocket until the browser leaves (or falls behind)."""
    service = console.service
    metrics = service.metrics
    metrics.console_websockets.inc()
    try:
        try:
            await console.presence.announce(user.operator)
        except Exception as exc:  # noqa: BLE001 - presence is best effort; the console still works
            log.warning("cannot share operator status", error=str(exc))
        async with (
            service.bus.subscribe(*wanted) as subscription,
            service.bus.subscribe(bus_topics.SESSIONS_ENDED) as ended,
        ):
            await send_json(websocket, await snapshot(console, wanted))
            queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue(QUEUE_SIZE)
            jobs: list[Coroutine[Any, Any, None]] = [
                _pump(subscription, queue),
                _send(websocket, queue),
                _receive(websocket),
                _heartbeat(console, user),
                _until_ended(ended, user),
            ]
            done = await first_done(*jobs)
            for task in done:
                error = task.exception()
                if isinstance(error, Resync):
                    log.info("console client fell behind; asking it to resync", user=user.username)
                    with contextlib.suppress(Exception):
                        await send_json(websocket, {"type": "resync"})
                elif error is not None and not isinstance(error, WebSocketDisconnect):
                    log.warning("console websocket ended", error=repr(error)[:300])
    finally:
        metrics.console_websockets.dec()
        with contextlib.suppress(Exception):
            await websocket.close()
