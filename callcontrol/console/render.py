"""Rendering pages: every template gets the user, their CSRF token and the statuses."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from callcontrol.console.context import Console
from callcontrol.console.deps import Authed
from callcontrol.store.repos import STATUSES


def render(
    request: Request,
    console: Console,
    name: str,
    user: Authed | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "user": user,
        "operator": user.operator if user else None,
        "csrf_token": user.csrf_token if user else "",
        "statuses": STATUSES,
        **context,
    }
    return console.templates.TemplateResponse(request, name, ctx, status_code=status_code)


def safe_next(value: str | None) -> str:
    """A local path to go back to after signing in; anything else goes home."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\r\n\t"):
        return "/"
    return value
