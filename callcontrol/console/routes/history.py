"""Past calls: search by date range, number, outcome and who handled them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render
from callcontrol.console.views import cdr_view
from callcontrol.store.history_repo import HistoryFilter

router = APIRouter()

PAGE_SIZE = 50
HANDLERS = ("bot", "human", "both", "none")


@dataclass(frozen=True, slots=True)
class Search:
    since: str = ""
    until: str = ""
    number: str = ""
    outcome: str = ""
    handled_by: str = ""
    page: int = 1
    text: str = ""

    def to_filter(self) -> HistoryFilter:
        """Dates are local calendar days, ``until`` inclusive. Raises ValueError."""
        tz = datetime.now().astimezone().tzinfo
        since = until = None
        if self.since:
            since = datetime.combine(date.fromisoformat(self.since), time(), tz)
        if self.until:
            until = datetime.combine(date.fromisoformat(self.until), time(), tz)
            until += timedelta(days=1)
        if self.handled_by and self.handled_by not in HANDLERS:
            raise ValueError(f"handled by must be one of {', '.join(HANDLERS)}")
        return HistoryFilter(
            since=since,
            until=until,
            number=self.number.strip() or None,
            outcome=self.outcome.strip() or None,
            handled_by=self.handled_by or None,
            text=self.text.strip() or None,
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
        )


async def _run(console: ConsoleDep, search: Search) -> dict[str, Any]:
    rows, total = await console.calls.history(search.to_filter())
    summaries = await console.calls.summaries([r.call_id for r in rows])
    return {
        "calls": [{**cdr_view(r), "summary": summaries.get(r.call_id)} for r in rows],
        "total": total,
        "page": search.page,
        "pages": max(1, -(-total // PAGE_SIZE)),
    }


@router.get("/history", response_class=HTMLResponse)
async def history_page(
    request: Request,
    user: CurrentUser,
    console: ConsoleDep,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    number: Annotated[str, Query(max_length=64)] = "",
    outcome: Annotated[str, Query(max_length=32)] = "",
    handled_by: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    text: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    search = Search(since, until, number, outcome, handled_by, page, text)
    error = None
    result: dict[str, Any] = {"calls": [], "total": 0, "page": 1, "pages": 1}
    try:
        result = await _run(console, search)
    except ValueError as exc:
        error = f"Cannot search: {exc}"
    return render(
        request,
        console,
        "history.html",
        user,
        nav="history",
        search=search,
        result=result,
        error=error,
        outcomes=await console.calls.outcomes(),
        handlers=HANDLERS,
        status_code=422 if error else 200,
    )


@router.get("/api/history")
async def history_json(
    console: ConsoleDep,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    number: Annotated[str, Query(max_length=64)] = "",
    outcome: Annotated[str, Query(max_length=32)] = "",
    handled_by: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    text: Annotated[str, Query(max_length=200)] = "",
) -> dict[str, Any]:
    search = Search(since, until, number, outcome, handled_by, page, text)
    try:
        return await _run(console, search)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
