"""Public probes: /health (liveness), /ready (readiness), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from callcontrol.console.deps import ConsoleDep, authenticate

log = structlog.get_logger(__name__)
router = APIRouter()


@router.get("/health")
async def health(console: ConsoleDep) -> dict[str, Any]:
    """Liveness: the process answers; shows the ESL connection and the database writer."""
    return console.service.health()


async def _database_ok(console: ConsoleDep) -> bool:
    try:
        async with asyncio.timeout(2.0):
            async with console.service.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported as not ready
        log.warning("readiness: database check failed", error=str(exc)[:200])
        return False
    return console.service.writer.healthy


@router.get("/ready")
async def ready(console: ConsoleDep) -> JSONResponse:
    """Readiness: database reachable and writing, ESL connected (when enabled), and
    whatever the wiring registered in ``Service.ready_checks`` (models loaded…)."""
    service = console.service
    checks: dict[str, bool] = {
        "database": await _database_ok(console),
        "esl": service.inbound.connected if service.inbound else True,
    }
    for name, check in service.ready_checks.items():
        try:
            checks[name] = bool(check())
        except Exception as exc:  # noqa: BLE001 - a broken check means not ready, never a 500
            log.warning("readiness check failed", check=name, error=str(exc)[:200])
            checks[name] = False
    ok = all(checks.values())
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(request: Request, console: ConsoleDep) -> Response:
    """Prometheus metrics; open unless ``console.metrics_public`` is false."""
    settings = console.settings.console
    if not settings.metrics_public:
        token = settings.metrics_token
        sent = request.headers.get("authorization", "")
        bearer_ok = token is not None and secrets.compare_digest(
            sent.encode(), f"Bearer {token.get_secret_value()}".encode()
        )
        if not bearer_ok and await authenticate(request, console) is None:
            return JSONResponse(
                {"detail": "not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    console.service.health()  # refreshes gauges derived from state
    return Response(
        generate_latest(console.service.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
