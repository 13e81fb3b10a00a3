"""Inbound ESL: callcontrol connects to FreeSWITCH (:8021) and keeps connecting.

The greenswitch client lives on the gevent thread; this class is its asyncio
face. A supervisor task reconnects with exponential backoff when FreeSWITCH
goes away and calls ``on_connected`` after every (re)connection, which is where
the call controller reconciles its calls with ``show channels``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from callcontrol.config import EslSettings
from callcontrol.errors import EslCommandError, EslError, EslNotConnectedError, EslTimeoutError
from callcontrol.esl.bridge import GeventThread, send_command
from callcontrol.esl.client import (
    AUDIO_FORK_EVENTS,
    CHANNEL_EVENTS,
    ConnectionState,
    ConnectionStatus,
    EventListener,
    subscribe_command,
)
from callcontrol.esl.commands import ApiReply
from callcontrol.esl.greenswitch_fix import FixedInboundESL
from callcontrol.esl.poster import LoopPoster
from callcontrol.esl.protocol import EslEvent, EslMessage, encode_command

log = structlog.get_logger(__name__)

# Commands in a row without an answer after which the connection counts as dead.
DEAD_AFTER_TIMEOUTS = 3

OnConnected = Callable[[], Awaitable[None]]

# Results of BACKGROUND_JOBs nobody waits for yet (FreeSWITCH chose the Job-UUID).
_ORPHAN_TTL_S = 30.0


class InboundConnection:
    """One supervised inbound Event Socket connection."""

    def __init__(
        self,
        settings: EslSettings,
        thread: GeventThread,
        *,
        on_event: EventListener | None = None,
        on_connected: OnConnected | None = None,
        events: Sequence[str] = CHANNEL_EVENTS,
        custom_events: Sequence[str] = AUDIO_FORK_EVENTS,
    ) -> None:
        self._settings = settings
        self._thread = thread
        self._on_event = on_event
        self._on_connected = on_connected
        self._events = tuple(dict.fromkeys(("BACKGROUND_JOB", "HEARTBEAT", *events)))
        self._custom = tuple(custom_events)
        self._client: Any = None
        self._poster: LoopPoster | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = asyncio.Event()
        self._connected = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._jobs: dict[str, asyncio.Future[str]] = {}
        self._orphans: dict[str, tuple[float, str]] = {}
        self.status = ConnectionStatus(address=f"{settings.host}:{settings.port}")
        self._timeouts_in_a_row = 0
        self._wake_watch = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name="esl-inbound-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._disconnect()
        self.status.set(ConnectionState.STOPPED)

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    @property
    def connected(self) -> bool:
        return self.status.state is ConnectionState.CONNECTED

    async def _supervise(self) -> None:
        delay = self._settings.reconnect_initial
        while not self._stopping:
            self.status.set(ConnectionState.CONNECTING)
            try:
                await self._connect()
            except (EslError, OSError) as exc:
                self.status.failures += 1
                self.status.set(ConnectionState.DISCONNECTED, str(exc))
                log.warning(
                    "cannot reach FreeSWITCH",
                    address=self.status.address,
                    error=str(exc),
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._settings.reconnect_max)
                continue
            delay = self._settings.reconnect_initial
            self.status.connects += 1
            self.status.set(ConnectionState.CONNECTED)
            log.info("connected to FreeSWITCH", address=self.status.address)
            if self._on_connected is not None:
                try:
                    await self._on_connected()
                except Exception:
                    log.exception("post-connect reconciliation failed")
            self._connected.set()  # wait_connected(): connected *and* reconciled
            why = await self._watch()
            self._connected.clear()
            self.status.set(ConnectionState.DISCONNECTED, why)
            self._fail_jobs(EslNotConnectedError("connection to FreeSWITCH lost"))
            if not self._stopping:
                log.warning("FreeSWITCH went away; reconnecting", address=self.status.address)

    async def _watch(self) -> str:
        """Until the connection closes, or FreeSWITCH has said nothing (not even its
        HEARTBEAT) for ``heartbeat_timeout`` seconds: then it is dead, whatever TCP says
        (a hung switch or a black-holed link kept /health "connected" while every
        command timed out). Returns why the connection ended."""
        limit = self._settings.heartbeat_timeout
        self._timeouts_in_a_row = 0
        self._wake_watch.clear()
        while True:
            closed = asyncio.ensure_future(self._closed.wait())
            woken = asyncio.ensure_future(self._wake_watch.wait())
            done, pending = await asyncio.wait(
                {closed, woken}, timeout=min(limit / 4, 5.0), return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            if closed in done:
                return "connection lost"
            client = self._client
            if client is None:
                return "connection lost"
            if self._timeouts_in_a_row >= DEAD_AFTER_TIMEOUTS:
                log.warning(
                    "FreeSWITCH answered none of the last commands; reconnecting",
                    address=self.status.address,
                    timeouts=self._timeouts_in_a_row,
                )
                await self._disconnect()
                return f"{self._timeouts_in_a_row} commands in a row got no answer"
            silent = time.perf_counter() - client.last_read_at
            if silent > limit:
                log.warning(
                    "no word from FreeSWITCH (not even a heartbeat); reconnecting",
                    address=self.status.address,
                    silent_s=round(silent, 1),
                )
                await self._disconnect()
                return f"no heartbeat for {silent:.0f} s"

    async def _connect(self) -> None:
        settings = self._settings
        loop = self._loop
        assert loop is not None
        self._closed.clear()
        subscription = subscribe_command(settings.event_format, self._events, self._custom)
        poster = self._poster = LoopPoster(loop)

        def build_and_connect() -> Any:
            client = FixedInboundESL(
                settings.host,
                settings.port,
                settings.password.get_secret_value(),
                timeout=settings.connect_timeout,
            )

            def closed() -> None:
                loop.call_soon_threadsafe(self._closed.set)

            def protocol_error(_error: object) -> None:
                loop.call_soon_threadsafe(self._count_protocol_error)

            client.on_closed = closed
            client.on_protocol_error = protocol_error
            client.poster = poster
            client.event_sink = self._from_gevent
            client.connect()
            try:
                reply: EslMessage = client.send(subscription, timeout=settings.command_timeout)
                if not reply.reply_text.startswith("+OK"):
                    raise EslCommandError(subscription, reply.reply_text)
            except BaseException:  # gevent.Timeout included: never leave the socket open
                client.stop()
                raise
            return client

        self._client = await self._thread.run(
            build_and_connect, timeout=settings.connect_timeout + settings.command_timeout + 1
        )

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None or not self._thread.running:
            return
        try:
            await self._thread.run(client.stop, timeout=3)
        except EslError:
            pass

    def _count_protocol_error(self) -> None:
        self.status.protocol_errors += 1

    # -- events ------------------------------------------------------------------
    def _from_gevent(self, event: EslEvent | EslMessage) -> None:
        """greenswitch handler (gevent thread): hand over, never block."""
        poster = self._poster
        if poster is not None and isinstance(event, EslEvent):
            poster.post(self._deliver, event)

    def _deliver(self, event: EslEvent) -> None:
        if event.name == "BACKGROUND_JOB" and event.job_uuid:
            self._job_done(event.job_uuid, event.body or "")
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("event handler failed", esl_event=event.key)

    def _job_done(self, job: str, body: str) -> None:
        fut = self._jobs.pop(job, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(body)
            return
        now = time.monotonic()
        self._orphans = {k: v for k, v in self._orphans.items() if now - v[0] < _ORPHAN_TTL_S}
        self._orphans[job] = (now, body)

    def _fail_jobs(self, exc: Exception) -> None:
        jobs, self._jobs = self._jobs, {}
        for fut in jobs.values():
            if not fut.done():
                fut.set_exception(exc)

    # -- commands ----------------------------------------------------------------
    async def send_raw(self, command: str, *, timeout: float | None = None) -> EslMessage:
        client = self._client
        if client is None or not self.connected:
            raise EslNotConnectedError(f"not connected to FreeSWITCH at {self.status.address}")
        try:
            reply = await send_command(
                self._thread, client, command, timeout or self._settings.command_timeout
            )
        except EslTimeoutError:
            self._timeouts_in_a_row += 1
            if self._timeouts_in_a_row >= DEAD_AFTER_TIMEOUTS:
                self._wake_watch.set()  # a switch that answers nothing is as good as gone
            raise
        self._timeouts_in_a_row = 0
        return reply

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply:
        reply = await self.send_raw(f"api {command}", timeout=timeout)
        return ApiReply(command, reply.text)

    async def bgapi(self, command: str, *, timeout: float | None = None) -> ApiReply:
        """Run ``command`` in the background and await its BACKGROUND_JOB result."""
        loop = asyncio.get_running_loop()
        job = str(uuid.uuid4())
        fut: asyncio.Future[str] = loop.create_future()
        self._jobs[job] = fut
        try:
            reply = await self.send_raw(f"bgapi {command}\nJob-UUID: {job}")
            if not reply.reply_text.startswith("+OK"):
                raise EslCommandError(command, reply.reply_text)
            actual = reply.headers.get("Job-UUID", job)
            if actual != job:  # this FreeSWITCH chose its own Job-UUID
                self._jobs.pop(job, None)
                job = actual
                orphan = self._orphans.pop(job, None)
                if orphan is not None:
                    return ApiReply(command, orphan[1])
                self._jobs[job] = fut
            body = await asyncio.wait_for(fut, timeout or 120.0)
            return ApiReply(command, body)
        finally:
            self._jobs.pop(job, None)

    async def sendmsg(
        self, uuid: str, app: str, arg: str = "", *, event_lock: bool = False
    ) -> None:
        headers = {"call-command": "execute", "execute-app-name": app}
        if arg:
            headers["execute-app-arg"] = arg
        if event_lock:
            headers["event-lock"] = "true"
        command = encode_command(f"sendmsg {uuid}", headers).decode("utf-8").rstrip("\n")
        reply = await self.send_raw(command)
        if not reply.reply_text.startswith("+OK"):
            raise EslCommandError(f"sendmsg {app}", reply.reply_text)
