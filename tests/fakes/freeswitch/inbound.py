"""The inbound ESL server (what the service connects to, port 8021 on a real switch)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .esl import EslConnection

if TYPE_CHECKING:
    from .switch import FakeFreeSwitch


class InboundServer:
    def __init__(self, switch: FakeFreeSwitch) -> None:
        self.sw = switch
        self._server: asyncio.Server | None = None
        self.port = switch.config.esl_port
        self.accepted = 0

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen (again) — on the same port after a restart, an ephemeral one the first time."""
        self._server = await asyncio.start_server(self._on_client, self.sw.config.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        await server.wait_closed()

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        conn = EslConnection(self.sw, reader, writer)
        self.sw.tasks.spawn(conn.serve(), name="inbound ESL connection")
