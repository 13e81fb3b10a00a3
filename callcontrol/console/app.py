"""The HTTP face of a worker: /health, /ready, /metrics (the console grows from here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from callcontrol.app import Service


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="callcontrol", docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness: the process answers; shows the ESL connection and the database writer."""
        return service.health()

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """Readiness: database writing, ESL connected (when enabled)."""
        checks = {
            "database": service.writer.healthy,
            "esl": service.inbound.connected if service.inbound else True,
        }
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        service.health()  # refreshes gauges derived from state
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
