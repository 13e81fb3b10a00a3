"""The "talk to the bot" page (the audio goes over /ws/talk)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render

router = APIRouter()


@router.get("/talk", response_class=HTMLResponse)
async def talk_page(request: Request, user: CurrentUser, console: ConsoleDep) -> HTMLResponse:
    owners: list[str] = []
    if console.kb is not None:
        owners = sorted({d.owner for d in await console.kb.list(None)})
    return render(request, console, "talk.html", user, nav="talk", owners=owners)
