"""Outbound ESL: the ``socket`` application connects to the service for one call.

Like mod_event_socket's socket_function: ``async`` mode waits for ``connect`` and then parks
the call (CHANNEL_PARK, private messages run from the park loop) until hangup or until the
socket goes away (CF_CONTROLLED cleared → UNPARK, the dialplan continues); ``static`` mode
runs the listener in the call's own thread, so each ``sendmsg`` reply waits for the app.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .esl import EslConnection
from .fsargs import separate_string

if TYPE_CHECKING:
    from .channel import Channel
    from .runner import ChannelRunner
    from .switch import FakeFreeSwitch


class OutboundSockets:
    def __init__(self, switch: FakeFreeSwitch) -> None:
        self.sw = switch
        self.by_channel: dict[str, set[EslConnection]] = {}
        self.failed_connects = 0

    async def _connect(self, spec: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for host_spec in spec.split("|"):
            if not host_spec:
                continue
            host, _, port_text = host_spec.rpartition(":")
            if not host:
                host, port_text = port_text, "8084"
            port_text = port_text.split("/")[0]
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(host, int(port_text or "8084")), 5.0
                )
            except (OSError, TimeoutError, ValueError):
                continue
        return None

    async def run_socket_app(self, runner: ChannelRunner, arg: str) -> None:
        argv = separate_string(arg, 80)
        if not argv:
            return
        flags = {a.lower() for a in argv[1:]}
        ch = runner.ch
        host = argv[0].split("|")[0].rpartition(":")[0] or argv[0]
        ch.set_var("socket_host", host)
        streams = await self._connect(argv[0])
        if streams is None:
            self.failed_connects += 1
            return
        reader, writer = streams
        conn = EslConnection(
            self.sw, reader, writer, session=ch, async_mode="async" in flags, full="full" in flags
        )
        self.adopt(conn)
        self.sw.tasks.spawn(conn.serve(), name=f"outbound ESL {ch.uuid}")
        if conn.async_mode:
            await self._run_async(runner, conn)
        else:
            await self._run_static(runner, conn)

    async def _run_async(self, runner: ChannelRunner, conn: EslConnection) -> None:
        ch = runner.ch
        while ch.up and not conn.closed.is_set() and not conn.connected.is_set():
            await self._wait_conn(runner, conn, conn.connected)
        if ch.down or conn.closed.is_set():
            return
        await runner.sleep(self.sw.config.outbound_park_delay)
        self.sw.channel_event(ch, "CHANNEL_PARK")
        while ch.up and not conn.closed.is_set() and runner.redirect is None:
            await runner.interruptible_wait(None)
            runner.break_flag = 0
        if ch.down:
            await asyncio.sleep(ch.ptime_ms / 1000)
        self.sw.channel_event(ch, "CHANNEL_UNPARK")

    async def _run_static(self, runner: ChannelRunner, conn: EslConnection) -> None:
        ch = runner.ch
        while ch.up and not conn.closed.is_set():
            await self._wait_conn(runner, conn, conn.closed)
        if not conn.closed.is_set():
            conn.session_down()
            await conn.closed.wait()

    @staticmethod
    async def _wait_conn(runner: ChannelRunner, conn: EslConnection, event: asyncio.Event) -> None:
        """Sleep until the runner is poked (connect, hangup, socket gone); re-check every 50 ms."""
        if not event.is_set():
            await runner.wait(0.05)

    # ------------------------------------------------------------------ notifications
    def adopt(self, conn: EslConnection) -> None:
        if conn.session is not None:
            self.by_channel.setdefault(conn.session.uuid, set()).add(conn)

    def channel_down(self, ch: Channel) -> None:
        for conn in list(self.by_channel.get(ch.uuid, ())):
            conn.session_down()

    def connection_gone(self, conn: EslConnection) -> None:
        if conn.session is None:
            return
        conns = self.by_channel.get(conn.session.uuid)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                self.by_channel.pop(conn.session.uuid, None)
        runner = self.sw.runners.get(conn.session.uuid)
        if runner is not None:
            runner.poke()
