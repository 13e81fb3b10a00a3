"""The HTTP face of a worker: the operator console, /health, /ready and /metrics.

``create_app(service)`` builds the FastAPI app around a started
:class:`~callcontrol.app.Service`. Nothing happens at import time.

Access: /health, /ready, /metrics (see ``console.metrics_public``), /login and
/static are public; every other page, API route and websocket needs a session
(routers declared with ``require_user``; /admin with ``require_admin``; websockets
check by hand). Pages without a session redirect to /login; /api answers 401.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callcontrol.console.context import STATIC, Console
from callcontrol.console.deps import require_admin, require_user
from callcontrol.console.limits import DEFAULT_BODY_LIMIT, FORM_LIMITS, RejectNul
from callcontrol.console.routes import (
    admin,
    auth,
    calls,
    campaigns,
    dashboard,
    data,
    flows,
    history,
    hitl,
    kb,
    me,
    postcall,
    recordings,
    sockets,
    system,
    talk,
    webhooks,
)
from callcontrol.errors import DatabaseUnavailable, Forbidden, NotAuthenticated
from callcontrol.store.writer import is_outage

if TYPE_CHECKING:
    from uvicorn import Config

    from callcontrol.app import Service
    from callcontrol.config import ConsoleSettings

log = structlog.get_logger(__name__)

# Paths anyone may reach. The security tests check that everything else refuses.
PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics", "/login", "/static"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"microphone=(self), camera=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds the headers above to every HTTP response (pure ASGI: streams stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if scope["path"] != "/metrics" and not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "text/html" not in accept and request.method != "GET"


def _error_page(status: int, title: str, detail: str) -> HTMLResponse:
    from html import escape

    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><link rel=stylesheet href=/static/app.css></head>"
        f"<body class=error-page><main><h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        "<p><a href=/>Back to the console</a></p></main></body></html>"
    )
    return HTMLResponse(body, status_code=status)


DB_DOWN = (
    "The database is unavailable right now. Live calls and call controls still work; "
    "history, knowledge and settings come back when it does."
)


def _unavailable(request: Request) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": DB_DOWN}, status_code=503, headers={"Retry-After": "10"})
    return _error_page(503, "Database unavailable", DB_DOWN)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "not authenticated"}, status_code=401)
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        log.info("console request refused", path=request.url.path, reason=exc.detail)
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=403)
        return _error_page(403, "Not allowed", exc.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own handler echoes the input back and encodes it as UTF-8: a lone
        # surrogate in the body made that a 500. Say where and what, ASCII-safe.
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        body = json.dumps({"detail": errors}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(request: Request, exc: DatabaseUnavailable) -> Response:
        return _unavailable(request)

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(ConnectionError)  # asyncpg's refused connect comes through raw
    async def database_error(request: Request, exc: Exception) -> Response:
        if not is_outage(exc):
            raise exc  # a real bug: the 500 handler logs it
        log.warning("console request needs the database, which is down", path=request.url.path)
        return _unavailable(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request) or request.url.path.startswith("/static/"):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return _error_page(exc.status_code, f"Error {exc.status_code}", str(exc.detail))


def create_app(service: Service) -> FastAPI:
    app = FastAPI(
        title="callcontrol",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        max_body_size=DEFAULT_BODY_LIMIT,  # routes that take more say so
        form_limits=FORM_LIMITS,  # type: ignore[arg-type]
    )
    app.state.console = Console.build(service)
    _install_handlers(app)

    public = APIRouter()
    public.include_router(system.router)
    public.include_router(auth.public)
    app.include_router(public)

    signed_in = APIRouter(dependencies=[Depends(require_user)])
    for module in (
        auth,
        dashboard,
        calls,
        campaigns,
        flows,
        history,
        hitl,
        kb,
        me,
        postcall,
        recordings,
        talk,
    ):
        signed_in.include_router(module.router)
    app.include_router(signed_in)
    app.include_router(admin.router, dependencies=[Depends(require_admin)])
    app.include_router(webhooks.router, dependencies=[Depends(require_admin)])
    app.include_router(data.router, dependencies=[Depends(require_admin)])
    app.include_router(sockets.router)  # each websocket authenticates itself

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(RejectNul)
    app.add_middleware(SecurityHeaders)  # outermost: refusals get the headers too
    return app


def http_config(app: FastAPI, settings: ConsoleSettings, *, port: int | None = None) -> Config:
    """uvicorn's settings for the console.

    ``X-Forwarded-For``/``-Proto`` are believed only from ``console.trusted_proxies``
    (none by default). uvicorn's own default trusts them from 127.0.0.1, so any local
    process — or a proxy that passes the header through — chose the address the
    sign-in limiter counts, and rotating it gave unlimited password guesses.
    """
    from uvicorn import Config

    trusted = list(settings.trusted_proxies)
    return Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        log_config=None,
        lifespan="off",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or "",
    )
