"""FastAPI dependencies: the console context, the signed-in user, roles and CSRF.

Every router except the public one (/health, /ready, /metrics, /login, /static) is
declared with ``dependencies=[Depends(require_user)]`` (``require_admin`` for /admin),
so a new route is protected by where it is put, not by remembering a decorator.
Unsafe methods (POST, PUT, PATCH, DELETE) must carry the session's CSRF token: in the
``X-CSRF-Token`` header (JSON APIs, fetch, uploads) or, for classic url-encoded
forms, a ``csrf_token`` field; and an ``Origin`` header, when sent, must be the console's own.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from callcontrol.console.context import Console
from callcontrol.errors import DatabaseUnavailable, Forbidden, NotAuthenticated
from callcontrol.store.models import ConsoleSession, Operator, utcnow
from callcontrol.store.repos import aware
from callcontrol.store.writer import is_outage

SESSION_COOKIE = "cc_session"
LOGIN_COOKIE = "cc_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOUCH_EVERY = timedelta(seconds=60)
SESSION_GRACE_S = 15 * 60.0  # how long a verified session is believed without the database


@dataclass(frozen=True, slots=True)
class Authed:
    operator: Operator
    session: ConsoleSession

    @property
    def is_admin(self) -> bool:
        return self.operator.role == "admin"

    @property
    def username(self) -> str:
        return self.operator.username

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


def get_console(conn: HTTPConnection) -> Console:
    console: Console = conn.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def origin_allowed(conn: HTTPConnection, console: Console) -> bool:
    """The ``Origin`` header, if any, names this console (or an allowed origin)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    host = conn.headers.get("host", "")
    own = {f"http://{host}", f"https://{host}"}
    return origin in own or origin in console.settings.console.allowed_origins


async def authenticate(conn: HTTPConnection, console: Console) -> Authed | None:
    """The session behind the request's cookie, if it is valid.

    The session cookie is signed, so while the database is down a session this worker
    has verified in the last ``SESSION_GRACE`` is still believed: operators keep the
    live views and call controls through an outage (issue: every request was a 500)."""
    session_id = console.tokens.session_id(conn.cookies.get(SESSION_COOKIE))
    if session_id is None:
        return None
    cache = console.verified_sessions
    try:
        found = await console.sessions.lookup(session_id)
    except Exception as exc:
        if not is_outage(exc):
            raise
        remembered = cache.get(session_id)
        if remembered is None or time.monotonic() - remembered[0] > SESSION_GRACE_S:
            raise DatabaseUnavailable("sign-in cannot be checked without the database") from exc
        believed: Authed = remembered[1]
        return believed
    if found is None:
        cache.pop(session_id, None)
        return None
    session, operator = found
    authed = Authed(operator, session)
    cache[session_id] = (time.monotonic(), authed)
    if len(cache) > 10_000:
        for stale in list(cache)[:1000]:
            cache.pop(stale, None)
    now = utcnow()
    seen = aware(session.last_seen_at)
    if seen is None or now - seen > _TOUCH_EVERY:
        try:
            await console.sessions.touch(session.id, now)
        except Exception as exc:
            if not is_outage(exc):
                raise
    return authed


async def _csrf_token_sent(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    # Multipart bodies (uploads) must use the header: they are size-checked before parsing.
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def require_user(request: Request, console: ConsoleDep) -> Authed:
    authed = await authenticate(request, console)
    if authed is None:
        raise NotAuthenticated()
    if request.method not in SAFE_METHODS:
        if not origin_allowed(request, console):
            raise Forbidden("cross-origin request refused")
        sent = await _csrf_token_sent(request)
        if sent is None or not secrets.compare_digest(sent, authed.csrf_token):
            raise Forbidden("missing or wrong CSRF token")
    request.state.user = authed
    return authed


async def require_admin(user: Annotated[Authed, Depends(require_user)]) -> Authed:
    if not user.is_admin:
        raise Forbidden("administrators only")
    return user


CurrentUser = Annotated[Authed, Depends(require_user)]
AdminUser = Annotated[Authed, Depends(require_admin)]
