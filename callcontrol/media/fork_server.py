"""The websocket server FreeSWITCH's mod_audio_fork connects to (``websockets`` asyncio API).

``ws://host:port/fork/<call_id>`` with the subprotocol ``audio.drachtio.org`` (configurable:
FreeSWITCH's env ``MOD_AUDIO_FORK_SUBPROTOCOL_NAME`` renames it). Per connection:

1. the first frame must be the metadata text frame (within ``metadata_timeout``);
2. its token must match the one the :class:`~callcontrol.media.base.ForkRegistry` issued
   for that call, then the registry attaches a :class:`~callcontrol.media.base.ForkConsumer`;
3. binary L16 frames go to ``consumer.on_audio`` (caller channel only), text frames to
   ``consumer.on_text``; ``consumer.on_close`` is called once at the end.

Bad input closes only that connection, with a reason saying what was wrong:

=============================================  ======
binary frame before the metadata               1003
metadata not JSON / bad rate or mix            1003
odd-length or not whole-sample PCM             1003
metadata without token, wrong token            1008
unknown call, callId not matching the path     1008
no metadata in time                            1008
frame over ``max_frame_bytes``                 1009
registry failure                               1011
=============================================  ======

Wrong paths and a missing/foreign subprotocol are refused at the HTTP handshake (404/400).
``/direct`` is handed to :mod:`callcontrol.media.direct` when a direct registry is given.
A consumer that raises loses that frame (counted in ``consumer_errors``), nothing else.
"""

from __future__ import annotations

import asyncio
import collections
import http
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from callcontrol.config import ForkSettings
from callcontrol.media.base import ForkConsumer, ForkRegistry
from callcontrol.media.direct import DirectRegistry, serve_direct
from callcontrol.media.fork_wire import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED_DATA,
    ForkMetadata,
    ForkWireError,
    caller_samples,
    close_reason,
    is_valid_call_id,
    token_matches,
)
from callcontrol.media.wslink import Refused, SessionStats, WebsocketLink

log = structlog.get_logger(__name__)

FORK_PREFIX = "/fork/"
DIRECT_PATH = "/direct"
_MAX_LOGGED_CONSUMER_ERRORS = 3
_connection_ids = itertools.count(1)


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


def _split_path(request_path: str) -> str:
    return urlsplit(request_path).path


class ForkServer:
    """Serves ``/fork/<call_id>`` (and ``/direct`` if ``direct`` is given).

    ``async with ForkServer(registry, settings) as server:`` … ``server.port`` is the bound
    port (useful with ``port=0``).
    """

    def __init__(
        self,
        registry: ForkRegistry,
        settings: ForkSettings | None = None,
        *,
        direct: DirectRegistry | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings or ForkSettings()
        self.direct = direct if self.settings.direct_enabled else None
        self.host = host if host is not None else self.settings.host
        self._port = port if port is not None else self.settings.port
        self.stats = ForkStats()
        self._server: Server | None = None

    async def __aenter__(self) -> ForkServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        s = self.settings
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            subprotocols=[Subprotocol(s.subprotocol)],
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            process_response=self._process_response,
            compression=None,
            max_size=s.max_frame_bytes,
            max_queue=s.receive_queue,
            server_header=None,
        )
        log.info("fork.listening", host=self.host, port=self.port, subprotocol=s.subprotocol)

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        sockname: Any = next(iter(self._server.sockets)).getsockname()
        return int(sockname[1])

    async def aclose(self) -> None:
        """Stop listening and close every connection (code 1001); consumers get on_close."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # --- handshake -------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.stats.connections_total += 1
        path = _split_path(request.path)
        if path.startswith(FORK_PREFIX) and is_valid_call_id(path[len(FORK_PREFIX) :]):
            return None
        if path == DIRECT_PATH and self.direct is not None:
            return None
        self._count_refusal("bad_path")
        log.warning("fork.refused", reason="bad path", path=request.path[:200])
        return connection.respond(http.HTTPStatus.NOT_FOUND, "expected /fork/<call_id>\n")

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        if response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS:
            self.stats.handshakes_refused += 1
            if response.status_code == http.HTTPStatus.BAD_REQUEST:
                self._count_refusal("handshake")
                log.warning(
                    "fork.refused",
                    reason="bad handshake",
                    path=request.path[:200],
                    offered=_offered(request.headers),
                    detail=response.body.decode("utf-8", "replace")[:200],
                )

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        request = connection.request
        if request is not None and _split_path(request.path) == DIRECT_PATH:
            return None  # the direct endpoint needs no subprotocol
        wanted = self.settings.subprotocol
        if wanted in offered:
            return Subprotocol(wanted)
        raise NegotiationError(f"subprotocol {wanted} required")

    # --- connections -----------------------------------------------------------------

    def _count_refusal(self, key: str) -> None:
        self.stats.refused[key] += 1

    async def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None  # the handshake succeeded
        path = _split_path(request.path)
        if path == DIRECT_PATH and self.direct is not None:
            await serve_direct(connection, self.direct, self.settings, self)
            return
        await self._serve_fork(connection, path[len(FORK_PREFIX) :])

    async def refuse(self, connection: ServerConnection, refused: Refused, **info: Any) -> None:
        self._count_refusal(refused.key)
        log.warning("fork.refused", reason=refused.reason, code=refused.code, **info)
        await connection.close(refused.code, close_reason(refused.reason))

    async def _serve_fork(self, connection: ServerConnection, call_id: str) -> None:
        try:
            metadata = await self._read_metadata(connection, call_id)
            consumer, link = self._attach(connection, call_id, metadata)
        except Refused as refused:
            await self.refuse(connection, refused, call_id=call_id)
            return
        except ConnectionClosed as exc:
            log.info("fork.closed_before_metadata", call_id=call_id, code=_code(exc))
            return
        await self.pump(
            connection,
            consumer,
            SessionStats(call_id),
            sample_rate=metadata.sample_rate,
            channels=metadata.channels,
            log_info={"mix": metadata.mix, "rate": metadata.sample_rate},
        )

    async def _read_metadata(self, connection: ServerConnection, call_id: str) -> ForkMetadata:
        try:
            first = await asyncio.wait_for(connection.recv(), self.settings.metadata_timeout)
        except TimeoutError:
            raise Refused(
                CLOSE_POLICY_VIOLATION,
                f"no metadata text frame within {self.settings.metadata_timeout:g} s",
                "metadata_timeout",
            ) from None
        if isinstance(first, bytes):
            raise Refused(
                CLOSE_UNSUPPORTED_DATA,
                "binary frame before the metadata text frame",
                "binary_before_metadata",
            )
        try:
            metadata = ForkMetadata.parse(first, default_rate=self.settings.sample_rate)
        except ForkWireError as exc:
            raise Refused(exc.close_code, str(exc), "bad_metadata") from exc
        if metadata.call_id is not None and metadata.call_id != call_id:
            raise Refused(
                CLOSE_POLICY_VIOLATION, "metadata callId does not match the path", "call_mismatch"
            )
        return metadata

    def _attach(
        self, connection: ServerConnection, call_id: str, metadata: ForkMetadata
    ) -> tuple[ForkConsumer, WebsocketLink]:
        try:
            expected = self.registry.expected_token(call_id)
        except Exception as exc:
            log.exception("fork.registry_error", call_id=call_id)
            raise Refused(CLOSE_INTERNAL_ERROR, "call lookup failed", "registry_error") from exc
        if expected is None:
            raise Refused(CLOSE_POLICY_VIOLATION, "unknown call", "unknown_call")
        if not token_matches(expected, metadata.token):
            raise Refused(CLOSE_POLICY_VIOLATION, "wrong token", "bad_token")
        link = WebsocketLink(connection, call_id)
        try:
            consumer = self.registry.attach(call_id, metadata, link)
        except Exception as exc:
            log.exception("fork.registry_error", call_id=call_id)
            raise Refused(
                CLOSE_INTERNAL_ERROR, "attaching the call failed", "registry_error"
            ) from exc
        if consumer is None:
            raise Refused(CLOSE_POLICY_VIOLATION, "unknown call", "unknown_call")
        return consumer, link

    async def pump(
        self,
        connection: ServerConnection,
        consumer: ForkConsumer,
        session: SessionStats,
        *,
        sample_rate: int,
        channels: int,
        log_info: dict[str, Any],
    ) -> None:
        """Feed one accepted connection's frames to its consumer until the socket ends."""
        stats = self.stats
        key = next(_connection_ids)
        stats.accepted_total += 1
        stats.sessions[key] = session
        call_id = session.call_id
        max_bytes = self.settings.max_frame_bytes
        log.info("fork.attached", call_id=call_id, transport=session.transport, **log_info)
        try:
            async for message in connection:
                if isinstance(message, str):
                    session.texts_received += 1
                    self._call(consumer.on_text, session, message)
                    continue
                size = len(message)
                if size == 0:
                    log.info("fork.graceful_shutdown", call_id=call_id)
                    continue
                session.frames_received += 1
                session.bytes_received += size
                stats.frames_received += 1
                stats.bytes_received += size
                try:
                    samples = caller_samples(message, channels=channels, max_bytes=max_bytes)
                except ForkWireError as exc:
                    await self.refuse(
                        connection, Refused(exc.close_code, str(exc), "bad_audio"), call_id=call_id
                    )
                    break
                try:
                    accepted = consumer.on_audio(samples, sample_rate)
                except Exception:  # a consumer bug must not end the server or other calls
                    accepted = self._consumer_failed(session, "on_audio")
                if accepted is False:
                    session.frames_dropped += 1
                    stats.frames_dropped += 1
        except ConnectionClosed as exc:
            if _code(exc) == CLOSE_TOO_BIG:
                self._count_refusal("frame_too_big")
                log.warning(
                    "fork.refused", reason="frame too big", code=CLOSE_TOO_BIG, call_id=call_id
                )
        finally:
            del stats.sessions[key]
            code = connection.close_code if connection.close_code is not None else 1006
            reason = connection.close_reason or ""
            self._call(consumer.on_close, session, code, reason)
            log.info(
                "fork.detached",
                call_id=call_id,
                transport=session.transport,
                code=code,
                reason=reason,
                frames=session.frames_received,
                dropped=session.frames_dropped,
                seconds=round(time.monotonic() - session.started_at, 2),
            )

    def _call(self, method: Any, session: SessionStats, *args: Any) -> None:
        try:
            method(*args)
        except Exception:  # a consumer bug must not end the server or other calls
            self._consumer_failed(session, getattr(method, "__name__", "?"))

    def _consumer_failed(self, session: SessionStats, method: str) -> bool:
        """Count and log (the first few) consumer exceptions; the frame counts as dropped."""
        session.consumer_errors += 1
        self.stats.consumer_errors += 1
        if session.consumer_errors <= _MAX_LOGGED_CONSUMER_ERRORS:
            log.exception(
                "fork.consumer_error",
                call_id=session.call_id,
                method=method,
                errors=session.consumer_errors,
            )
        return False


def _code(exc: ConnectionClosed) -> int | None:
    """The close code that ended the connection (ours if we sent one first)."""
    frame = exc.sent if exc.sent is not None else exc.rcvd
    return frame.code if frame is not None else None


def _offered(headers: Headers) -> list[str]:
    return headers.get_all("Sec-WebSocket-Protocol")
