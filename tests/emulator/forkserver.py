"""A websocket server standing in for the service's audio-fork endpoint (``websockets``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


@dataclass
class Frame:
    t: float
    data: str | bytes

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)


@dataclass
class ForkPeer:
    """One accepted fork connection: the upgrade request and every frame received."""

    ws: ServerConnection
    path: str
    headers: list[tuple[str, str]]
    frames: list[Frame] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None

    @property
    def texts(self) -> list[str]:
        return [f.data for f in self.frames if isinstance(f.data, str)]

    @property
    def binaries(self) -> list[bytes]:
        return [f.data for f in self.frames if isinstance(f.data, bytes)]

    def audio(self) -> np.ndarray:
        return np.frombuffer(b"".join(self.binaries), dtype="<i2").astype(np.int16)


class ForkServer:
    def __init__(self, subprotocols: list[str] | None = None) -> None:
        self._subprotocols = subprotocols or ["audio.drachtio.org"]
        self._server: Server | None = None
        self._peers: asyncio.Queue[ForkPeer] = asyncio.Queue()
        self.peers: list[ForkPeer] = []
        self.port = 0

    def url(self, path: str = "/fork") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> ForkServer:
        self._server = await serve(
            self._handler, "127.0.0.1", 0, subprotocols=self._subprotocols, max_size=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handler(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        peer = ForkPeer(ws, request.path, list(request.headers.raw_items()))
        self.peers.append(peer)
        self._peers.put_nowait(peer)
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                peer.frames.append(Frame(loop.time(), message))
        except ConnectionClosed:
            pass
        peer.close_code = ws.close_code
        peer.closed.set()

    async def accept(self, timeout: float = 5.0) -> ForkPeer:
        return await asyncio.wait_for(self._peers.get(), timeout)
