"""Webhooks: an owner's call and HITL events POSTed to its systems, signed, never lost.

:meth:`Webhooks.emit` writes one ``webhook_deliveries`` row per matching webhook through
the database writer (which spools to disk while the database is away): that row is the
outbox. A dispatcher task takes due rows (one conditional UPDATE each, so several
workers never send one twice), POSTs them with httpx and records the answer: a 2xx
delivers it; anything else is retried after ``backoff_s · 2^(attempt-1)`` (capped at
``max_backoff_s``) up to ``max_attempts``, then it is ``failed`` until an admin sends it
again from the console.

Each request carries::

    Content-Type: application/json
    X-Callcontrol-Event: call.ended
    X-Callcontrol-Delivery: <delivery id>      (the same on every retry: deduplicate on it)
    X-Callcontrol-Timestamp: <unix seconds>
    X-Callcontrol-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

and the body ``{"id", "event", "created_at", "owner", "call_id", "data"}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import or_, select, update

from callcontrol.aio import TaskOwner
from callcontrol.config import WebhookSettings
from callcontrol.store.models import Webhook, WebhookDelivery, new_id
from callcontrol.store.repos import Sessions
from callcontrol.store.writer import Write

log = structlog.get_logger(__name__)

EVENTS = (
    "call.started",
    "call.answered",
    "call.ai_activated",
    "call.transferred",
    "call.ended",
    "call.summary_ready",
    "hitl.requested",
    "hitl.resolved",
)
SIGNATURE = "X-Callcontrol-Signature"
TIMESTAMP = "X-Callcontrol-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, tolerance_s: int = 300
) -> bool:
    """What a receiver does (the README shows it): the signature matches and the
    timestamp is recent (a replayed old request is refused)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Webhooks:
    def __init__(
        self,
        settings: WebhookSettings,
        sessions: Sessions,
        submit: Callable[[Write], None],
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._submit = submit
        self._client = client
        self._own_client = client is None
        self._hooks: list[Webhook] = []
        self._loaded_at = 0.0
        self._wake = asyncio.Event()
        self._tasks = TaskOwner("webhooks")
        self.sent = 0

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.timeout_s, follow_redirects=False
            )
        try:
            await self.reload()
        except Exception as exc:  # noqa: BLE001 - the database may be away; retried later
            log.warning("cannot load webhooks", error=str(exc))
        self._tasks.spawn(self._dispatch_forever(), "dispatch")

    async def stop(self) -> None:
        await self._tasks.aclose()
        if self._own_client and self._client is not None:
            await self._client.aclose()

    async def reload(self) -> None:
        """Read the webhooks again (the console changed them)."""
        async with self._sessions() as s:
            self._hooks = list(
                (await s.execute(select(Webhook).where(Webhook.enabled.is_(True)))).scalars()
            )
        self._loaded_at = time.monotonic()

    # -- producing ------------------------------------------------------------------
    def emit(
        self, event: str, *, owner: str | None, call_id: str | None, data: dict[str, Any]
    ) -> int:
        """Queue ``event`` for every enabled webhook of ``owner`` (and those of every
        owner) that wants it; returns how many deliveries were queued."""
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}")
        now = datetime.now(UTC)
        queued = 0
        for hook in self._hooks:
            if hook.owner not in (None, owner) or (hook.events and event not in hook.events):
                continue
            delivery = new_id()
            payload = {
                "id": delivery,
                "event": event,
                "created_at": now.isoformat(),
                "owner": owner,
                "call_id": call_id,
                "data": data,
            }
            self._submit(
                Write.insert(
                    "webhook_deliveries",
                    id=delivery,
                    webhook_id=hook.id,
                    event=event,
                    call_id=call_id,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            queued += 1
        if queued:
            self._wake.set()
        return queued

    # -- delivering ------------------------------------------------------------------
    async def _dispatch_forever(self) -> None:
        while True:
            try:
                if time.monotonic() - self._loaded_at > self.settings.reload_s:
                    await self.reload()
                busy = await self.dispatch_due()
            except Exception as exc:  # noqa: BLE001 - the database may be away: later
                log.warning("webhook dispatch failed", error=str(exc))
                busy = False
            if busy:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
            except TimeoutError:
                pass

    async def dispatch_due(self, limit: int = 20) -> bool:
        """Send the deliveries that are due; True if there may be more."""
        now = datetime.now(UTC)
        stale = now - timedelta(seconds=self.settings.timeout_s * 4)
        async with self._sessions() as s:
            rows = list(
                (
                    await s.execute(
                        select(WebhookDelivery.id)
                        .where(
                            or_(
                                (WebhookDelivery.status == "pending")
                                & (WebhookDelivery.next_attempt_at <= now),
                                # a worker died while sending: send it again
                                (WebhookDelivery.status == "delivering")
                                & (WebhookDelivery.next_attempt_at <= stale),
                            )
                        )
                        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
                        .limit(limit)
                    )
                ).scalars()
            )
        if not rows:
            return False
        # In order for each webhook (a receiver sees a call's events as they happened);
        # different webhooks in parallel, so one slow receiver does not hold the others.
        per_hook: dict[str, list[tuple[WebhookDelivery, Webhook]]] = {}
        for delivery_id in rows:
            claimed = await self._claim(delivery_id, now)
            if claimed is not None:
                per_hook.setdefault(claimed[1].id, []).append(claimed)

        async def in_order(batch: list[tuple[WebhookDelivery, Webhook]]) -> None:
            for delivery, hook in batch:
                await self._send(delivery, hook)

        await asyncio.gather(*(in_order(batch) for batch in per_hook.values()))
        return len(rows) == limit

    async def _claim(
        self, delivery_id: str, now: datetime
    ) -> tuple[WebhookDelivery, Webhook] | None:
        async with self._sessions() as s:
            result = await s.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status.in_(["pending", "delivering"]),
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(status="delivering", next_attempt_at=now)
            )
            await s.commit()
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            delivery = await s.get(WebhookDelivery, delivery_id, populate_existing=True)
            hook = await s.get(Webhook, delivery.webhook_id) if delivery else None
        if delivery is None:
            return None
        if hook is None:
            await self._finish(delivery, "failed", None, "the webhook was deleted")
            return None
        return delivery, hook

    async def _send(self, delivery: WebhookDelivery, hook: Webhook) -> None:
        assert self._client is not None
        body = json.dumps(delivery.payload, separators=(",", ":"), default=str).encode()
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "callcontrol-webhooks",
            "X-Callcontrol-Event": delivery.event,
            "X-Callcontrol-Delivery": delivery.id,
            TIMESTAMP: str(ts),
            SIGNATURE: sign(hook.secret, ts, body),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(hook.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = delivery.attempts + 1
        if error is None:
            self.sent += 1
            await self._finish(delivery, "delivered", status, None, attempts)
            log.info(
                "webhook delivered", webhook_event=delivery.event, url=hook.url, attempts=attempts
            )
        elif attempts >= self.settings.max_attempts:
            await self._finish(delivery, "failed", status, error, attempts)
            log.warning(
                "webhook failed for good", webhook_event=delivery.event, url=hook.url, error=error
            )
        else:
            delay = min(self.settings.backoff_s * 2 ** (attempts - 1), self.settings.max_backoff_s)
            await self._finish(delivery, "pending", status, error, attempts, delay)
            log.info("webhook not delivered; will retry", url=hook.url, error=error, in_s=delay)

    async def _finish(
        self,
        delivery: WebhookDelivery,
        status: str,
        code: int | None,
        error: str | None,
        attempts: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "status": status,
            "last_status": code,
            "last_error": error,
            "next_attempt_at": now + timedelta(seconds=delay_s),
        }
        if attempts is not None:
            values["attempts"] = attempts
        if status == "delivered":
            values["delivered_at"] = now
        async with self._sessions() as s:
            await s.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
            )
            await s.commit()

    async def resend(self, delivery_id: str) -> bool:
        """Send a delivery again now (the console's button), whatever its status."""
        async with self._sessions() as s:
            result = await s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(status="pending", next_attempt_at=datetime.now(UTC), attempts=0)
            )
            await s.commit()
        self._wake.set()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def wake(self) -> None:
        self._wake.set()
