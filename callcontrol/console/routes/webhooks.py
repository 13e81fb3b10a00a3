"""Webhooks in the console (admins): add, enable/disable, delete; the delivery log with
each attempt's answer, and sending a delivery again."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import delete, select

from callcontrol.console.deps import AdminUser, ConsoleDep
from callcontrol.console.render import render
from callcontrol.store.models import Webhook, WebhookDelivery
from callcontrol.webhooks import EVENTS, new_secret

log = structlog.get_logger(__name__)
router = APIRouter()

OWNER = r"^[A-Za-z0-9_.@+\-]{1,128}$"


def _check_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is http:// or https:// with a host")
    if parts.username or parts.password:
        raise ValueError("no credentials in the URL: the request is signed instead")
    return value


def _check_events(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown events {unknown}; known: {', '.join(EVENTS)}")
    return sorted(set(value), key=EVENTS.index)


class NewWebhook(BaseModel):
    url: Annotated[str, Field(max_length=2000), AfterValidator(_check_url)]
    owner: str | None = Field(None, pattern=OWNER)
    events: Annotated[list[str], Field(max_length=len(EVENTS)), AfterValidator(_check_events)] = (
        Field(default_factory=list)
    )


class EditWebhook(BaseModel):
    enabled: bool


def webhook_view(hook: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    return {
        "id": hook.id,
        "owner": hook.owner,
        "url": hook.url,
        "events": hook.events,
        "enabled": hook.enabled,
        "created_by": hook.created_by,
        "created_at": hook.created_at.isoformat() if hook.created_at else None,
        "secret": hook.secret if with_secret else hook.secret[:4] + "…",
    }


def delivery_view(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event": d.event,
        "call_id": d.call_id,
        "status": d.status,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": d.created_at.isoformat() if d.created_at else None,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
    }


async def _hooks(console: ConsoleDep) -> list[Webhook]:
    async with console.service.sessions() as s:
        return list((await s.execute(select(Webhook).order_by(Webhook.created_at))).scalars())


async def _deliveries(
    console: ConsoleDep, status: str | None = None, limit: int = 200
) -> list[WebhookDelivery]:
    async with console.service.sessions() as s:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc()).limit(limit)
        if status:
            stmt = stmt.where(WebhookDelivery.status == status)
        return list((await s.execute(stmt)).scalars())


@router.get("/admin/webhooks", response_class=HTMLResponse)
async def webhooks_page(request: Request, user: AdminUser, console: ConsoleDep) -> HTMLResponse:
    return render(
        request,
        console,
        "admin_webhooks.html",
        user,
        nav="admin",
        hooks=[webhook_view(h) for h in await _hooks(console)],
        deliveries=[delivery_view(d) for d in await _deliveries(console, limit=100)],
        events=EVENTS,
    )


@router.get("/api/admin/webhooks")
async def list_webhooks(console: ConsoleDep) -> list[dict[str, Any]]:
    return [webhook_view(h) for h in await _hooks(console)]


@router.post("/api/admin/webhooks", status_code=201)
async def add_webhook(body: NewWebhook, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    """The secret is shown once, here: the receiver needs it to check signatures."""
    hook = Webhook(
        owner=body.owner,
        url=body.url,
        secret=new_secret(),
        events=body.events,
        created_by=user.username,
    )
    async with console.service.sessions() as s:
        s.add(hook)
        await s.commit()
        await s.refresh(hook)
    await console.service.webhooks.reload()
    log.info("webhook added", url=body.url, owner=body.owner, by=user.username)
    return webhook_view(hook, with_secret=True)


@router.put("/api/admin/webhooks/{hook_id}")
async def edit_webhook(
    hook_id: str, body: EditWebhook, user: AdminUser, console: ConsoleDep
) -> dict[str, Any]:
    async with console.service.sessions() as s:
        hook = await s.get(Webhook, hook_id[:64])
        if hook is None:
            raise HTTPException(404, "no such webhook")
        hook.enabled = body.enabled
        await s.commit()
        await s.refresh(hook)
    await console.service.webhooks.reload()
    log.info("webhook changed", webhook=hook_id, enabled=body.enabled, by=user.username)
    return webhook_view(hook)


@router.delete("/api/admin/webhooks/{hook_id}")
async def delete_webhook(hook_id: str, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    async with console.service.sessions() as s:
        result = await s.execute(delete(Webhook).where(Webhook.id == hook_id[:64]))
        await s.commit()
    if not result.rowcount:  # type: ignore[attr-defined]
        raise HTTPException(404, "no such webhook")
    await console.service.webhooks.reload()
    log.info("webhook deleted", webhook=hook_id, by=user.username)
    return {"deleted": hook_id}


@router.get("/api/admin/webhooks/deliveries")
async def list_deliveries(
    console: ConsoleDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    return [delivery_view(d) for d in await _deliveries(console, status, limit)]


@router.post("/api/admin/webhooks/deliveries/{delivery_id}/resend")
async def resend(delivery_id: str, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    if not await console.service.webhooks.resend(delivery_id[:64]):
        raise HTTPException(404, "no such delivery")
    log.info("webhook delivery sent again", delivery=delivery_id, by=user.username)
    return {"resent": delivery_id}
