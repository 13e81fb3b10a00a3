"""Administration: console users and the settings admins may change. Admins only."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator, BaseModel, Field

from callcontrol.console import overrides
from callcontrol.console.auth import MAX_PASSWORD_LENGTH, check_password_policy, hash_password_async
from callcontrol.console.deps import AdminUser, ConsoleDep
from callcontrol.console.render import render
from callcontrol.console.views import operator_row
from callcontrol.errors import DuplicateError
from callcontrol.esl.commands import DESTINATION

log = structlog.get_logger(__name__)
router = APIRouter()

USERNAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
Role = Literal["admin", "operator"]


def _check_password(value: str) -> str:
    check_password_policy(value)
    return value


def _check_extension(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not DESTINATION.fullmatch(value.strip()):
        raise ValueError("an extension or number: digits, letters, + * # _ . -")
    return value.strip()


Password = Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH), AfterValidator(_check_password)]
Extension = Annotated[str | None, Field(max_length=64), AfterValidator(_check_extension)]


class NewUser(BaseModel):
    username: str = Field(pattern=USERNAME.pattern)
    password: Password
    role: Role = "operator"
    extension: Extension = None


class EditUser(BaseModel):
    role: Role | None = None
    password: Password | None = None
    extension: Extension = None


OWNER = r"^[A-Za-z0-9_.@+\-]{1,128}$"


class SettingsBody(BaseModel):
    values: dict[str, Any] = Field(max_length=len(overrides.EDITABLE))
    reset: list[str] = Field(default_factory=list, max_length=len(overrides.EDITABLE))
    # one owner's (DID or tenant) own values; none: every owner's
    owner: str | None = Field(None, pattern=OWNER)


@router.get("/admin/users", response_class=HTMLResponse)
async def users_page(request: Request, user: AdminUser, console: ConsoleDep) -> HTMLResponse:
    users = [operator_row(o) for o in await console.operators.list()]
    return render(request, console, "admin_users.html", user, nav="admin", users=users)


@router.get("/api/admin/users")
async def list_users(console: ConsoleDep) -> list[dict[str, Any]]:
    return [operator_row(o) for o in await console.operators.list()]


@router.post("/api/admin/users", status_code=201)
async def add_user(body: NewUser, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    try:
        op = await console.operators.create(
            body.username,
            await hash_password_async(body.password),
            body.role,
            extension=body.extension,
        )
    except DuplicateError as exc:
        raise HTTPException(409, str(exc)) from exc
    log.info("user added", username=op.username, role=op.role, by=user.username)
    return operator_row(op)


@router.put("/api/admin/users/{operator_id}")
async def edit_user(
    operator_id: str, body: EditUser, user: AdminUser, console: ConsoleDep
) -> dict[str, Any]:
    target = await console.operators.get(operator_id[:64])
    if target is None:
        raise HTTPException(404, "no such user")
    values: dict[str, Any] = {}
    if body.role is not None and body.role != target.role:
        if target.role == "admin" and await console.operators.count_admins() <= 1:
            raise HTTPException(409, "the last administrator cannot lose the role")
        values["role"] = body.role
    if "extension" in body.model_fields_set:
        values["extension"] = body.extension
    if body.password is not None:
        values["password_hash"] = await hash_password_async(body.password)
    if not values:
        raise HTTPException(422, "nothing to change")
    op = await console.operators.update(target.id, **values)
    if op is None:
        raise HTTPException(404, "no such user")
    if "password_hash" in values or "role" in values:
        keep = user.session.id if target.id == user.operator.id else None
        await console.end_sessions(operator_id=target.id, keep=keep)
    log.info("user changed", username=op.username, fields=sorted(values), by=user.username)
    return operator_row(op)


@router.delete("/api/admin/users/{operator_id}")
async def delete_user(operator_id: str, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    target = await console.operators.get(operator_id[:64])
    if target is None:
        raise HTTPException(404, "no such user")
    if target.id == user.operator.id:
        raise HTTPException(409, "you cannot remove yourself")
    if target.role == "admin" and await console.operators.count_admins() <= 1:
        raise HTTPException(409, "the last administrator cannot be removed")
    await console.operators.delete(target.id)  # and their sessions
    await console.end_sessions(operator_id=target.id)
    await console.presence.forget(target.id)
    log.info("user removed", username=target.username, by=user.username)
    return {"deleted": target.id}


def _masked_config(console: ConsoleDep) -> str:
    return json.dumps(console.settings.masked(), indent=2, sort_keys=True)


def _shown(item: overrides.Editable, value: Any) -> Any:
    if (value is None or value == "") and item.optional:
        return ""
    return ", ".join(value) if item.kind == "list" else value


async def _settings_view(console: ConsoleDep, owner: str | None = None) -> list[dict[str, Any]]:
    """Every changeable setting: its value (the owner's when it has one), the value it
    falls back to, and whether it is changed here."""
    stored = await console.app_settings.all()
    own = await console.owner_settings.for_owner(owner) if owner else {}
    out = []
    for item in overrides.EDITABLE:
        if owner and not item.per_owner:
            continue
        default = stored.get(item.key, overrides.current(console.settings, item.key))
        if not owner:
            default = overrides.current(console.settings, item.key)
        values = own if owner else stored
        value = values.get(item.key, default)
        out.append(
            {
                "key": item.key,
                "kind": item.kind,
                "label": item.label,
                "value": _shown(item, value),
                "default": _shown(item, default),
                "overridden": item.key in values,
            }
        )
    return out


async def _owners(console: ConsoleDep) -> list[str]:
    """Owners an admin may pick: those with settings, and those with knowledge."""
    names = set(await console.owner_settings.all())
    if console.kb is not None:
        try:
            names.update(d.owner for d in await console.kb.list(None))
        except Exception as exc:  # noqa: BLE001 - the list is a convenience
            log.warning("cannot list the knowledge's owners", error=str(exc))
    return sorted(names)


OwnerQuery = Annotated[str | None, Query(max_length=128, pattern=OWNER)]


@router.get("/admin/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, user: AdminUser, console: ConsoleDep, owner: OwnerQuery = None
) -> HTMLResponse:
    return render(
        request,
        console,
        "admin_settings.html",
        user,
        nav="admin",
        editable=await _settings_view(console, owner or None),
        owner=owner or "",
        owners=await _owners(console),
        config=_masked_config(console),
    )


@router.get("/api/admin/settings")
async def get_settings(console: ConsoleDep, owner: OwnerQuery = None) -> list[dict[str, Any]]:
    return await _settings_view(console, owner or None)


@router.get("/api/admin/owners")
async def list_owners(console: ConsoleDep) -> list[str]:
    return await _owners(console)


@router.put("/api/admin/settings")
async def put_settings(
    body: SettingsBody, user: AdminUser, console: ConsoleDep
) -> list[dict[str, Any]]:
    checked: dict[str, Any] = {}
    owner = body.owner
    try:
        for key in [*body.values, *body.reset]:
            item = overrides.BY_KEY.get(key)
            if item is None:
                raise ValueError(f"{key} cannot be changed from the console")
            if owner and not item.per_owner:
                raise ValueError(f"{key} is the same for every owner")
        for key, value in body.values.items():
            checked[key] = overrides.validate(console.settings, key, value)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    bus = console.service.bus
    for key, value in checked.items():
        if owner:
            await console.owner_settings.set(owner, key, value, by=user.username)
        else:
            await console.app_settings.set(key, value)
        await bus.publish(overrides.SETTINGS_TOPIC, {"key": key, "value": value, "owner": owner})
    for key in body.reset:
        if owner:
            await console.owner_settings.delete(owner, key)
        else:
            await console.app_settings.delete(key)
        await bus.publish(overrides.SETTINGS_TOPIC, {"key": key, "value": None, "owner": owner})
    log.info(
        "settings changed", keys=sorted(checked), reset=body.reset, owner=owner, by=user.username
    )
    return await _settings_view(console, owner)
