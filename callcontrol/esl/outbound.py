"""Outbound ESL: the dialplan's ``socket host:port async full`` connects each call to us.

A gevent ``StreamServer`` on the gevent thread accepts FreeSWITCH's
connections. Each becomes a greenswitch outbound session (with the fixed
reader); we send ``connect`` (the reply carries the channel's variables),
``myevents``, the playback events (not in FreeSWITCH's ``myevents`` set) and a
CUSTOM subscription for mod_audio_fork, and ``linger`` so the
hangup events still reach us, then hand an :class:`OutboundChannel` to asyncio.
Several workers can serve one FreeSWITCH: each call's socket goes to one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

import gevent
import gevent.event
import gevent.server
import structlog

from callcontrol.aio import TaskOwner
from callcontrol.config import EslSettings
from callcontrol.errors import (
    ConfigError,
    EslCommandError,
    EslError,
    EslNotConnectedError,
    listen_error,
)
from callcontrol.esl.bridge import GeventThread, send_command
from callcontrol.esl.client import (
    AUDIO_FORK_EVENTS,
    PLAYBACK_EVENTS,
    EventListener,
    subscribe_command,
)
from callcontrol.esl.commands import ApiReply, check_uuid
from callcontrol.esl.greenswitch_fix import FixedOutboundSession
from callcontrol.esl.poster import LoopPoster
from callcontrol.esl.protocol import EslEvent, EslMessage, encode_command

log = structlog.get_logger(__name__)

LINGER_S = 10


class OutboundChannel:
    """One call on its own socket. Commands go down that socket."""

    def __init__(
        self,
        thread: GeventThread,
        session: Any,
        data: Mapping[str, str],
        command_timeout: float,
    ) -> None:
        self._thread = thread
        self._session = session
        self.data = dict(data)
        self.uuid: str = self.data.get("Unique-ID") or self.data.get("variable_uuid") or ""
        self._timeout = command_timeout
        self.on_event: EventListener | None = None
        self._backlog: list[EslEvent] = []
        self.closed = asyncio.Event()
        self.hung_up = False

    # -- events (called on the asyncio loop) ---------------------------------------
    def _deliver(self, item: EslEvent | EslMessage) -> None:
        if isinstance(item, EslMessage):  # disconnect notice
            if item.headers.get("Content-Disposition") != "linger":
                self.closed.set()
            return
        if item.name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            self.hung_up = True
        listener = self.on_event
        if listener is None:
            self._backlog.append(item)
            return
        try:
            listener(item)
        except Exception:
            log.exception("outbound event handler failed", uuid=self.uuid, esl_event=item.key)

    def listen(self, listener: EventListener) -> None:
        """Start receiving this call's events (those that came meanwhile first)."""
        self.on_event = listener
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            self._deliver(event)

    # -- commands ---------------------------------------------------------------------
    async def _send(self, command: str, timeout: float | None = None) -> EslMessage:
        if self.closed.is_set():
            raise EslNotConnectedError(f"the socket of call {self.uuid} is closed")
        return await send_command(self._thread, self._session, command, timeout or self._timeout)

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply:
        reply = await self._send(f"api {command}", timeout)
        return ApiReply(command, reply.text)

    async def sendmsg(
        self, uuid: str, app: str, arg: str = "", *, event_lock: bool = False
    ) -> None:
        headers = {"call-command": "execute", "execute-app-name": app}
        if arg:
            headers["execute-app-arg"] = arg
        if event_lock:
            headers["event-lock"] = "true"
        target = "sendmsg" if uuid in ("", self.uuid) else f"sendmsg {check_uuid(uuid)}"
        command = encode_command(target, headers).decode("utf-8").rstrip("\n")
        reply = await self._send(command)
        if not reply.reply_text.startswith("+OK"):
            raise EslCommandError(f"sendmsg {app}", reply.reply_text)

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        command = encode_command(
            "sendmsg", {"call-command": "hangup", "hangup-cause": cause}
        ).decode("utf-8")
        reply = await self._send(command.rstrip("\n"))
        if not reply.reply_text.startswith("+OK"):
            raise EslCommandError("sendmsg hangup", reply.reply_text)

    async def close(self) -> None:
        """Say ``exit`` (ends a lingering socket) and drop the connection."""
        if not self.closed.is_set():
            try:
                await self._send("exit", timeout=2)
            except EslError:
                pass
        session = self._session
        if self._thread.running:
            self._thread.submit(session.stop)
        self.closed.set()


Accept = Callable[[OutboundChannel], Awaitable[None]]


def peer_allowed(address: str, allowed: Sequence[IPv4Network | IPv6Network]) -> bool:
    """Whether ``address`` (an IPv4/IPv6 literal, IPv4-mapped included) is in ``allowed``."""
    try:
        ip = ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed)


def parse_peers(peers: Sequence[str]) -> list[IPv4Network | IPv6Network]:
    try:
        return [ip_network(p, strict=False) for p in peers]
    except ValueError as exc:
        raise ConfigError(f"esl.outbound_allowed_peers: {exc}") from exc


class OutboundServer:
    """Listens for FreeSWITCH's outbound-socket connections."""

    def __init__(self, settings: EslSettings, thread: GeventThread, on_channel: Accept) -> None:
        self._settings = settings
        self._thread = thread
        self._on_channel = on_channel
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks = TaskOwner("esl-outbound")
        self.port: int | None = None
        self.accepted = 0
        self.rejected = 0
        self._allowed = parse_peers(settings.outbound_allowed_peers)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        host, port = self._settings.outbound_host, self._settings.outbound_port

        def listen() -> int:
            server = gevent.server.StreamServer((host, port), self._handle)
            try:
                server.start()
            except OSError as exc:
                setting = "CALLCONTROL_ESL__OUTBOUND_PORT"
                raise listen_error(exc, "outbound ESL", host, port, setting) from exc
            self._server = server
            return int(server.server_port)

        self.port = await self._thread.run(listen, timeout=5)
        log.info("outbound ESL server listening", host=host, port=self.port)

    async def stop(self) -> None:
        server = self._server
        if server is not None and self._thread.running:
            await self._thread.run(lambda: server.stop(timeout=1), timeout=5)
        self._server = None
        await self._tasks.cancel_all()

    # -- gevent side ------------------------------------------------------------------
    def _handle(self, sock: Any, address: tuple[str, int]) -> None:
        loop = self._loop
        assert loop is not None
        if not peer_allowed(address[0], self._allowed):
            self.rejected += 1
            log.warning(
                "outbound ESL connection refused: peer not allowed",
                peer=address[0],
                hint="esl.outbound_allowed_peers",
            )
            sock.close()
            return
        done = gevent.event.Event()
        session = FixedOutboundSession(address, sock)
        session.on_closed = done.set
        poster = session.poster = LoopPoster(loop)
        box: list[OutboundChannel] = []
        pending: list[EslEvent | EslMessage] = []

        def sink(item: EslEvent | EslMessage) -> None:
            if box:
                poster.post(box[0]._deliver, item)
            else:
                pending.append(item)

        session.event_sink = sink
        settings = self._settings
        try:
            reply: EslMessage = session.send("connect", timeout=settings.command_timeout)
            session.session_data = dict(reply.headers)
            if not (reply.headers.get("Unique-ID") or reply.headers.get("variable_uuid")):
                raise EslError("the connect reply names no channel (no Unique-ID)")
            for command in (
                "myevents",
                # FreeSWITCH's myevents set has no PLAYBACK_START/STOP; the inbound
                # connection's copies are dropped for a socket's leg, so ask here.
                subscribe_command("plain", PLAYBACK_EVENTS, AUDIO_FORK_EVENTS),
                f"linger {LINGER_S}",
            ):
                answer = session.send(command, timeout=settings.command_timeout)
                if not answer.reply_text.startswith("+OK"):
                    raise EslCommandError(command, answer.reply_text)
        except (EslError, gevent.Timeout, OSError) as exc:
            self.rejected += 1
            log.warning("outbound ESL handshake failed", peer=address, error=str(exc))
            session.stop()
            return
        channel = OutboundChannel(self._thread, session, reply.headers, settings.command_timeout)
        box.append(channel)
        for item in pending:
            poster.post(channel._deliver, item)
        self.accepted += 1
        loop.call_soon_threadsafe(self._spawn, channel)
        done.wait()
        poster.post(channel.closed.set)  # after the last events, in order

    # -- asyncio side -----------------------------------------------------------------
    def _spawn(self, channel: OutboundChannel) -> None:
        self._tasks.spawn(self._run(channel), channel.uuid)

    async def _run(self, channel: OutboundChannel) -> None:
        try:
            await self._on_channel(channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbound call handler failed", uuid=channel.uuid)
