"""Signing in and out."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from callcontrol.console.auth import (
    MAX_PASSWORD_LENGTH,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from callcontrol.console.deps import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ConsoleDep,
    CurrentUser,
    authenticate,
    client_address,
)
from callcontrol.console.limits import LOGIN_BODY_LIMIT
from callcontrol.console.render import render, safe_next
from callcontrol.store.models import ConsoleSession, utcnow

log = structlog.get_logger(__name__)
public = APIRouter()
router = APIRouter()


def _login_page(
    request: Request, console: ConsoleDep, *, next_url: str, error: str | None, status: int
) -> Response:
    token = console.tokens.login_token()
    response = render(
        request,
        console,
        "login.html",
        None,
        status_code=status,
        login_token=token,
        next_url=next_url,
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=console.secure_cookies,
        path="/login",
    )
    return response


@public.get("/login")
async def login_form(request: Request, console: ConsoleDep, next: str = "/") -> Response:
    if await authenticate(request, console) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, console, next_url=safe_next(next), error=None, status=200)


@public.post("/login", max_body_size=LOGIN_BODY_LIMIT)
async def login(
    request: Request,
    console: ConsoleDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    login_token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    next_url = safe_next(next)
    metrics = console.service.metrics
    if not console.tokens.login_token_ok(request.cookies.get(LOGIN_COOKIE), login_token):
        return _login_page(
            request,
            console,
            next_url=next_url,
            error="The sign-in form expired. Please try again.",
            status=403,
        )
    address = client_address(request)
    user_key = f"{username.strip().lower()}|{address}"
    account = username.strip().lower()
    wait = max(
        console.limiter.retry_after(user_key),
        console.address_limiter.retry_after(address),
        console.account_limiter.retry_after(account),
    )
    if wait > 0:
        metrics.console_logins.labels("rate_limited").inc()
        log.warning("sign-in rate limited", username=username[:64], address=address)
        response = _login_page(
            request,
            console,
            next_url=next_url,
            error=f"Too many failed attempts. Try again in {int(wait) + 1} seconds.",
            status=429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    operator = await console.operators.by_username(username.strip())
    ok = await verify_password_async(operator.password_hash if operator else None, password)
    if operator is None or not ok:
        console.limiter.failed(user_key)
        console.address_limiter.failed(address)
        console.account_limiter.failed(account)
        metrics.console_logins.labels("bad_credentials").inc()
        log.info("sign-in refused", username=username[:64], address=address)
        return _login_page(
            request,
            console,
            next_url=next_url,
            error="Wrong username or password.",
            status=401,
        )
    console.limiter.succeeded(user_key)
    console.account_limiter.succeeded(account)
    metrics.console_logins.labels("ok").inc()
    if needs_rehash(operator.password_hash):
        new_hash = await hash_password_async(password)
        await console.operators.update(operator.id, password_hash=new_hash)
    await console.sessions.purge_expired()  # housekeeping, cheap and rare enough here
    cookie, session_id = console.tokens.issue()
    now = utcnow()
    await console.sessions.create(
        ConsoleSession(
            id=session_id,
            operator_id=operator.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(seconds=console.tokens.max_age_s),
            last_seen_at=now,
            ip=address[:64],
            user_agent=request.headers.get("user-agent", "")[:256] or None,
        )
    )
    await console.operators.update(operator.id, last_seen_at=now)
    await console.presence.announce(operator)
    log.info("signed in", username=operator.username, role=operator.role, address=address)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=console.tokens.max_age_s,
        httponly=True,
        samesite="lax",
        secure=console.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(user: CurrentUser, console: ConsoleDep) -> Response:
    await console.end_sessions(session_id=user.session.id)
    await console.presence.set_status(user.operator, "offline")
    log.info("signed out", username=user.username)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
