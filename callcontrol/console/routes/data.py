"""Data protection in the console (admins): purge what is past retention now, and erase
one caller's data (the request an owner receives), each written to the audit log."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from callcontrol.console.deps import AdminUser, ConsoleDep
from callcontrol.console.render import render
from callcontrol.retention import Retention
from callcontrol.store.models import AuditEntry

log = structlog.get_logger(__name__)
router = APIRouter()


class EraseBody(BaseModel):
    number: str = Field(min_length=3, max_length=64, pattern=r"^\+?[0-9*#]{3,64}$")


def _retention(console: ConsoleDep) -> Retention:
    retention = console.service.retention
    if retention is None:
        raise HTTPException(503, "the worker is starting")
    return retention


@router.get("/admin/data", response_class=HTMLResponse)
async def data_page(request: Request, user: AdminUser, console: ConsoleDep) -> HTMLResponse:
    retention = _retention(console)
    return render(
        request,
        console,
        "admin_data.html",
        user,
        nav="admin",
        limits=console.settings.retention.model_dump(),
        last=asdict(retention.last) if retention.last else None,
    )


@router.post("/api/admin/retention/purge")
async def purge_now(user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    result = await _retention(console).purge()
    async with console.service.sessions() as s:
        s.add(AuditEntry(username=user.username, action="purge", detail=asdict(result)))
        await s.commit()
    return asdict(result)


@router.post("/api/admin/erase")
async def erase(body: EraseBody, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    try:
        return await _retention(console).erase_number(body.number, by=user.username)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
