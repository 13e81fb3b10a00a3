"""Outbound campaigns in the console: create, upload contacts (CSV/XLSX, every row or
none, with row errors), start/pause/resume/stop, live counts per status, contacts with
their history, "call now", export; the do-not-call lists."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from callcontrol.campaigns.store import CampaignError, campaign_view, contact_view
from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render

log = structlog.get_logger(__name__)
router = APIRouter()

MAX_CONTACTS_BYTES = 20 * 1024 * 1024
OWNER = r"^[A-Za-z0-9_.@+\-]{1,128}$"
TIME = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"


class Retry(BaseModel):
    count: int = Field(0, ge=0, le=20)
    after_s: float = Field(600.0, ge=0, le=30 * 86400)


class Window(BaseModel):
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], max_length=7)
    start: str = Field("09:00", pattern=TIME)
    end: str = Field("20:00", pattern=TIME)


class NewCampaign(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    owner: str | None = Field(None, pattern=OWNER)
    dialstring: str = Field(
        "sofia/gateway/pstn/{number}", min_length=3, max_length=300, pattern=r"\{(number|digits)\}"
    )
    caller_id: str | None = Field(None, max_length=64, pattern=r"^\+?[0-9]{2,32}$")
    region: str = Field("US", pattern=r"^[A-Za-z]{2}$")
    timezone: str = Field("UTC", max_length=64)
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$")
    windows: Window = Field(default_factory=Window)
    holidays: list[str] = Field(default_factory=list, max_length=400)
    cps: float = Field(1.0, gt=0, le=50)
    max_concurrent: int = Field(5, ge=1, le=500)
    ring_s: int = Field(30, ge=5, le=120)
    retries: dict[Literal["busy", "no_answer", "failed", "voicemail"], Retry] = Field(
        default_factory=dict
    )
    priority: int = Field(0, ge=-100, le=100)
    end_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    flow: str | None = Field(None, max_length=100)  # a stored flow's name: what calls play


class CallNow(BaseModel):
    contact_ids: list[str] = Field(min_length=1, max_length=1000)


class DncBody(BaseModel):
    number: str = Field(min_length=3, max_length=64)
    owner: str = Field("", pattern=r"^[A-Za-z0-9_.@+\-]{0,128}$")
    region: str = Field("US", pattern=r"^[A-Za-z]{2}$")
    reason: str | None = Field(None, max_length=200)


def _campaigns(console: ConsoleDep) -> Any:
    return console.service.campaigns


async def _get(console: ConsoleDep, campaign_id: str) -> Any:
    try:
        return await _campaigns(console).get(campaign_id[:64])
    except LookupError as exc:
        raise HTTPException(404, "no such campaign") from exc


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns_page(request: Request, user: CurrentUser, console: ConsoleDep) -> HTMLResponse:
    store = _campaigns(console)
    items = [campaign_view(c, await store.counts(c.id)) for c in await store.all()]
    return render(request, console, "campaigns.html", user, nav="campaigns", campaigns=items)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign_page(
    request: Request, campaign_id: str, user: CurrentUser, console: ConsoleDep
) -> HTMLResponse:
    campaign = await _get(console, campaign_id)
    store = _campaigns(console)
    return render(
        request,
        console,
        "campaign.html",
        user,
        nav="campaigns",
        campaign=campaign_view(campaign, await store.counts(campaign.id)),
        contacts=[contact_view(c) for c in await store.contacts(campaign.id, limit=200)],
    )


@router.get("/api/campaigns")
async def list_campaigns(console: ConsoleDep) -> list[dict[str, Any]]:
    store = _campaigns(console)
    return [campaign_view(c, await store.counts(c.id)) for c in await store.all()]


@router.post("/api/campaigns", status_code=201)
async def create_campaign(
    body: NewCampaign, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(body.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise HTTPException(422, f"unknown time zone {body.timezone!r}") from exc
    values = body.model_dump(exclude={"flow"})
    if body.flow:
        from callcontrol.flows.store import FlowStore

        found = await FlowStore(console.service.sessions).find(body.flow, body.owner)
        if found is None:
            raise HTTPException(422, f"no flow named {body.flow!r} for this owner")
        values["flow_id"] = found.id
    values["windows"] = body.windows.model_dump()
    values["retries"] = {k: v.model_dump() for k, v in body.retries.items()}
    values["region"] = body.region.upper()
    campaign = await _campaigns(console).create(created_by=user.username, **values)
    log.info("campaign created", campaign=campaign.id, name=body.name, by=user.username)
    return campaign_view(campaign)


@router.get("/api/campaigns/{campaign_id}")
async def get_campaign(campaign_id: str, console: ConsoleDep) -> dict[str, Any]:
    campaign = await _get(console, campaign_id)
    return campaign_view(campaign, await _campaigns(console).counts(campaign.id))


@router.post(
    "/api/campaigns/{campaign_id}/contacts", status_code=201, max_body_size=MAX_CONTACTS_BYTES
)
async def upload_contacts(
    request: Request, campaign_id: str, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    """A CSV or XLSX file (multipart field ``file``)."""
    await _get(console, campaign_id)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "send multipart/form-data with a file field")
    form = await request.form(max_files=1, max_fields=5, max_part_size=4096)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise HTTPException(422, "no file: send the contacts as the multipart field 'file'")
    data = await file.read(MAX_CONTACTS_BYTES + 1)
    if len(data) > MAX_CONTACTS_BYTES:
        raise HTTPException(413, "at most 20 MB of contacts per file")
    name = re.sub(r"[^\w.\- ]", "_", file.filename or "contacts.csv")[:255]
    result = await _campaigns(console).upload(campaign_id, data, name, by=user.username)
    log.info(
        "contacts uploaded",
        campaign=campaign_id,
        added=result.added,
        merged=result.merged,
        failed=result.failed,
        by=user.username,
    )
    body = {
        "upload_id": result.upload_id,
        "rows": result.rows,
        "added": result.added,
        "merged": result.merged,
        "failed": result.failed,
        "errors": result.errors,
    }
    if result.failed:
        raise HTTPException(422, body)
    return body


@router.get("/api/campaigns/{campaign_id}/contacts")
async def list_contacts(
    campaign_id: str,
    console: ConsoleDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    await _get(console, campaign_id)
    try:
        contacts = await _campaigns(console).contacts(campaign_id, status, limit)
    except CampaignError as exc:
        raise HTTPException(422, str(exc)) from exc
    return [contact_view(c) for c in contacts]


@router.get("/api/contacts/{contact_id}/history")
async def contact_history(contact_id: str, console: ConsoleDep) -> list[dict[str, Any]]:
    events = await _campaigns(console).history(contact_id[:64])
    return [
        {
            "at": e.at.isoformat(),
            "from": e.from_status,
            "to": e.to_status,
            "call_id": e.call_id,
            "cause": e.cause,
        }
        for e in events
    ]


@router.post("/api/campaigns/{campaign_id}/call-now")
async def call_now(
    campaign_id: str, body: CallNow, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    await _get(console, campaign_id)
    count = await _campaigns(console).call_now(campaign_id, body.contact_ids)
    if console.service.dialer is not None:
        console.service.dialer.wake()
    log.info("call now", campaign=campaign_id, contacts=count, by=user.username)
    return {"due_now": count}


@router.get("/api/campaigns/{campaign_id}/export.csv")
async def export(campaign_id: str, console: ConsoleDep) -> Response:
    await _get(console, campaign_id)
    text = await _campaigns(console).export_csv(campaign_id)
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )


@router.get("/api/dnc")
async def dnc_list(
    console: ConsoleDep, owner: Annotated[str | None, Query(max_length=128)] = None
) -> list[dict[str, Any]]:
    rows = await _campaigns(console).dnc_list(owner)
    return [
        {
            "phone": r.phone,
            "owner": r.owner,
            "reason": r.reason,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


@router.post("/api/dnc", status_code=201)
async def dnc_add(body: DncBody, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    try:
        phone = await _campaigns(console).dnc_add(
            body.number, owner=body.owner, region=body.region, reason=body.reason, by=user.username
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    log.info("do-not-call added", owner=body.owner or "every owner", by=user.username)
    return {"phone": phone, "owner": body.owner}


@router.delete("/api/dnc")
async def dnc_remove(body: DncBody, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    try:
        removed = await _campaigns(console).dnc_remove(
            body.number, owner=body.owner, region=body.region
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if not removed:
        raise HTTPException(404, "not on that list")
    return {"removed": True}


# Last: it would take /contacts, /call-now… as actions otherwise.
@router.post("/api/campaigns/{campaign_id}/{action}")
async def change_campaign(
    campaign_id: str,
    action: Literal["start", "pause", "resume", "stop"],
    user: CurrentUser,
    console: ConsoleDep,
) -> dict[str, Any]:
    await _get(console, campaign_id)
    try:
        campaign = await _campaigns(console).change(campaign_id, action)
    except CampaignError as exc:
        raise HTTPException(409, str(exc)) from exc
    if console.service.dialer is not None:
        console.service.dialer.wake()
    log.info("campaign", action=action, campaign=campaign_id, by=user.username)
    return campaign_view(campaign, await _campaigns(console).counts(campaign_id))
