"""Operator status (persisted, shared, published) and presence (a console page is open).

Status lives in the ``operators`` table; a copy sits in the live-state ``operators``
namespace (what the HITL desk reads on every worker) and each change is published on
the ``operators`` topic. Presence is separate — ``presence`` namespace, ``seen_at``
refreshed by every open console websocket — so a heartbeat never overwrites a status
change made on another worker.

Statuses change by themselves in two cases (every worker runs :meth:`Presence.start`):

* **Taking over a call** makes the operator ``busy``; when that call ends they are
  put back to the status they had before (unless they changed it meanwhile). The
  status to go back to is kept in live state (``takeovers``, by call id), so the
  worker that sees the hang-up restores it, whichever worker took the call over.
* **A console closed for ``offline_after_s``** (signed out, browser closed, network
  gone) sets the operator ``offline``; the desk already stops counting them once
  their presence is older than ``presence_timeout_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.hitl.desk import OPERATORS_NS, PRESENCE_NS
from callcontrol.live import topics
from callcontrol.live.base import EventBus, LiveState, Message, Subscription
from callcontrol.store.models import Operator
from callcontrol.store.repos import STATUSES, OperatorRepo

log = structlog.get_logger(__name__)

TAKEOVERS_NS = "takeovers"


def operator_view(op: Operator) -> dict[str, Any]:
    return {
        "id": op.id,
        "username": op.username,
        "status": op.status,
        "role": op.role,
        "extension": op.extension,
    }


class Presence:
    def __init__(
        self,
        operators: OperatorRepo,
        live: Callable[[], LiveState],
        bus: Callable[[], EventBus],
        *,
        timeout_s: float = 60.0,
        offline_after_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.timeout_s = timeout_s
        self.offline_after_s = offline_after_s
        self._operators = operators
        self._live = live
        self._bus = bus
        self._clock = clock
        self._missing_since: dict[str, float] = {}
        self._tasks = TaskOwner("operators")
        self._stack = AsyncExitStack()

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Restore statuses after take-overs and set closed consoles offline."""
        calls = await self._stack.enter_async_context(self._bus().subscribe(topics.CALLS))
        self._tasks.spawn(self._follow_calls(calls), "takeover-ends")
        self._tasks.spawn(self._sweep_forever(), "offline-sweep")

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        await self._stack.aclose()

    # -- status -------------------------------------------------------------------------
    async def set_status(self, op: Operator, status: str) -> Operator:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        updated = await self._operators.update(op.id, status=status)
        if updated is None:
            raise LookupError("operator is gone")
        await self._publish(updated)
        return updated

    async def _publish(self, op: Operator) -> None:
        view = operator_view(op)
        await self._live().put(OPERATORS_NS, op.id, view)
        await self._bus().publish(topics.OPERATORS, view)
        log.info("operator status", operator=op.username, status=op.status)

    async def took_over(self, op: Operator, call_id: str) -> Operator:
        """``op`` took a call over: busy until it ends, then back to their status."""
        current = await self._operators.get(op.id)
        previous = current.status if current is not None else op.status
        record = {"operator_id": op.id, "previous": previous, "at": self._clock()}
        await self._live().put(TAKEOVERS_NS, call_id, record)
        return await self.set_status(op, "busy")

    async def call_ended(self, call_id: str) -> None:
        """Give the operator who took ``call_id`` over their status back."""
        live = self._live()
        record = await live.get(TAKEOVERS_NS, call_id)
        if record is None:
            return
        await live.delete(TAKEOVERS_NS, call_id)
        previous = record.get("previous")
        status = str(previous) if previous in STATUSES else "available"
        if status == "busy":
            return
        # Only if they are still busy: an operator who set a status themselves meanwhile
        # (even at this very moment) keeps it.
        op = await self._operators.replace_status(str(record.get("operator_id")), "busy", status)
        if op is None:
            return  # gone, or they set a status themselves meanwhile
        log.info("taken-over call ended; status restored", operator=op.username, call=call_id)
        await self._publish(op)

    async def _follow_calls(self, calls: Subscription) -> None:
        async for _topic, message in calls:
            if message.get("state") != "hangup" or not isinstance(message.get("id"), str):
                continue
            try:
                await self.call_ended(str(message["id"]))
            except Exception as exc:  # noqa: BLE001 - one call's bookkeeping, not the loop
                log.warning("cannot restore status after a take-over", error=str(exc))

    # -- presence -----------------------------------------------------------------------
    async def announce(self, op: Operator) -> None:
        """Share an operator's stored status (a worker restarted, or they just signed in)."""
        await self._live().put(OPERATORS_NS, op.id, operator_view(op))

    async def heartbeat(self, op: Operator) -> None:
        await self._live().put(PRESENCE_NS, op.id, {"seen_at": self._clock()})

    async def forget(self, operator_id: str) -> None:
        live = self._live()
        await live.delete(OPERATORS_NS, operator_id)
        await live.delete(PRESENCE_NS, operator_id)
        await self._bus().publish(topics.OPERATORS, {"id": operator_id, "status": "deleted"})

    async def board(self) -> list[dict[str, Any]]:
        """Every known operator with status and whether a console of theirs is open."""
        live = self._live()
        operators = await live.all(OPERATORS_NS)
        presence = await live.all(PRESENCE_NS)
        now = self._clock()
        out = []
        for op_id, view in operators.items():
            seen = presence.get(op_id, {}).get("seen_at")
            online = isinstance(seen, int | float) and now - seen <= self.timeout_s
            out.append({**view, "online": online})
        return sorted(out, key=lambda v: str(v.get("username")))

    async def sweep(self) -> list[str]:
        """Set operators offline whose console has been closed ``offline_after_s``.

        Absence is counted from when this worker first saw it (a restarted worker
        gives open consoles time to reconnect). Returns who went offline.
        """
        presence: dict[str, Message] = await self._live().all(PRESENCE_NS)
        now = self._clock()
        gone = []
        for op in await self._operators.list():
            seen = presence.get(op.id, {}).get("seen_at")
            fresh = isinstance(seen, int | float) and now - seen <= self.timeout_s
            if op.status == "offline" or fresh:
                self._missing_since.pop(op.id, None)
                continue
            since = self._missing_since.setdefault(op.id, now)
            if now - since >= self.offline_after_s:
                self._missing_since.pop(op.id, None)
                log.info("console closed; operator offline", operator=op.username)
                await self.set_status(op, "offline")
                gone.append(op.username)
        return gone

    async def _sweep_forever(self) -> None:
        interval = max(1.0, min(self.timeout_s, self.offline_after_s) / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception as exc:  # noqa: BLE001 - the database or live state may be down
                log.warning("cannot check operator presence", error=str(exc))
