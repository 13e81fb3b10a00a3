"""The human-in-the-loop queue, answers, and the unresolved (follow-up) list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, field_validator

from callcontrol.console.context import Console
from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render
from callcontrol.console.views import hitl_view
from callcontrol.errors import (
    CallArgumentError,
    CallControlError,
    CallError,
    EslError,
    EslNotConnectedError,
)
from callcontrol.esl.commands import check_destination
from callcontrol.hitl.desk import MAX_ANSWER_CHARS
from callcontrol.live import topics
from callcontrol.store.models import HitlRequest
from callcontrol.store.repos import FOLLOWUP_STATUSES, OPEN_FOLLOWUPS

log = structlog.get_logger(__name__)
router = APIRouter()

DEFAULT_KB_OWNER = "default"
RequestId = Annotated[str, Field(max_length=64)]


class AnswerBody(BaseModel):
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    save_to_kb: bool = False
    kb_title: str | None = Field(None, max_length=200)


FollowupStatus = Literal["unresolved", "noted", "contacted", "resolved"]
Show = Literal["open", "all", "unresolved", "noted", "contacted", "resolved"]


class FollowupBody(BaseModel):
    status: FollowupStatus | None = None
    notes: str | None = Field(None, max_length=10_000)
    required: bool | None = None
    # where to call back; "" goes back to the caller's number
    phone: str | None = Field(None, max_length=64)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return value if value is None else ""
        return check_destination(value)


def _statuses(show: Show) -> tuple[str, ...]:
    if show == "all":
        return FOLLOWUP_STATUSES
    if show == "open":
        return OPEN_FOLLOWUPS
    return (show,)


@router.get("/hitl", response_class=HTMLResponse)
async def queue_page(request: Request, user: CurrentUser, console: ConsoleDep) -> HTMLResponse:
    return render(request, console, "hitl.html", user, nav="hitl")


@router.get("/hitl/unresolved", response_class=HTMLResponse)
async def unresolved_page(
    request: Request,
    user: CurrentUser,
    console: ConsoleDep,
    show: Annotated[Show, Query()] = "open",
) -> HTMLResponse:
    rows = await console.hitl.list(_statuses(show))
    return render(
        request,
        console,
        "unresolved.html",
        user,
        nav="unresolved",
        rows=[hitl_view(r) for r in rows],
        show=show,
    )


@router.get("/api/hitl/waiting")
async def waiting(console: ConsoleDep) -> list[dict[str, Any]]:
    return await console.service.desk.waiting()


@router.get("/api/hitl/unresolved")
async def unresolved(
    console: ConsoleDep, show: Annotated[Show, Query()] = "open"
) -> list[dict[str, Any]]:
    return [hitl_view(r) for r in await console.hitl.list(_statuses(show))]


@router.get("/api/hitl/open-count")
async def open_count(console: ConsoleDep) -> dict[str, int]:
    """Follow-ups nobody has closed (the navigation's badge)."""
    return {"open": await console.hitl.count_open()}


async def _save_to_kb(
    console: ConsoleDep, row: dict[str, Any], answer: str, title: str | None
) -> tuple[bool, str | None]:
    kb = console.kb
    if kb is None:
        return False, "the knowledge base is not configured"
    question = str(row.get("question") or "").strip()
    owner = str(row.get("owner") or DEFAULT_KB_OWNER)
    doc_title = (title or question or "Operator answer").strip()[:200]
    try:
        doc = await kb.add(owner, doc_title, f"{question}\n{answer}".strip(), source="hitl")
    except (CallControlError, ValueError) as exc:
        return False, str(exc)
    try:  # for the dashboard's "saved to the knowledge base" share
        await console.service.flush()  # the answered row is written before it is marked
        await console.hitl.saved_to_kb(str(row.get("id")), doc.id)
    except Exception as exc:  # noqa: BLE001 - the document is saved; only the figure misses it
        log.warning("cannot mark the request as saved to the knowledge base", error=str(exc))
    return True, None


@router.post("/api/hitl/{request_id}/answer")
async def answer(
    request_id: str, body: AnswerBody, user: CurrentUser, console: ConsoleDep
) -> JSONResponse:
    if len(request_id) > 64:
        raise HTTPException(404, "no such request")
    desk = console.service.desk
    try:
        result = await desk.answer(
            request_id, body.answer, operator=user.username, operator_id=user.operator.id
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if result.status == "gone":
        stored = await console.hitl.get(request_id)
        if stored is None:
            raise HTTPException(404, "no such request")
        return JSONResponse(
            {
                "status": "closed",
                "detail": "this request is not waiting any more",
                "row": hitl_view(stored),
            },
            status_code=409,
        )
    if result.status == "conflict":
        return JSONResponse(
            {
                "status": "closed",
                "detail": "someone else answered, or the caller left",
                "row": result.row,
            },
            status_code=409,
        )
    if result.status == "unconfirmed":
        return JSONResponse({"status": "sent"}, status_code=202)
    row = result.row or {}
    saved, kb_error = (None, None)
    if body.save_to_kb:
        saved, kb_error = await _save_to_kb(console, row, body.answer.strip(), body.kb_title)
    log.info("hitl answered", request=request_id, operator=user.username, saved_to_kb=saved)
    return JSONResponse(
        {"status": "answered", "row": row, "saved_to_kb": saved, "kb_error": kb_error}
    )


@router.post("/api/hitl/{request_id}/followup")
async def followup(
    request_id: str, body: FollowupBody, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    if body.model_dump(exclude_none=True) == {}:
        raise HTTPException(422, "give a status, notes, required or phone")
    row = await console.hitl.follow_up(
        request_id[:64],
        by=user.username,
        status=body.status,
        notes=body.notes,
        required=body.required,
        phone=body.phone,
    )
    if row is None:
        raise HTTPException(404, "no such unresolved request")
    view = await _announce(console, row)
    if body.status == "resolved":
        console.service.desk.notify("hitl.resolved", view)
    return view


async def _announce(console: Console, row: HitlRequest) -> dict[str, Any]:
    view = hitl_view(row)
    try:
        await console.service.bus.publish(topics.HITL, view)
    except Exception as exc:  # noqa: BLE001 - the change is stored; live view is best effort
        log.warning("cannot publish follow-up", error=str(exc))
    return view


@router.get("/api/hitl/{request_id}/voicemail")
async def voicemail(request_id: str, user: CurrentUser, console: ConsoleDep) -> FileResponse:
    """The caller's message left on a follow-up (WAV)."""
    row = await console.hitl.get(request_id[:64])
    folder = console.service.desk.voicemail_dir
    if row is None or not row.voicemail_path or folder is None:
        raise HTTPException(404, "no voicemail")
    path = (folder / row.voicemail_path).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise HTTPException(404, "no voicemail")
    log.info("voicemail played", request=row.id, operator=user.username)
    return FileResponse(path, media_type="audio/wav", filename=f"voicemail-{row.id}.wav")


@router.post("/api/hitl/{request_id}/callback")
async def call_back(request_id: str, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    """Ring the operator's phone; once they answer, call the follow-up number and bridge.

    The new call is linked to the follow-up (its ``callbacks``), which is marked
    ``contacted``."""
    row = await console.hitl.get(request_id[:64])
    if row is None or row.status not in FOLLOWUP_STATUSES:
        raise HTTPException(404, "no such follow-up")
    number = row.followup_phone or row.caller_number
    if not number:
        raise HTTPException(422, "no number to call back: set the follow-up phone")
    extension = user.operator.extension
    if not extension:
        raise HTTPException(422, "no extension: set your extension in your profile")
    try:
        call_id = await console.actions.call_back(
            number, extension, by=user.username, followup_id=row.id
        )
    except (CallArgumentError, ValueError) as exc:  # a number or extension FreeSWITCH would misread
        raise HTTPException(422, str(exc)) from exc
    except EslNotConnectedError as exc:
        raise HTTPException(503, str(exc)) from exc
    except (CallError, EslError) as exc:
        raise HTTPException(409, str(exc)) from exc
    await console.hitl.add_callback(row.id, call_id)
    updated = await console.hitl.follow_up(row.id, by=user.username, status="contacted")
    view = await _announce(console, updated or row)
    return {"call_id": call_id, "row": view}
