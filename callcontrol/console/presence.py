"""Operator status (persisted, shared, published) and presence (a console page is open).

Status lives in the ``operators`` table; a copy sits in the live-state ``operators``
namespace (what the HITL desk reads on every worker) and each change is published on
the ``operators`` topic. Presence is separate — ``presence`` namespace, ``seen_at``
refreshed by every open console websocket — so a heartbeat never overwrites a status
change made on another worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from callcontrol.hitl.desk import OPERATORS_NS, PRESENCE_NS
from callcontrol.live import topics
from callcontrol.live.base import EventBus, LiveState
from callcontrol.store.models import Operator
from callcontrol.store.repos import STATUSES, OperatorRepo

log = structlog.get_logger(__name__)


def operator_view(op: Operator) -> dict[str, Any]:
    return {"id": op.id, "username": op.username, "status": op.status, "role": op.role}


class Presence:
    def __init__(
        self,
        operators: OperatorRepo,
        live: Callable[[], LiveState],
        bus: Callable[[], EventBus],
        *,
        timeout_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.timeout_s = timeout_s
        self._operators = operators
        self._live = live
        self._bus = bus
        self._clock = clock

    async def set_status(self, op: Operator, status: str) -> Operator:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        updated = await self._operators.update(op.id, status=status)
        if updated is None:
            raise LookupError("operator is gone")
        view = operator_view(updated)
        await self._live().put(OPERATORS_NS, op.id, view)
        await self._bus().publish(topics.OPERATORS, view)
        log.info("operator status", operator=op.username, status=status)
        return updated

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
