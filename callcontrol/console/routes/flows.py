"""Scripted flows in the console: list, check a document (every problem with where it
is, and what will fall back), save it for an owner, read it, delete it."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, Field

from callcontrol.console.deps import AdminUser, ConsoleDep, CurrentUser
from callcontrol.console.render import render
from callcontrol.flows.model import FlowError, parse, warnings
from callcontrol.flows.store import FlowStore
from callcontrol.store.models import FlowDocument

log = structlog.get_logger(__name__)
router = APIRouter()

MAX_FLOW_CHARS = 200_000


class FlowBody(BaseModel):
    document: str = Field(min_length=1, max_length=MAX_FLOW_CHARS)
    owner: str = Field("", pattern=r"^[A-Za-z0-9_.@+\-]{0,128}$")
    languages: list[str] = Field(default_factory=list, max_length=20)
    fields: list[str] = Field(default_factory=list, max_length=200)


def _store(console: ConsoleDep) -> FlowStore:
    return FlowStore(console.service.sessions)


def flow_view(row: FlowDocument) -> dict[str, Any]:
    try:
        flow = parse(row.document)
        nodes, languages, valid = len(flow.nodes), sorted(flow.languages()), True
    except FlowError:
        nodes, languages, valid = 0, [], False
    return {
        "id": row.id,
        "name": row.name,
        "owner": row.owner or None,
        "nodes": nodes,
        "languages": languages,
        "valid": valid,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _check(body: FlowBody) -> tuple[Any, list[str]]:
    try:
        flow = parse(body.document)
    except FlowError as exc:
        raise HTTPException(422, {"problems": exc.problems}) from exc
    return flow, warnings(flow, body.languages, body.fields)


@router.get("/flows", response_class=HTMLResponse)
async def flows_page(request: Request, user: CurrentUser, console: ConsoleDep) -> HTMLResponse:
    items = [flow_view(row) for row in await _store(console).all()]
    return render(request, console, "flows.html", user, nav="campaigns", flows=items)


@router.get("/api/flows")
async def list_flows(console: ConsoleDep) -> list[dict[str, Any]]:
    return [flow_view(row) for row in await _store(console).all()]


@router.post("/api/flows/check")
async def check_flow(body: FlowBody) -> dict[str, Any]:
    flow, found = _check(body)
    return {"name": flow.name, "nodes": len(flow.nodes), "warnings": found}


@router.post("/api/flows", status_code=201)
async def save_flow(body: FlowBody, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    _flow, found = _check(body)
    row = await _store(console).save(body.document, owner=body.owner, created_by=user.username)
    log.info("flow saved", flow=row.name, owner=row.owner or None, by=user.username)
    return {**flow_view(row), "warnings": found}


@router.get("/api/flows/{flow_id}", response_class=PlainTextResponse)
async def get_flow(flow_id: str, console: ConsoleDep) -> str:
    try:
        return (await _store(console).get(flow_id[:64])).document
    except LookupError as exc:
        raise HTTPException(404, "no such flow") from exc


@router.delete("/api/flows/{flow_id}")
async def delete_flow(flow_id: str, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    if not await _store(console).delete(flow_id[:64]):
        raise HTTPException(404, "no such flow")
    log.info("flow deleted", flow=flow_id, by=user.username)
    return {"deleted": flow_id}
