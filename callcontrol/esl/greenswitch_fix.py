"""greenswitch, with its wire reader replaced by :mod:`callcontrol.esl.protocol`.

greenswitch 0.0.19 reads the socket line by line, URL-decodes whole event
bodies and splits every line on ``": "``. mod_audio_fork's CUSTOM events carry
JSON bodies, and those come out mangled: a body holding ``": "`` turns into a
bogus header, a body without it is glued onto the ``Content-Length`` value, and
``%41`` inside the body is decoded to ``A``. JSON events are not understood at
all, and a frame with a bad ``Content-Length`` kills its reader greenlet.

These subclasses keep greenswitch's connection handling, FIFO reply matching,
handler dispatch and outbound-session helpers, and swap in a byte-exact framer.
Everything here runs on the gevent thread (see :mod:`callcontrol.esl.bridge`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import structlog
from greenswitch import esl as gs

from callcontrol.errors import EslNotConnectedError, EslProtocolError
from callcontrol.esl.poster import LoopPoster
from callcontrol.esl.protocol import EslEvent, EslMessage, EslParser, parse_event

log = structlog.get_logger(__name__)

ProtocolErrorHook = Callable[[EslProtocolError], None]
EventSink = Callable[[EslEvent | EslMessage], None]


class ReplySlot:
    """Stands in a greenswitch command queue for a reply awaited by asyncio.

    greenswitch queues a gevent ``AsyncResult`` per command and the reader
    ``set()``s it. A slot has the same two methods but posts the reply to the
    asyncio loop with ``call_soon_threadsafe`` — the same road events take — so
    asyncio sees replies and events in the order FreeSWITCH sent them.
    """

    __slots__ = ("_post",)

    def __init__(self, post: Callable[[EslMessage | None, BaseException | None], None]) -> None:
        self._post = post

    def set(self, message: EslMessage) -> None:
        self._post(message, None)

    def set_exception(self, exc: BaseException) -> None:
        self._post(None, exc)


_EVENT_TYPES = ("text/event-plain", "text/event-json")


class FixedProtocolMixin:
    """Replaces ``ESLProtocol.receive_events``/``send``; mixed into greenswitch classes."""

    sock: Any
    sock_file: Any
    connected: bool
    _run: bool
    _lingering: bool
    _commands_sent: list[Any]
    _auth_request_event: Any
    _esl_event_queue: Any
    on_protocol_error: ProtocolErrorHook | None = None
    on_closed: Callable[[], None] | None = None
    # Called on the reader greenlet for every event and disconnect notice, before
    # greenswitch's own queue sees it. It must only hand the event over.
    event_sink: EventSink | None = None
    # Hands replies to asyncio in order with the events (see callcontrol.esl.poster).
    poster: LoopPoster | None = None
    event_handlers: dict[str, Any]
    protocol_errors: int = 0
    _read_at: float = 0.0

    def receive_events(self) -> None:
        parser = EslParser()
        while self._run:
            try:
                data = self.sock.recv(65536)
            except Exception as exc:  # noqa: BLE001 - any socket failure ends the session
                log.info("esl socket read failed", error=str(exc))
                data = b""
            if not data:
                break
            parser.feed(data)
            self._read_at = time.perf_counter()
            for item in parser.messages():
                if isinstance(item, EslProtocolError):
                    self._protocol_error(item)
                else:
                    self._dispatch(item)
        leftover = parser.close()
        if leftover is not None:
            self._protocol_error(leftover)
        self._connection_lost()

    def _protocol_error(self, error: EslProtocolError) -> None:
        self.protocol_errors += 1
        log.warning("malformed ESL input dropped", error=str(error))
        hook = self.on_protocol_error
        if hook is not None:
            hook(error)

    def _connection_lost(self) -> None:
        was_connected = self.connected
        self.connected = False
        self._run = False
        pending, self._commands_sent = self._commands_sent, []
        for result in pending:
            result.set_exception(EslNotConnectedError("connection to FreeSWITCH lost"))
        self._close_socket()
        # Unblock anyone waiting for auth/request on a connection that died early.
        self._auth_request_event.set()
        if was_connected:
            log.debug("esl connection closed")
        hook = self.on_closed
        if hook is not None:
            hook()

    @property
    def last_read_at(self) -> float:
        """``time.perf_counter()`` of the last bytes received (or of the connect)."""
        return self._read_at

    def _close_socket(self) -> None:
        """Close the socket *and* greenswitch's ``makefile`` over it: while the file is
        open, closing the socket only drops a reference and the descriptor stays
        (CLOSE-WAIT, one per failed connect: thousands a day with a retry loop)."""
        for closable in (getattr(self, "sock_file", None), getattr(self, "sock", None)):
            if closable is None:
                continue
            try:
                closable.close()
            except (OSError, AttributeError):
                pass

    def _reply(self, message: EslMessage) -> None:
        if not self._commands_sent:
            self._protocol_error(
                EslProtocolError(f"unexpected {message.content_type} with no command pending")
            )
            return
        self._commands_sent.pop(0).set(message)

    def _dispatch(self, message: EslMessage) -> None:
        ctype = message.content_type
        if ctype == "auth/request":
            self._auth_request_event.set()
        elif ctype in ("command/reply", "api/response"):
            self._reply(message)
        elif ctype in _EVENT_TYPES:
            try:
                event: EslEvent = parse_event(message, self._read_at)
            except EslProtocolError as exc:
                self._protocol_error(exc)
                return
            self._emit(event)
        elif ctype == "text/disconnect-notice":
            if message.headers.get("Content-Disposition") == "linger":
                self._lingering = True
            else:
                self.connected = False
            self._emit(message)
        elif ctype == "text/rude-rejection":
            self.connected = False
            log.error("FreeSWITCH refused the connection (ACL)", reason=message.text.strip())
            self._auth_request_event.set()
        elif ctype == "log/data":
            pass
        else:
            self._protocol_error(EslProtocolError(f"unknown Content-Type {ctype!r}"))

    def _emit(self, item: EslEvent | EslMessage) -> None:
        sink = self.event_sink
        if sink is not None:
            sink(item)
        if self.event_handlers:  # greenswitch's own handlers (outbound sessions) only
            self._esl_event_queue.put(item)

    def send_nowait(self, data: str, slot: ReplySlot) -> None:
        """Write a command; its reply goes to ``slot`` (FIFO, like greenswitch's own)."""
        if not self.connected:
            slot.set_exception(EslNotConnectedError("not connected to FreeSWITCH"))
            return
        self._commands_sent.append(slot)
        try:
            self.sock.sendall((data + "\n\n").encode("utf-8"))
        except OSError as exc:
            if slot in self._commands_sent:
                self._commands_sent.remove(slot)
            slot.set_exception(EslNotConnectedError(f"send failed: {exc}"))

    def send(self, data: str, timeout: float | None = None) -> EslMessage:
        if not self.connected:
            raise EslNotConnectedError("not connected to FreeSWITCH")
        result = gevent.event.AsyncResult()
        self._commands_sent.append(result)
        try:
            self.sock.sendall((data + "\n\n").encode("utf-8"))
        except OSError as exc:
            if result in self._commands_sent:
                self._commands_sent.remove(result)
            raise EslNotConnectedError(f"send failed: {exc}") from exc
        # On timeout the result stays queued so the late reply still lines up (FIFO).
        reply: EslMessage = result.get(timeout=timeout)
        return reply


def enable_keepalive(sock: Any, idle_s: int = 30, interval_s: int = 10, probes: int = 3) -> None:
    """TCP keepalive: a peer gone without a FIN is noticed by the kernel in about
    ``idle_s + interval_s * probes`` seconds even when nothing is being sent."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", idle_s),
        ("TCP_KEEPINTVL", interval_s),
        ("TCP_KEEPCNT", probes),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


class FixedInboundESL(FixedProtocolMixin, gs.InboundESL):  # type: ignore[misc]
    """greenswitch's inbound client with the fixed reader."""

    def connect(self) -> None:
        """Connect and authenticate; on any failure everything opened is closed."""
        self.sock = gevent.socket.create_connection((self.host, self.port), timeout=self.timeout)
        self._read_at = time.perf_counter()
        try:
            self.sock.settimeout(None)
            enable_keepalive(self.sock)
            self.sock_file = self.sock.makefile("rb")
            self.connected = True
            self.start_event_handlers()
            if not self._auth_request_event.wait(self.timeout):
                raise EslNotConnectedError("FreeSWITCH sent no auth/request")
            if not self.connected:
                raise EslNotConnectedError("FreeSWITCH closed the connection (check its ACL)")
            try:
                reply = self.send(f"auth {self.password}", timeout=self.timeout)
            except gevent.Timeout as exc:  # a BaseException: not caught as an Exception
                raise EslNotConnectedError("FreeSWITCH did not answer auth in time") from exc
            if not reply.reply_text.startswith("+OK"):
                raise EslNotConnectedError(f"authentication refused: {reply.reply_text}")
        except BaseException:
            self.stop(goodbye=False)  # refused or silent: no "exit" to wait a reply for
            raise

    def stop(self, goodbye: bool = True) -> None:
        self._run = False
        if self.connected and goodbye:
            try:
                self.send("exit", timeout=1.0)
            except (Exception, gevent.Timeout):  # noqa: BLE001 - best effort goodbye
                pass
        self.connected = False
        self._close_socket()
        for greenlet in (self._receive_events_greenlet, self._process_events_greenlet):
            if greenlet is None:
                continue
            if goodbye:
                greenlet.join(timeout=2)  # let queued events drain
            else:
                greenlet.kill(timeout=2)  # nothing to drain from a refused connect


class FixedOutboundSession(FixedProtocolMixin, gs.OutboundSession):  # type: ignore[misc]
    """greenswitch's outbound-socket session with the fixed reader."""

    def stop(self) -> None:
        self._run = False
        self._close_socket()
        for greenlet in (self._receive_events_greenlet, self._process_events_greenlet):
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.join(timeout=2)
