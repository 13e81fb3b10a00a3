""" "Talk to the bot": the browser's websocket, relayed to the media direct endpoint.

The browser talks only to the console's origin (cookie auth, CSRF-free because it is
a same-origin websocket with an ``Origin`` check); the console opens the direct
endpoint (``/direct`` on the fork server, see ``media/direct_wire.py``) on its behalf,
writes the hello itself, with a token minted for that one owner and a minute
(``media/direct_auth.py``) — so the direct secret never reaches a browser; ``owner`` is
the knowledge owner chosen on the page (whose knowledge the bot answers from) and
``operator`` the signed-in user — and relays frames both ways:

browser → console: first a JSON text ``{"sampleRate": 16000, "knowledgeOwner": "…"}``,
then binary L16 LE mono frames, and optional ``{"type": "hangup"|"dtmf", …}`` texts.
console → browser: whatever the direct endpoint sends (``ready``, audio, ``playback``,
``clear``, ``transcript`` …), plus ``{"type": "error", "message": …}`` on failure here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import structlog
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from callcontrol.aio import first_done
from callcontrol.config import Settings
from callcontrol.console.deps import Authed
from callcontrol.errors import TalkError
from callcontrol.media.direct_auth import DirectAuth

log = structlog.get_logger(__name__)

MAX_AUDIO_FRAME = 64 * 1024
MAX_TEXT_FRAME = 4096
RATES = (8000, 16000, 24000, 48000)
CLIENT_TYPES = frozenset({"hangup", "dtmf"})


def direct_url(settings: Settings) -> str:
    if settings.console.direct_url:
        return settings.console.direct_url
    host = settings.fork.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"ws://{host}:{settings.fork.port}/direct"


def build_hello(
    settings: Settings, user: Authed, first: str, mint: Callable[[str], str]
) -> dict[str, Any]:
    try:
        params = json.loads(first)
    except ValueError as exc:
        raise TalkError("the first message must be JSON") from exc
    if not isinstance(params, dict):
        raise TalkError("the first message must be a JSON object")
    rate = params.get("sampleRate", 16000)
    if rate not in RATES or isinstance(rate, bool):
        raise TalkError(f"sampleRate must be one of {RATES}")
    kb_owner = params.get("knowledgeOwner")
    if kb_owner is not None and (not isinstance(kb_owner, str) or len(kb_owner) > 128):
        raise TalkError("knowledgeOwner must be a short string")
    # The bot answers from the knowledge of ``owner`` (as for a call to that number);
    # without one, the operator is the owner, like the CLI's ``callcontrol call``.
    hello: dict[str, Any] = {
        "owner": kb_owner or f"console:{user.username}",
        "sampleRate": rate,
        "operator": user.username,
        "source": "console",
    }
    hello["token"] = mint(hello["owner"])
    return hello


async def _error(websocket: WebSocket, message: str, code: int) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps({"type": "error", "message": message}))
        await websocket.close(code=code)


async def _browser_to_bot(websocket: WebSocket, upstream: ClientConnection) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is not None:
            if len(data) > MAX_AUDIO_FRAME or len(data) % 2:
                raise TalkError("audio frames are 16-bit PCM, at most 64 KiB")
            await upstream.send(data)
            continue
        text = message.get("text")
        if text is None or len(text) > MAX_TEXT_FRAME:
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("type") in CLIENT_TYPES:
            await upstream.send(json.dumps(obj, separators=(",", ":")))


async def _bot_to_browser(upstream: ClientConnection, websocket: WebSocket) -> None:
    async for message in upstream:
        if isinstance(message, bytes):
            await websocket.send_bytes(message)
        else:
            await websocket.send_text(message)


async def serve_talk(websocket: WebSocket, settings: Settings, user: Authed) -> None:
    """Run one accepted browser websocket against the direct endpoint."""
    try:
        first = await asyncio.wait_for(websocket.receive_text(), 10.0)
        hello = build_hello(settings, user, first, DirectAuth.for_settings(settings).mint)
    except (TalkError, TimeoutError, KeyError, RuntimeError) as exc:
        await _error(websocket, f"bad start: {exc}", 1008)
        return
    url = direct_url(settings)
    try:
        upstream = await connect(
            url, open_timeout=5, max_size=settings.fork.max_frame_bytes * 16, compression=None
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        log.warning("talk: direct endpoint unreachable", url=url, error=str(exc)[:200])
        await _error(websocket, "the bot's media endpoint is not reachable", 1011)
        return
    log.info("talk to the bot started", operator=user.username, url=url)
    close_code, reason = 1000, ""
    async with upstream:
        await upstream.send(json.dumps(hello, separators=(",", ":")))
        done = await first_done(
            _browser_to_bot(websocket, upstream), _bot_to_browser(upstream, websocket)
        )
        for task in done:
            error = task.exception()
            if isinstance(error, TalkError):
                close_code, reason = 1009, str(error)
            elif error is not None and not isinstance(error, ConnectionClosed):
                log.warning("talk relay ended", error=repr(error)[:300])
        if upstream.close_code not in (None, 1000) and close_code == 1000:
            close_code, reason = upstream.close_code, upstream.close_reason or ""
            if close_code in (1005, 1006, 1015):  # reserved: never sent on the wire
                close_code = 1011
    log.info("talk to the bot ended", operator=user.username, code=close_code)
    with contextlib.suppress(Exception):
        await websocket.close(code=close_code, reason=reason[:120])
