"""Websockets. Authenticated by hand (a websocket has no 401/redirect): no valid session
or a foreign ``Origin`` and the handshake is refused (HTTP 403)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from callcontrol.console.deps import ConsoleDep, authenticate, origin_allowed
from callcontrol.console.live import parse_topics, serve_live
from callcontrol.console.talk import serve_talk

router = APIRouter()


@router.websocket("/ws/live")
async def live(websocket: WebSocket, console: ConsoleDep, topics: str = "calls") -> None:
    user = await authenticate(websocket, console)
    if user is None or not origin_allowed(websocket, console):
        await websocket.close(code=1008)
        return
    try:
        wanted = parse_topics(topics)
    except ValueError:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    await serve_live(websocket, console, user, wanted)


@router.websocket("/ws/talk")
async def talk(websocket: WebSocket, console: ConsoleDep) -> None:
    user = await authenticate(websocket, console)
    if user is None or not origin_allowed(websocket, console):
        await websocket.close(code=1008)
        return
    await websocket.accept()
    await serve_talk(websocket, console.settings, user)
