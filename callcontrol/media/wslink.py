"""What both websocket endpoints share: the link handed to consumers, per-session
counters, and the internal "refuse this connection" signal."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from callcontrol.media.fork_wire import CLOSE_NORMAL, ServerMessage, close_reason

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class SessionStats:
    """Counters of one connection (one fork of one call)."""

    call_id: str
    transport: str = "fork"
    started_at: float = field(default_factory=time.monotonic)
    frames_received: int = 0
    frames_dropped: int = 0  # the consumer refused them, or raised
    bytes_received: int = 0
    texts_received: int = 0
    consumer_errors: int = 0


class Refused(Exception):
    """Internal: close this connection with ``code`` and ``reason`` (and count ``key``)."""

    def __init__(self, code: int, reason: str, key: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.key = key


class WebsocketLink:
    """:class:`~callcontrol.media.base.ForkLink` over one websockets connection."""

    def __init__(self, connection: ServerConnection, call_id: str) -> None:
        self._connection = connection
        self._call_id = call_id

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def closed(self) -> bool:
        return self._connection.state is not State.OPEN

    async def send_text(self, text: str) -> None:
        try:
            await self._connection.send(text)
        except ConnectionClosed:
            log.debug("fork.send_after_close", call_id=self._call_id)

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self._connection.send(data)
        except ConnectionClosed:
            log.debug("fork.send_after_close", call_id=self._call_id)

    async def send_message(self, message: ServerMessage) -> None:
        await self.send_text(message.to_json())

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        await self._connection.close(code, close_reason(reason))
