"""What both websocket endpoints (``/fork/<call_id>`` and ``/direct``) share.

* :class:`SinkConnection` hands each whole data message to a synchronous callback from
  ``data_received``. websockets' ``recv()`` would queue every frame and wake the handler
  task for it; a fork sends 33–50 small frames a second per call, so at 200 calls that
  queue-and-wake is a large share of the event loop's work.
* :class:`FrameSession` is one connection's frame state machine: the first frame
  (metadata or hello) attaches a consumer, then audio and text go to it, counted;
  anything wrong ends the session with a :class:`MediaRefused` for the handler to close with.
* :class:`WebsocketLink` is the :class:`~callcontrol.media.base.ForkLink` given to consumers.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

from callcontrol.errors import MediaRefused
from callcontrol.media.base import ForkConsumer
from callcontrol.media.fork_wire import (
    CLOSE_NORMAL,
    ForkWireError,
    ServerMessage,
    caller_samples,
    close_reason,
)

log = structlog.get_logger(__name__)

_MAX_LOGGED_CONSUMER_ERRORS = 3
CLOSE_INVALID_PAYLOAD = 1007


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


@dataclass(slots=True)
class ForkStats:
    """Totals over the server's life plus the live sessions (plain attributes; the
    maintainer maps them to prometheus)."""

    connections_total: int = 0
    accepted_total: int = 0
    handshakes_refused: int = 0
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    frames_received: int = 0
    frames_dropped: int = 0
    bytes_received: int = 0
    consumer_errors: int = 0
    sessions: dict[int, SessionStats] = field(default_factory=dict)

    @property
    def active(self) -> int:
        return len(self.sessions)


@dataclass(slots=True)
class Attached:
    """What the first frame produced: who gets the audio, and its format."""

    consumer: ForkConsumer
    sample_rate: int
    channels: int
    stats: SessionStats
    log_info: dict[str, Any] = field(default_factory=dict)


# A function of the first frame (is_text, payload) that attaches a consumer or raises MediaRefused.
StartFn = Callable[[bool, bytes], Attached]
Sink = Callable[[bool, bytes], None]


class SinkConnection(ServerConnection):
    """A ServerConnection that, once ``sink`` is set, delivers whole data messages to it
    synchronously (fragments are joined) instead of queueing them for ``recv()``.
    Control frames keep websockets' own handling. ``process_event`` is the hook
    websockets documents for subclasses."""

    sink: Sink | None = None
    _fragments: list[bytes] | None = None
    _fragments_text = False

    def process_event(self, event: Event) -> None:
        sink = self.sink
        if sink is None or not isinstance(event, Frame):
            super().process_event(event)
            return
        opcode = event.opcode
        if opcode is Opcode.BINARY or opcode is Opcode.TEXT:
            data = bytes(event.data)
            if event.fin:
                sink(opcode is Opcode.TEXT, data)
            else:
                self._fragments, self._fragments_text = [data], opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            if self._fragments is not None:
                self._fragments.append(bytes(event.data))
                if event.fin:
                    parts, self._fragments = self._fragments, None
                    sink(self._fragments_text, b"".join(parts))
        else:
            super().process_event(event)


class _Phase(enum.Enum):
    WAITING = "waiting"  # for the first frame
    STREAMING = "streaming"
    ENDED = "ended"


class FrameSession:
    """One connection's frames. ``on_frame`` runs inside ``data_received``: it must stay
    synchronous and cheap, like the consumer methods it calls."""

    def __init__(self, totals: ForkStats, start: StartFn, *, max_frame_bytes: int) -> None:
        loop = asyncio.get_running_loop()
        self.attached: asyncio.Future[Attached] = loop.create_future()
        self.refused: asyncio.Future[MediaRefused] = loop.create_future()
        self._totals = totals
        self._start = start
        self._max_bytes = max_frame_bytes
        self._phase = _Phase.WAITING
        self._key = 0
        self._session: Attached | None = None
        self._closed_consumer = False

    @property
    def call_id(self) -> str | None:
        return self._session.stats.call_id if self._session is not None else None

    def refuse(self, refused: MediaRefused) -> None:
        """End the session; the handler closes the socket with the refusal's code."""
        if self._phase is _Phase.ENDED:
            return
        self._phase = _Phase.ENDED
        if not self.refused.done():
            self.refused.set_result(refused)

    def on_frame(self, text: bool, data: bytes) -> None:
        phase = self._phase
        if phase is _Phase.STREAMING:
            session = self._session
            assert session is not None
            if text:
                self._text(session, data)
            else:
                self._audio(session, data)
        elif phase is _Phase.WAITING:
            self._first(text, data)

    def _first(self, text: bool, data: bytes) -> None:
        try:
            session = self._start(text, data)
        except MediaRefused as refused:
            self.refuse(refused)
            return
        self._session = session
        self._phase = _Phase.STREAMING
        totals = self._totals
        totals.accepted_total += 1
        self._key = id(self)
        totals.sessions[self._key] = session.stats
        log.info(
            "fork.attached",
            call_id=session.stats.call_id,
            transport=session.stats.transport,
            **session.log_info,
        )
        self.attached.set_result(session)

    def _text(self, session: Attached, data: bytes) -> None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.refuse(MediaRefused(CLOSE_INVALID_PAYLOAD, "text frame is not UTF-8", "bad_text"))
            return
        session.stats.texts_received += 1
        try:
            session.consumer.on_text(text)
        except Exception:  # noqa: BLE001 - a consumer bug must not end the server or other calls
            self._consumer_failed(session.stats, "on_text")

    def _audio(self, session: Attached, data: bytes) -> None:
        size = len(data)
        stats, totals = session.stats, self._totals
        if size == 0:
            log.info("fork.graceful_shutdown", call_id=stats.call_id)
            return
        stats.frames_received += 1
        stats.bytes_received += size
        totals.frames_received += 1
        totals.bytes_received += size
        try:
            samples = caller_samples(data, channels=session.channels, max_bytes=self._max_bytes)
        except ForkWireError as exc:
            self.refuse(MediaRefused(exc.close_code, str(exc), "bad_audio"))
            return
        try:
            accepted = session.consumer.on_audio(samples, session.sample_rate)
        except Exception:  # noqa: BLE001 - a consumer bug must not end the server or other calls
            accepted = self._consumer_failed(stats, "on_audio")
        if accepted is False:
            stats.frames_dropped += 1
            totals.frames_dropped += 1

    def _consumer_failed(self, stats: SessionStats, method: str) -> bool:
        """Count and log (the first few) consumer exceptions; a frame counts as dropped."""
        stats.consumer_errors += 1
        self._totals.consumer_errors += 1
        if stats.consumer_errors <= _MAX_LOGGED_CONSUMER_ERRORS:
            log.exception(
                "fork.consumer_error",
                call_id=stats.call_id,
                method=method,
                errors=stats.consumer_errors,
            )
        return False

    def end(self, code: int, reason: str) -> None:
        """The socket is gone: tell the consumer (once) and forget the session."""
        self._phase = _Phase.ENDED
        session = self._session
        if session is None or self._closed_consumer:
            return
        self._closed_consumer = True
        self._totals.sessions.pop(self._key, None)
        stats = session.stats
        try:
            session.consumer.on_close(code, reason)
        except Exception:  # noqa: BLE001 - a consumer bug must not end the server or other calls
            self._consumer_failed(stats, "on_close")
        log.info(
            "fork.detached",
            call_id=stats.call_id,
            transport=stats.transport,
            code=code,
            reason=reason,
            frames=stats.frames_received,
            dropped=stats.frames_dropped,
            seconds=round(time.monotonic() - stats.started_at, 2),
        )


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
