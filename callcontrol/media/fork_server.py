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
text frame that is not UTF-8                   1007
metadata without token, wrong token            1008
unknown call, callId not matching the path     1008
no metadata in time                            1008
frame over ``max_frame_bytes``                 1009
registry failure                               1011
=============================================  ======

Wrong paths and a missing/foreign subprotocol are refused at the HTTP handshake (404/400).
``/direct`` is handed to :mod:`callcontrol.media.direct` when a direct registry is given.
A consumer that raises loses that frame (counted in ``consumer_errors``), nothing else.

Frames are handled synchronously as they are parsed
(:class:`~callcontrol.media.wslink.SinkConnection`), so the consumer methods run inside
the protocol callback: they must only queue.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from callcontrol.config import ForkSettings
from callcontrol.errors import MediaRefused, listen_error
from callcontrol.media.base import ForkRegistry
from callcontrol.media.direct import DirectRegistry, DirectStart
from callcontrol.media.direct_auth import DirectAuth
from callcontrol.media.fork_wire import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED_DATA,
    ForkMetadata,
    ForkWireError,
    close_reason,
    is_valid_call_id,
    token_matches,
)
from callcontrol.media.wslink import (
    Attached,
    ForkStats,
    FrameSession,
    SessionStats,
    SinkConnection,
    WebsocketLink,
)

log = structlog.get_logger(__name__)

FORK_PREFIX = "/fork/"
DIRECT_PATH = "/direct"


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
        direct_auth: DirectAuth | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings or ForkSettings()
        self.direct = direct if self.settings.direct_enabled else None
        # /direct is never open: without an explicit auth, only the configured token
        # (or nobody, when none is configured) gets in.
        self.direct_auth = direct_auth or DirectAuth.unguessable(self.settings)
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
        try:
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
                server_header=None,
                create_connection=SinkConnection,
            )
        except OSError as exc:
            raise listen_error(
                exc, "the audio fork websocket", self.host, self._port, "CALLCONTROL_FORK__PORT"
            ) from exc
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
        assert isinstance(connection, SinkConnection)
        request = connection.request
        assert request is not None  # the handshake succeeded
        path = _split_path(request.path)
        starter: Starter
        if path == DIRECT_PATH and self.direct is not None:
            starter = DirectStart(self.direct, self.settings, connection, self.direct_auth)
        else:
            starter = ForkStart(self.registry, self.settings, path[len(FORK_PREFIX) :], connection)
        await self._run(connection, starter)

    async def refuse(
        self, connection: ServerConnection, refused: MediaRefused, **info: Any
    ) -> None:
        self._count_refusal(refused.key)
        log.warning("fork.refused", reason=refused.reason, code=refused.code, **info)
        await connection.close(refused.code, close_reason(refused.reason))

    async def _run(self, connection: SinkConnection, starter: Starter) -> None:
        """Drive one connection: first frame within the timeout, then until it closes."""
        session = FrameSession(
            self.stats, starter.start, max_frame_bytes=self.settings.max_frame_bytes
        )
        connection.sink = session.on_frame
        closed = asyncio.ensure_future(connection.wait_closed())
        try:
            await asyncio.wait(
                (session.attached, session.refused, closed),
                timeout=self.settings.metadata_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not (session.attached.done() or session.refused.done() or closed.done()):
                session.refuse(starter.timeout_refusal(self.settings.metadata_timeout))
            if session.attached.done():
                await starter.attached(session.attached.result())
                await asyncio.wait((session.refused, closed), return_when=asyncio.FIRST_COMPLETED)
            if session.refused.done() and not closed.done():
                await self.refuse(connection, session.refused.result(), call_id=starter.call_id)
            elif _sent_code(connection) == CLOSE_TOO_BIG:
                self._count_refusal("frame_too_big")
                log.warning(
                    "fork.refused",
                    reason="frame too big",
                    code=CLOSE_TOO_BIG,
                    call_id=starter.call_id,
                )
            elif not session.attached.done():
                log.info("fork.closed_before_metadata", call_id=starter.call_id)
        finally:
            if not closed.done():
                closed.cancel()
            await asyncio.wait([closed])
            code = connection.close_code if connection.close_code is not None else 1006
            session.end(code, connection.close_reason or "")
            await starter.aclose()


class Starter(Protocol):
    """How one kind of endpoint turns its first frame into an attached consumer."""

    call_id: str

    def start(self, text: bool, data: bytes) -> Attached:
        """Runs inside data_received; raises MediaRefused."""

    def timeout_refusal(self, seconds: float) -> MediaRefused: ...

    async def attached(self, attached: Attached) -> None:
        """After the consumer is attached, on the connection's task."""

    async def aclose(self) -> None: ...


class ForkStart:
    """``/fork/<call_id>``: the metadata frame, its token, the registry."""

    def __init__(
        self,
        registry: ForkRegistry,
        settings: ForkSettings,
        call_id: str,
        connection: ServerConnection,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.call_id = call_id
        self.connection = connection

    def timeout_refusal(self, seconds: float) -> MediaRefused:
        return MediaRefused(
            CLOSE_POLICY_VIOLATION,
            f"no metadata text frame within {seconds:g} s",
            "metadata_timeout",
        )

    def start(self, text: bool, data: bytes) -> Attached:
        call_id = self.call_id
        if not text:
            raise MediaRefused(
                CLOSE_UNSUPPORTED_DATA,
                "binary frame before the metadata text frame",
                "binary_before_metadata",
            )
        try:
            metadata = ForkMetadata.parse(data, default_rate=self.settings.sample_rate)
        except ForkWireError as exc:
            raise MediaRefused(exc.close_code, str(exc), "bad_metadata") from exc
        if metadata.call_id is not None and metadata.call_id != call_id:
            raise MediaRefused(
                CLOSE_POLICY_VIOLATION, "metadata callId does not match the path", "call_mismatch"
            )
        try:
            expected = self.registry.expected_token(call_id)
        except Exception as exc:
            log.exception("fork.registry_error", call_id=call_id)
            raise MediaRefused(
                CLOSE_INTERNAL_ERROR, "call lookup failed", "registry_error"
            ) from exc
        if expected is None:
            raise MediaRefused(CLOSE_POLICY_VIOLATION, "unknown call", "unknown_call")
        if not token_matches(expected, metadata.token):
            raise MediaRefused(CLOSE_POLICY_VIOLATION, "wrong token", "bad_token")
        link = WebsocketLink(self.connection, call_id)
        try:
            consumer = self.registry.attach(call_id, metadata, link)
        except Exception as exc:
            log.exception("fork.registry_error", call_id=call_id)
            raise MediaRefused(
                CLOSE_INTERNAL_ERROR, "attaching the call failed", "registry_error"
            ) from exc
        if consumer is None:
            raise MediaRefused(CLOSE_POLICY_VIOLATION, "unknown call", "unknown_call")
        return Attached(
            consumer,
            metadata.sample_rate,
            metadata.channels,
            SessionStats(call_id),
            {"mix": metadata.mix, "rate": metadata.sample_rate},
        )

    async def attached(self, attached: Attached) -> None:
        pass

    async def aclose(self) -> None:
        pass


def _sent_code(connection: ServerConnection) -> int | None:
    """The close code this side sent (websockets itself sends 1009 for a big frame)."""
    sent = connection.protocol.close_sent
    return sent.code if sent is not None else None


def _offered(headers: Headers) -> list[str]:
    return headers.get_all("Sec-WebSocket-Protocol")
