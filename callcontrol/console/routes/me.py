"""The signed-in operator: status, extension, password."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from callcontrol.console.auth import (
    MAX_PASSWORD_LENGTH,
    check_password_policy,
    hash_password_async,
    verify_password_async,
)
from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render
from callcontrol.console.views import operator_row
from callcontrol.esl.commands import DESTINATION

log = structlog.get_logger(__name__)
router = APIRouter()


class StatusBody(BaseModel):
    status: Literal["available", "busy", "away", "offline"]


@router.get("/api/me")
async def me(user: CurrentUser) -> dict[str, Any]:
    return operator_row(user.operator)


@router.put("/api/me/status")
async def set_status(body: StatusBody, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    op = await console.presence.set_status(user.operator, body.status)
    return operator_row(op)


@router.get("/profile", response_class=HTMLResponse)
async def profile(
    request: Request, user: CurrentUser, console: ConsoleDep, saved: str = ""
) -> HTMLResponse:
    return render(request, console, "profile.html", user, nav="profile", saved=saved[:20])


@router.post("/profile")
async def save_profile(
    user: CurrentUser,
    console: ConsoleDep,
    extension: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    value = extension.strip() or None
    if value is not None and not DESTINATION.fullmatch(value):
        raise HTTPException(422, "an extension or number: digits, letters, + * # _ . -")
    await console.operators.update(user.operator.id, extension=value)
    return RedirectResponse("/profile?saved=profile", status_code=303)


@router.post("/profile/password")
async def change_password(
    request: Request,
    user: CurrentUser,
    console: ConsoleDep,
    current: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    new: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    confirm: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
) -> Response:
    error = None
    if not await verify_password_async(user.operator.password_hash, current):
        error = "Your current password is not right."
    elif new != confirm:
        error = "The new passwords differ."
    else:
        try:
            check_password_policy(new)
        except ValueError as exc:
            error = str(exc)
    if error:
        return render(
            request, console, "profile.html", user, nav="profile", error=error, status_code=422
        )
    await console.operators.update(user.operator.id, password_hash=await hash_password_async(new))
    ended = await console.end_sessions(operator_id=user.operator.id, keep=user.session.id)
    log.info("password changed", username=user.username, other_sessions_ended=ended)
    return RedirectResponse("/profile?saved=password", status_code=303)
