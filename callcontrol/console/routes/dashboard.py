"""The dashboard: today's (or the last days') calls, bot share, HITL, voice-to-voice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render

router = APIRouter()

Period = Literal["today", "7d", "30d"]


def period_start(period: Period, now: datetime | None = None) -> datetime:
    """Local midnight today, or that many days back."""
    now = now or datetime.now().astimezone()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = {"today": 0, "7d": 6, "30d": 29}[period]
    return midnight - timedelta(days=days)


async def _figures(console: ConsoleDep, period: Period) -> dict[str, Any]:
    since = period_start(period)
    stats = await console.dashboard.stats(since)
    by_operator, by_day = await console.dashboard.hitl_breakdown(since, since.tzinfo)
    live_calls = await console.service.live.all("calls")
    return {
        **stats.as_dict(),
        "hitl_by_operator": by_operator,
        "hitl_by_day": by_day,
        "period": period,
        "active_calls": sum(1 for c in live_calls.values() if c.get("state") != "hangup"),
        "hitl_waiting": len(await console.service.desk.waiting()),
    }


@router.get("/", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    user: CurrentUser,
    console: ConsoleDep,
    period: Annotated[Period, Query()] = "today",
) -> HTMLResponse:
    await console.presence.announce(user.operator)  # whoever is looking is here
    await console.presence.heartbeat(user.operator)
    return render(
        request,
        console,
        "dashboard.html",
        user,
        nav="dashboard",
        figures=await _figures(console, period),
        operators=await console.presence.board(),
    )


@router.get("/api/dashboard")
async def dashboard_json(
    console: ConsoleDep, period: Annotated[Period, Query()] = "today"
) -> dict[str, Any]:
    return await _figures(console, period)
