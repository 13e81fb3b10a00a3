"""Fault injection for the client's robustness tests: restarts and broken bytes on the wire."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from .events import Event
from .wire import event_message

if TYPE_CHECKING:
    from .esl import EslConnection
    from .switch import FakeFreeSwitch


class Faults:
    def __init__(self, switch: FakeFreeSwitch) -> None:
        self.sw = switch
        self.restarts = 0

    def clients(self) -> list[EslConnection]:
        """The authenticated inbound ESL connections (the service's sockets)."""
        return [
            c for c in self.sw.connections if not c.outbound and c.authed and not c.closed.is_set()
        ]

    async def restart(
        self,
        down_for: float = 1.0,
        *,
        hangup: Iterable[str] = (),
        hangup_all: bool = False,
        cause: str = "NORMAL_CLEARING",
        during: Callable[[FakeFreeSwitch], Awaitable[None]] | None = None,
    ) -> None:
        """Drop every ESL connection and refuse connects for ``down_for`` seconds.

        Calls keep running unless listed in ``hangup`` (or ``hangup_all``); those end while
        nobody listens, so the service only learns it from ``show channels`` afterwards.
        ``during(sw)`` runs while down (start new calls there, they appear in ``show``).
        """
        self.restarts += 1
        await self.sw.inbound.stop()
        for conn in list(self.sw.connections):
            conn.abort()
        targets = list(self.sw.channels) if hangup_all else list(hangup)
        for uid in targets:
            ch = self.sw.channels.get(uid)
            if ch is not None:
                self.sw.hangup(ch, cause)
        if during is not None:
            await during(self.sw)
        await asyncio.sleep(down_for)
        await self.sw.inbound.start()

    def go_silent(self, conn: EslConnection | None = None) -> None:
        """A hung FreeSWITCH (or a black-holed link): the ESL socket stays open, but no
        reply, event or heartbeat comes out of it again."""
        for target in self._targets(conn):
            target.silent = True

    def _targets(self, conn: EslConnection | None) -> list[EslConnection]:
        return [conn] if conn is not None else self.clients()

    def send_raw(self, data: bytes, conn: EslConnection | None = None) -> None:
        """Write arbitrary bytes (garbage, half frames…) to the service's sockets."""
        for target in self._targets(conn):
            target.send(data)

    def event_with_wrong_length(
        self, event: Event, delta: int, conn: EslConnection | None = None, fmt: str = "plain"
    ) -> bytes:
        """Send ``event`` with its outer Content-Length off by ``delta`` bytes (returns them)."""
        payload = event.serialize_json() if fmt == "json" else event.serialize_plain()
        good = event_message(payload, fmt)
        head = b"Content-Length: %d" % len(payload)
        data = good.replace(head, b"Content-Length: %d" % (len(payload) + delta), 1)
        self.send_raw(data, conn)
        return data

    async def truncate_and_close(
        self, data: bytes, keep: int, conn: EslConnection | None = None
    ) -> None:
        """Write the first ``keep`` bytes of a message, then close the socket (FIN)."""
        for target in self._targets(conn):
            target.send(data[:keep])
            await target.writer.drain()
            target.request_close(notice=False)

    async def dribble(
        self, data: bytes, delay: float = 0.001, conn: EslConnection | None = None
    ) -> None:
        """Write a whole message one byte at a time (events are held meanwhile)."""
        targets = self._targets(conn)
        for target in targets:
            target.hold()
        try:
            for i in range(len(data)):
                for target in targets:
                    target.send(data[i : i + 1])
                    await target.writer.drain()
                await asyncio.sleep(delay)
        finally:
            for target in targets:
                target.release()
