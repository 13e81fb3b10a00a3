"""One ESL socket as mod_event_socket's listener sees it (inbound and outbound alike).

Commands are handled one at a time in the connection's task, like the listener thread: a
slow ``api`` (``originate``) blocks the socket, and events that fire meanwhile are held and
written after the reply — which is why a synchronous api reply arrives before the events it
caused. Parsing follows ``parse_command`` (prefix, case-insensitive matches included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuidlib
from typing import TYPE_CHECKING

from . import wire
from .api import execute_api
from .channel import Channel
from .events import Event
from .runner import PrivateMessage
from .subscription import Subscription
from .wire import Command, CommandReader

if TYPE_CHECKING:
    from .switch import FakeFreeSwitch

log = logging.getLogger(__name__)


class EslConnection:
    def __init__(
        self,
        switch: FakeFreeSwitch,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        session: Channel | None = None,
        async_mode: bool = False,
        full: bool = False,
    ) -> None:
        self.sw = switch
        self.reader = reader
        self.writer = writer
        self.session = session
        self.outbound = session is not None
        self.async_mode = async_mode
        self.full = full
        self.authed = self.outbound
        self.sub = Subscription()
        self.linger: int | None = None
        self.connected = asyncio.Event()  # outbound: `connect` received
        self.closed = asyncio.Event()
        self._disco_handled = False
        self._hold = 0
        self._pending: list[bytes] = []
        self._close_pending = False
        self._close_requested = False
        self._linger_handle: asyncio.TimerHandle | None = None
        self._commands = CommandReader()
        self.received: list[Command] = []  # every command, for tests
        self.silent = False  # Faults.go_silent: no reply, no event, socket still open

    # ------------------------------------------------------------------ output
    # Replies and notices are written at once (the listener thread writes them itself);
    # events wait while a command is being handled, like the listener's event queue.
    def send(self, data: bytes) -> None:
        if self.silent:
            return  # a hung peer: the TCP connection stays, nothing comes out of it
        if not self.closed.is_set() and not self.writer.is_closing():
            self.writer.write(data)

    def deliver(self, event: Event) -> None:
        if self.closed.is_set() or not self.sub.wants(event):
            return
        if (
            self.session is not None
            and self._disco_handled
            and event.unique_id == self.session.uuid
        ):
            # the listener still holds the session: its destroy comes after the socket closed
            if event.name == "CHANNEL_DESTROY" or event.get("Channel-State") == "CS_DESTROY":
                return
        data = event.frame(self.sub.format)
        if self._hold:
            self._pending.append(data)
        else:
            self.send(data)

    def request_close(self, notice: bool = True) -> None:
        """Disconnect-notice then close, after the events still held are written."""
        if self._hold:
            self._close_requested = self._close_requested or notice
            self._close_pending = True
        else:
            self._close_now(notice)

    def _close_now(self, notice: bool = False) -> None:
        if self.closed.is_set():
            return
        if notice:
            self.send(wire.disconnect_notice(self.session.uuid if self.session else None))
        self.closed.set()
        self.sw.connections.discard(self)
        if self._linger_handle is not None:
            self._linger_handle.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()

    def abort(self) -> None:
        """Drop the TCP connection without any notice (a crash or restart)."""
        self.closed.set()
        self.sw.connections.discard(self)
        if self._linger_handle is not None:
            self._linger_handle.cancel()
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for data in pending:
            self.send(data)
        if self._close_pending:
            self._close_pending = False
            self._close_now(self._close_requested)

    # ------------------------------------------------------------------ main loop
    async def serve(self) -> None:
        self.sw.connections.add(self)
        try:
            if not self.outbound:
                if self.sw.config.acl_reject:
                    self.send(wire.rude_rejection())
                    self._close_now(notice=True)
                    return
                self.send(wire.auth_request())
            while not self.closed.is_set():
                data = await self.reader.read(65536)
                if not data:
                    break
                self._commands.feed(data)
                while not self.closed.is_set():
                    cmd = self._commands.next_command()
                    if cmd is None:
                        break
                    await self.handle(cmd)
        except (ConnectionError, ValueError) as exc:
            log.debug("ESL connection ended: %s", exc)
        finally:
            self._close_now()
            self.sw.outbound.connection_gone(self)

    def hold(self) -> None:
        """Hold events back (the listener is busy); ``release`` writes them."""
        self._hold += 1

    def release(self) -> None:
        self._hold -= 1
        if not self._hold:
            self._flush()

    async def handle(self, cmd: Command) -> None:
        self.received.append(cmd)
        self.hold()
        try:
            reply = await self._dispatch(cmd)
            if reply is not None:
                self.send(reply)
        finally:
            self.release()

    # ------------------------------------------------------------------ parse_command
    async def _dispatch(self, cmd: Command) -> bytes | None:
        line = cmd.line
        low = line.lower()
        if low.startswith(("exit", "...")):
            self.send(wire.command_reply("+OK bye"))
            self.request_close()
            return None
        if not self.authed:
            if low.startswith("auth "):
                if line[5:] == self.sw.config.password:
                    self.authed = True
                    return wire.command_reply("+OK accepted")
                self.send(wire.command_reply("-ERR invalid"))
                self.request_close()
                return None
            if low.startswith("userauth "):
                self.send(wire.command_reply("-ERR invalid"))
                self.request_close()
                return None
            return wire.command_reply("-ERR command not found")
        if low.startswith("filter "):
            return wire.command_reply(self.sub.filter(line))
        if self.session is not None and low.startswith("resume"):
            return wire.command_reply("+OK")
        if self.session is not None or low.startswith("myevents "):
            if self.session is not None and low.startswith("connect"):
                self._connect_reply()
                self.connected.set()
                runner = self.sw.runners.get(self.session.uuid)
                if runner is not None:
                    runner.poke()
                return None
            if self.session is not None and low.startswith("getvar"):
                _, _, name = line.partition(" ")
                value = self.session.variables.get(name, "") if name else ""
                return wire.command_reply(value or "-ERR command not found")
            if low.startswith("myevents"):
                return wire.command_reply(self._myevents(line))
        if low.startswith("divert_events"):
            if self.session is None:
                return wire.command_reply("-ERR not controlling a session.")
            value = line[13:].strip()
            if not value:
                return wire.command_reply("-ERR missing value.")
            on = value.lower() == "on"
            return wire.command_reply("+OK events diverted" if on else "+OK events not diverted")
        if low.startswith("sendmsg"):
            return wire.command_reply(await self._sendmsg(cmd))
        if self.outbound and not self.full:
            return wire.command_reply("-ERR command not found")
        if low.startswith("sendevent"):
            return wire.command_reply(self._sendevent(cmd))
        if low.startswith("api "):
            command, _, arg = line[4:].partition(" ")
            body = await execute_api(self.sw, command, arg if arg else None)
            return wire.api_response(body)
        if low.startswith("bgapi "):
            return self._bgapi(cmd)
        if low.startswith("log"):
            return wire.command_reply("+OK log level  [7]")
        if low.startswith("linger"):
            return wire.command_reply(self._linger(line))
        if low.startswith("nolinger"):
            if self.session is None:
                return wire.command_reply("-ERR not controlling a session")
            self.linger = None
            return wire.command_reply("+OK will not linger")
        if low.startswith("nolog"):
            return wire.command_reply("-ERR not loging")
        if low.startswith("event"):
            return wire.command_reply(self.sub.event(line))
        if low.startswith("nixevent"):
            return wire.command_reply(self.sub.nixevent(line))
        if low.startswith("noevents"):
            return wire.command_reply(self.sub.noevents())
        return wire.command_reply("-ERR command not found")

    def _connect_reply(self) -> None:
        ch = self.session
        assert ch is not None and ch.profile is not None
        headers = self.sw.make_headers("CHANNEL_DATA")
        headers += ch.profile.headers("Channel")
        headers += ch.event_headers(extended=True)
        headers += [
            ("Content-Type", "command/reply"),
            ("Reply-Text", "+OK\n"),
            ("Socket-Mode", "async" if self.async_mode else "static"),
            ("Control", "full" if self.full else "single-channel"),
        ]
        self.send(Event(tuple(headers)).serialize_plain())

    def _myevents(self, line: str) -> str:
        if self.session is None:
            uid, _, fmt = line[9:].strip().partition(" ")
            ch = self.sw.channels.get(uid)
            if ch is None:
                if fmt:
                    return "-ERR invalid uuid"
            else:
                self.session = ch
                self.async_mode = True
                self.sw.outbound.adopt(self)
            return self.sub.myevents(uid, line)
        return self.sub.myevents(self.session.uuid, line)

    async def _sendmsg(self, cmd: Command) -> str:
        target = cmd.line[7:].strip() or (cmd.header("session-id") or "")
        if target and self.session is not None and target == self.session.uuid:
            target = ""
        msg = PrivateMessage.from_command(cmd)
        if not target and self.session is not None:
            is_async = self.async_mode or (cmd.header("async") or "").lower() in (
                "true",
                "yes",
                "on",
                "1",
            )
            runner = self.sw.runners.get(self.session.uuid)
            if runner is None:
                return "+OK"
            if is_async:
                runner.post(msg)
            else:
                await runner.run_message(msg)  # static mode: the listener runs the app itself
            return "+OK"
        if target and self.sw.post(target, msg):
            return "+OK"
        return f"-ERR invalid session id [{target}]"

    def _sendevent(self, cmd: Command) -> str:
        event_uuid = str(uuidlib.uuid4())
        name = cmd.line[9:].strip() or "CUSTOM"
        headers = [(k, v) for k, v in cmd.headers if k.lower() not in ("content-length",)]
        subclass = next((v for k, v in headers if k.lower() == "event-subclass"), None)
        headers = [(k, v) for k, v in headers if k.lower() != "event-subclass"]
        headers.append(("Event-UUID", event_uuid))
        body = cmd.body.decode("utf-8", errors="replace") if cmd.body else None
        self.sw.fire_event(
            name.upper(),
            headers,
            body=body,
            subclass=subclass,
            site=("mod_event_socket.c", "parse_command", 2231),
        )
        return f"+OK {event_uuid}"

    def _bgapi(self, cmd: Command) -> bytes:
        command, _, arg = cmd.line[6:].partition(" ")
        job = cmd.header("job-uuid") or str(uuidlib.uuid4())
        owner = self.session.uuid if self.session else ""

        async def job_task() -> None:
            body = await execute_api(self.sw, command, arg if arg else None)
            headers = [("Job-UUID", job), ("Job-Owner-UUID", owner), ("Job-Command", command)]
            if arg:
                headers.append(("Job-Command-Arg", arg))
            self.sw.fire_event("BACKGROUND_JOB", headers, body=body)

        self.sw.tasks.spawn(job_task(), name=f"bgapi {job}")
        return wire.command_reply_headers(
            [("Reply-Text", f"+OK Job-UUID: {job}"), ("Job-UUID", job)]
        )

    def _linger(self, line: str) -> str:
        if self.session is None:
            return "-ERR not controlling a session"
        if len(line) > 7 and line[6] == " ":
            digits = line[7:].strip()
            seconds = int(digits) if digits.lstrip("-").isdigit() else 0
            self.linger = seconds
            return f"+OK will linger {seconds} seconds"
        self.linger = -1
        return "+OK will linger"

    # ------------------------------------------------------------------ session end
    def session_down(self) -> None:
        """The controlled channel hung up: linger notice, or disconnect now (read_packet)."""
        if self._disco_handled or self.closed.is_set() or self.session is None:
            return
        self._disco_handled = True
        if self.linger is None:
            self.request_close()
            return
        self.send(wire.linger_notice(self.session.uuid, self.session.name, self.linger))
        if self.linger >= 0:
            now = time.time()
            delay = int(now) + self.linger + 1 - now  # FreeSWITCH compares whole epoch seconds
            self._linger_handle = asyncio.get_running_loop().call_later(delay, self._linger_expired)

    def _linger_expired(self) -> None:
        if not self.closed.is_set():
            self.request_close()
