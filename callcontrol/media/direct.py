"""The direct transport: a client streams audio in and hears the bot without FreeSWITCH.

Wire format: :mod:`callcontrol.media.direct_wire`. The endpoint lives on the fork
server's port at ``/direct`` (see :class:`~callcontrol.media.fork_server.ForkServer`), and
the call side sees the same :class:`~callcontrol.media.base.ForkConsumer` seam as for a
FreeSWITCH fork: the pipeline does not care which transport carries the audio.

:class:`DirectPlayback` is this transport's :class:`~callcontrol.media.base.AudioOutput`:
it sends the bot's PCM as binary frames paced in real time (``lead_ms`` ahead, so the
client's buffer never runs dry), and ``clear()`` stops at once, tells the client to
drop what it buffered, and reports how many ms of the current item had been heard.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from websockets.asyncio.server import ServerConnection

from callcontrol.config import ForkSettings
from callcontrol.errors import MediaRefused
from callcontrol.media.base import (
    AudioOutput,
    BinaryLink,
    ForkConsumer,
    MediaLink,
    PlaybackHandle,
)
from callcontrol.media.direct_auth import DirectAuth
from callcontrol.media.direct_wire import DirectHello, direct_event, ready_event
from callcontrol.media.fork_wire import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNSUPPORTED_DATA,
    ForkWireError,
)
from callcontrol.media.output import QueuedItem, QueuedOutput
from callcontrol.media.wslink import Attached, SessionStats, WebsocketLink

log = structlog.get_logger(__name__)


class DirectRegistry(Protocol):
    """Opens a conversation for a direct client (implemented by the call/dialog side)."""

    def open_direct(
        self, call_id: str, hello: DirectHello, link: MediaLink, output: AudioOutput
    ) -> ForkConsumer | None:
        """Return the consumer for the client's audio, or None to refuse (1008)."""


@dataclass(slots=True, eq=False)
class _Item(QueuedItem):
    frames: list[bytes] = field(default_factory=list)


class DirectPlayback(QueuedOutput[_Item]):
    """Paced PCM playback to a direct client; an :class:`AudioOutput`."""

    kind = "direct-play"

    def __init__(
        self,
        link: BinaryLink,
        sample_rate: int,
        *,
        frame_ms: int = 20,
        lead_ms: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(link, sample_rate, clock=clock)
        self._binary = link
        self.frame_ms = frame_ms
        self.lead_s = lead_ms / 1000

    # --- QueuedOutput ----------------------------------------------------------------

    async def _prepare(self, handle: PlaybackHandle, data: bytes, text: str) -> _Item:
        step = self.sample_rate * self.frame_ms // 1000 * 2
        return _Item(handle, frames=[data[i : i + step] for i in range(0, len(data), step)])

    def _position_ms(self) -> float:
        item = self._current
        if item is None or item.started_at is None:
            return 0.0
        return min((self._clock() - item.started_at) * 1000, item.handle.duration_ms)

    async def _after_clear(self, played_ms: float) -> None:
        """Tell the client to drop what it buffered."""
        await self._link.send_text(direct_event("clear", playedMs=round(played_ms)))

    async def _play_item(self, item: _Item) -> None:
        handle = item.handle
        start = self._clock()
        self._started(item, start)
        await self._link.send_text(
            direct_event("playback", event="started", id=handle.playback_id, text=handle.text)
        )
        frame_s = self.frame_ms / 1000
        for i, frame in enumerate(item.frames):
            delay = start + i * frame_s - self.lead_s - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._link.closed:
                break
            await self._binary.send_bytes(frame)
        remaining = start + handle.duration_ms / 1000 - self._clock()
        if remaining > 0 and not self._link.closed:
            await asyncio.sleep(remaining)
        interrupted = self._link.closed
        played = min((self._clock() - start) * 1000, handle.duration_ms)
        self._finish(handle, played, interrupted=interrupted)
        await self._link.send_text(
            direct_event(
                "playback",
                event="finished",
                id=handle.playback_id,
                positionMs=round(played),
                interrupted=interrupted,
            )
        )


class DirectStart:
    """``/direct``: the hello frame, the optional shared token, the direct registry."""

    def __init__(
        self,
        registry: DirectRegistry,
        settings: ForkSettings,
        connection: ServerConnection,
        auth: DirectAuth,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.auth = auth
        self._credential: str | None = None
        self.call_id = f"direct-{uuid.uuid4().hex[:16]}"
        self.link = WebsocketLink(connection, self.call_id)
        self.output: DirectPlayback | None = None

    def timeout_refusal(self, seconds: float) -> MediaRefused:
        return MediaRefused(
            CLOSE_POLICY_VIOLATION, f"no hello text frame within {seconds:g} s", "metadata_timeout"
        )

    def start(self, text: bool, data: bytes) -> Attached:
        settings = self.settings
        if not text:
            raise MediaRefused(
                CLOSE_UNSUPPORTED_DATA,
                "binary frame before the hello text frame",
                "binary_before_metadata",
            )
        try:
            hello = DirectHello.parse(data)
        except ForkWireError as exc:
            raise MediaRefused(exc.close_code, str(exc), "bad_metadata") from exc
        grant = self.auth.check(hello.token)
        if grant is None:
            raise MediaRefused(CLOSE_POLICY_VIOLATION, "a valid token is required", "bad_token")
        if not grant.allows(hello.owner):
            raise MediaRefused(
                CLOSE_POLICY_VIOLATION, "this token may not use that owner", "owner_not_allowed"
            )
        busy = self.auth.acquire(grant.credential)
        if busy is not None:
            raise MediaRefused(CLOSE_TRY_AGAIN_LATER, busy, "direct_busy")
        self._credential = grant.credential
        self.output = DirectPlayback(
            self.link,
            hello.sample_rate,
            frame_ms=settings.direct_frame_ms,
            lead_ms=settings.direct_lead_ms,
        )
        try:
            consumer = self.registry.open_direct(self.call_id, hello, self.link, self.output)
        except Exception as exc:
            log.exception("direct.registry_error", call_id=self.call_id)
            raise MediaRefused(
                CLOSE_INTERNAL_ERROR, "opening the session failed", "registry_error"
            ) from exc
        if consumer is None:
            raise MediaRefused(CLOSE_POLICY_VIOLATION, "session refused", "direct_refused")
        return Attached(
            consumer,
            hello.sample_rate,
            1,
            SessionStats(self.call_id, transport="direct"),
            {"owner": hello.owner, "rate": hello.sample_rate},
        )

    async def attached(self, attached: Attached) -> None:
        await self.link.send_text(
            ready_event(self.call_id, attached.sample_rate, self.settings.direct_frame_ms)
        )

    async def aclose(self) -> None:
        credential, self._credential = self._credential, None
        if credential is not None:
            self.auth.release(credential)
        if self.output is not None:
            await self.output.aclose()
