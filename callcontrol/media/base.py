"""The seams of the media layer: small Protocols the rest of callcontrol implements or uses.

Audio in (both transports, FreeSWITCH's mod_audio_fork and the direct websocket)::

    server ──expected_token(call_id)──▶ ForkRegistry     (the server compares it itself)
    server ──attach(call_id, metadata, link)──▶ ForkRegistry ──▶ ForkConsumer
    server ──on_audio(int16 caller samples, rate) / on_text / on_close──▶ ForkConsumer
    ForkConsumer ──link.send_…──▶ the socket (playAudio, killAudio, events)

Audio out with barge-in (after livekit agents ``voice/io.py``)::

    handle = await output.play(pcm, rate, text)   # queued, played in order
    played_ms = await output.clear()              # stop now, drop the queue
    finished = await handle.wait()                # PlaybackFinished(interrupted, position_ms)

``on_audio`` runs on the event loop, inside the socket's ``data_received``, for every
20–30 ms frame: it must only queue (:class:`~callcontrol.media.listen.CallAudioInput`
does exactly that).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias, runtime_checkable

import structlog

from callcontrol.media.codecs import Int16Array
from callcontrol.media.fork_wire import ForkMetadata, ServerMessage

log = structlog.get_logger(__name__)


@runtime_checkable
class MediaLink(Protocol):
    """The server side of one media websocket, as a consumer sees it."""

    @property
    def call_id(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    async def send_text(self, text: str) -> None:
        """Send one text frame (dropped silently once the socket is closed)."""

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


@runtime_checkable
class ForkLink(MediaLink, Protocol):
    """A mod_audio_fork socket: messages to FreeSWITCH become CUSTOM events there."""

    async def send_message(self, message: ServerMessage) -> None: ...


@runtime_checkable
class BinaryLink(MediaLink, Protocol):
    """A socket that also carries binary frames (the direct transport's bot audio)."""

    async def send_bytes(self, data: bytes) -> None: ...


class ForkConsumer(Protocol):
    """Receives one call's audio. Every method runs on the event loop and must be quick."""

    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        """The caller's samples of one frame (read-only). Return False if the frame was
        dropped (e.g. a full queue): the server counts it."""

    def on_text(self, text: str) -> None:
        """A text frame after the metadata (``send_text``, the ``stop`` text, client JSON)."""

    def on_close(self, code: int, reason: str) -> None:
        """The socket ended (either side). Called exactly once per attached consumer."""


class ForkRegistry(Protocol):
    """Knows the calls we started forks for. Implemented by the call/dialog side."""

    def expected_token(self, call_id: str) -> str | None:
        """The token we put in that call's fork metadata, or None for an unknown call."""

    def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> ForkConsumer | None:
        """Called once the token matched. None: the call is gone (the socket is refused)."""


# ---------------------------------------------------------------------------------------
# playback


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    playback_id: int
    text: str
    duration_ms: float
    at: float = field(default_factory=time.monotonic)  # when the output saw it start


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """How a queued item ended. ``position_ms`` is what the caller actually heard."""

    playback_id: int
    text: str
    duration_ms: float
    position_ms: float
    interrupted: bool

    @property
    def heard_text(self) -> str:
        """The part of ``text`` the caller heard, estimated in proportion to time played
        (cut at a word boundary). The whole text if not interrupted."""
        if not self.interrupted:
            return self.text
        if self.duration_ms <= 0 or self.position_ms <= 0:
            return ""
        cut = int(len(self.text) * min(1.0, self.position_ms / self.duration_ms))
        if cut >= len(self.text):
            return self.text
        head = self.text[:cut]
        space = head.rfind(" ")
        return head[:space].rstrip() if space > 0 else ""


PlaybackEvent: TypeAlias = PlaybackStarted | PlaybackFinished
PlaybackListener: TypeAlias = Callable[[PlaybackEvent], None]


class PlaybackListeners:
    """The listeners of one output; a listener that raises is logged, never propagated."""

    def __init__(self) -> None:
        self._listeners: list[PlaybackListener] = []

    def add(self, listener: PlaybackListener) -> None:
        self._listeners.append(listener)

    def emit(self, event: PlaybackEvent | None) -> None:
        if event is None:
            return
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("playback.listener_error", kind=type(event).__name__)


_playback_ids = itertools.count(1)


class PlaybackHandle:
    """One queued ``play()``: await :meth:`wait` for its :class:`PlaybackFinished`."""

    def __init__(self, text: str, duration_ms: float) -> None:
        self.playback_id = next(_playback_ids)
        self.text = text
        self.duration_ms = duration_ms
        self._done: asyncio.Future[PlaybackFinished] = asyncio.get_running_loop().create_future()

    def done(self) -> bool:
        return self._done.done()

    def started(self) -> PlaybackStarted:
        return PlaybackStarted(self.playback_id, self.text, self.duration_ms)

    @property
    def result(self) -> PlaybackFinished | None:
        return self._done.result() if self._done.done() else None

    async def wait(self) -> PlaybackFinished:
        return await asyncio.shield(self._done)

    def finish(self, position_ms: float, *, interrupted: bool) -> PlaybackFinished | None:
        """Resolve the handle (first call wins); returns the event, None if already done."""
        if self._done.done():
            return None
        position = max(0.0, min(position_ms, self.duration_ms))
        event = PlaybackFinished(
            self.playback_id, self.text, self.duration_ms, position, interrupted
        )
        self._done.set_result(event)
        return event


class AudioOutput(Protocol):
    """Where the bot's speech goes. Items play in the order queued."""

    async def play(self, pcm: Int16Array, sample_rate: int, text: str = "") -> PlaybackHandle:
        """Queue mono int16 audio at any rate; returns at once with its handle."""

    async def clear(self) -> int:
        """Barge-in: stop the current item now and drop the queue. Returns the ms of the
        current item the caller heard (0 if nothing was playing). Every dropped handle
        finishes with ``interrupted=True``."""

    def subscribe(self, listener: PlaybackListener) -> None:
        """Call ``listener`` (on the event loop) for every started/finished item."""

    @property
    def playing(self) -> bool:
        """True while an item is being heard."""

    async def aclose(self) -> None:
        """Stop, finish every handle as interrupted, release tasks."""


class PlaybackControl(Protocol):
    """The ESL half of FreeSWITCH playback (implemented beside the ESL client)."""

    async def broadcast(self, file: str) -> None:
        """``uuid_broadcast <uuid> <file> aleg``."""

    async def break_all(self) -> None:
        """``uuid_break <uuid> all``: stop the current and the queued playback."""
