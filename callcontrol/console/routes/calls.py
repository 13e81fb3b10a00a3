"""Live calls, one call's page (live or past), its recording, and call actions."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render
from callcontrol.console.views import (
    call_view,
    cdr_view,
    event_view,
    hitl_view,
    leg_view,
    turn_view,
)
from callcontrol.errors import CallError, EslError, EslNotConnectedError
from callcontrol.esl.commands import CALL_ID_PATTERN
from callcontrol.store.history_repo import CallDetail
from callcontrol.store.models import Recording

log = structlog.get_logger(__name__)
router = APIRouter()

CallId = Annotated[str, PathParam(max_length=64, pattern=CALL_ID_PATTERN)]


class TransferBody(BaseModel):
    destination: str = Field(min_length=1, max_length=64)
    context: str | None = Field(None, max_length=64)


class TakeoverBody(BaseModel):
    target: str | None = Field(None, max_length=64)


@router.get("/calls", response_class=HTMLResponse)
async def live_page(request: Request, user: CurrentUser, console: ConsoleDep) -> HTMLResponse:
    return render(request, console, "live.html", user, nav="calls")


def _detail_json(detail: CallDetail, live: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "call": call_view(detail.call) if detail.call else None,
        "live": live,
        "cdr": cdr_view(detail.cdr) if detail.cdr else None,
        "legs": [leg_view(leg) for leg in detail.legs],
        "turns": [turn_view(t) for t in detail.turns],
        "events": [event_view(e) for e in detail.events],
        "hitl": [hitl_view(h) for h in detail.hitl],
    }


async def _load(console: ConsoleDep, call_id: str) -> tuple[CallDetail, dict[str, Any] | None]:
    detail = await console.calls.detail(call_id)
    live = await console.service.live.get("calls", call_id)
    if not detail.found and live is None:
        raise HTTPException(404, "no such call")
    return detail, live


@router.get("/calls/{call_id}", response_class=HTMLResponse)
async def call_page(
    request: Request, call_id: CallId, user: CurrentUser, console: ConsoleDep
) -> HTMLResponse:
    detail, live = await _load(console, call_id)
    data = _detail_json(detail, live)
    return render(
        request,
        console,
        "call.html",
        user,
        nav="calls",
        call_id=call_id,
        data=data,
        active=live is not None and live.get("state") != "hangup",
        has_recording=await _recorded(console, call_id),
        transfer_context=console.settings.console.transfer_context,
    )


async def _recorded(console: ConsoleDep, call_id: str) -> bool:
    async with console.service.sessions() as s:
        return await s.get(Recording, call_id) is not None


@router.get("/api/calls/active")
async def active_calls(console: ConsoleDep) -> list[dict[str, Any]]:
    calls = await console.service.live.all("calls")
    return sorted(calls.values(), key=lambda c: str(c.get("created_at", "")))


@router.get("/api/calls/{call_id}")
async def call_json(call_id: CallId, console: ConsoleDep) -> dict[str, Any]:
    detail, live = await _load(console, call_id)
    return _detail_json(detail, live)


async def _act(call_id: str, coro: Any) -> dict[str, Any]:
    try:
        result = await coro
    except EslNotConnectedError as exc:
        raise HTTPException(503, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    except (CallError, EslError) as exc:
        raise HTTPException(409, str(exc)) from exc
    return {"ok": True, "call_id": call_id, "result": result}


@router.post("/api/calls/{call_id}/hangup")
async def hangup(call_id: CallId, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    return await _act(call_id, console.actions.hangup(call_id, by=user.username))


@router.post("/api/calls/{call_id}/transfer")
async def transfer(
    call_id: CallId, body: TransferBody, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    context = body.context or console.settings.console.transfer_context
    return await _act(
        call_id,
        console.actions.transfer(call_id, body.destination, by=user.username, context=context),
    )


@router.post("/api/calls/{call_id}/takeover")
async def takeover(
    call_id: CallId, body: TakeoverBody, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    target = (body.target or "").strip() or user.operator.extension
    if not target:
        raise HTTPException(422, "no extension or number: set your extension in your profile")
    live = await console.service.live.get("calls", call_id)
    caller = live.get("caller") if live else None
    result = await _act(
        call_id,
        console.actions.take_over(
            call_id,
            target,
            by=user.username,
            caller_number=caller if isinstance(caller, str) else None,
        ),
    )
    await console.presence.took_over(user.operator, call_id)
    return result
