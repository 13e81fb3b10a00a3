"""FreeSWITCH media of one bot call: its audio fork, the bot's playback, its events.

* :meth:`FsCallMedia.start` starts mod_audio_fork on the call with a per-call token
  in its metadata (the fork server checks it: :attr:`token`);
* :meth:`FsCallMedia.attach` (the fork's socket arrived) builds the call's
  :class:`~callcontrol.media.playback.ForkPlayback` and asks the bot side for the
  conversation that hears the socket;
* :meth:`FsCallMedia.on_event` takes the call's ESL events: ``mod_audio_fork::*``
  (``play_audio`` feeds the playback; ``connect_failed`` is retried; ``disconnect``
  reconnects; ``buffer_overrun`` is counted), PLAYBACK_START/STOP, the hangup and a
  bridge (a person took the call over: the conversation ends, the call does not).

The conversation is opened by whoever created this object (``open_conversation``):
the media layer knows nothing of the dialog beyond :class:`Conversation`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol, cast

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.config import ForkSettings
from callcontrol.errors import CallControlError, EslError, ForkProtocolError
from callcontrol.esl.protocol import EslEvent
from callcontrol.media.base import AudioOutput, BinaryLink, ForkConsumer, ForkLink
from callcontrol.media.codecs import Int16Array
from callcontrol.media.fork_esl import (
    BufferOverrunEvent,
    ConnectEvent,
    ConnectFailedEvent,
    DisconnectEvent,
    build_fork_start_command,
    build_fork_stop_command,
    parse_fork_event,
)
from callcontrol.media.fork_wire import DEFAULT_BUGNAME, new_fork_token, parse_mark_notice
from callcontrol.media.playback import ForkPlayback
from callcontrol.media.stream_playback import StreamLink, StreamPlayback
from callcontrol.metrics import Metrics

log = structlog.get_logger(__name__)


class Channel(Protocol):
    """The call as the media layer drives it (``calls.handle.CallHandle`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def ended(self) -> asyncio.Event: ...

    def listen(self, listener: Callable[[EslEvent], None]) -> Callable[[], None]: ...

    async def api(self, command: str, *, timeout: float | None = None) -> Any: ...

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None: ...

    async def play(self, path: str) -> None: ...

    async def stop_playback(self) -> None: ...


class Conversation(ForkConsumer, Protocol):
    """What hears a fork's audio (the dialog session)."""

    @property
    def ended(self) -> asyncio.Event: ...

    def end(self, *, bridged: bool = False) -> None:
        """The call ended (or a person took it over): stop talking."""


OpenConversation = Callable[[AudioOutput, bool], Conversation]
"""(the call's audio output, greet?) → the conversation; ``greet`` is False when a fork
reconnected mid-call."""


class _MarkTap:
    """The conversation's consumer, with the module's mark notices taken off for the
    streaming playback (they are text frames on the same socket)."""

    def __init__(self, conversation: Conversation, playback: StreamPlayback) -> None:
        self.conversation = conversation
        self.playback = playback

    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        return self.conversation.on_audio(samples, sample_rate)

    def on_text(self, text: str) -> None:
        notice = parse_mark_notice(text)
        if notice is not None:
            self.playback.on_mark(notice)
        else:
            self.conversation.on_text(text)

    def on_close(self, code: int, reason: str) -> None:
        self.conversation.on_close(code, reason)


class _Control:
    """:class:`~callcontrol.media.base.PlaybackControl` over the call's channel."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def broadcast(self, file: str) -> None:
        await self._channel.play(file)

    async def break_all(self) -> None:
        await self._channel.stop_playback()


class FsCallMedia:
    def __init__(
        self,
        channel: Channel,
        settings: ForkSettings,
        *,
        fork_url: str,
        metrics: Metrics,
        open_conversation: OpenConversation,
        on_hangup: Callable[[FsCallMedia], None] | None = None,
        stream: bool = False,
    ) -> None:
        self.channel = channel
        self.settings = settings
        self.fork_url = fork_url
        self.metrics = metrics
        self._open = open_conversation
        self._on_hangup = on_hangup
        self.stream = stream  # the fork streams the bot's audio back (jambonz's module)
        self.token = new_fork_token()
        self.attempts = 0
        self.ending = False
        self.conversation: Conversation | None = None
        self.playback: ForkPlayback | StreamPlayback | None = None
        self.link: ForkLink | None = None  # the socket the current conversation uses
        self.tasks = TaskOwner(f"fs-call-{channel.id}")
        self._remove_listener: Callable[[], None] | None = None
        self._log = log.bind(call=channel.id)

    @property
    def call_id(self) -> str:
        return self.channel.id

    async def start(self) -> None:
        self._remove_listener = self.channel.listen(self.on_event)
        await self._start_fork()

    async def aclose(self) -> None:
        self._forget_listener()
        await self.tasks.aclose()

    def _forget_listener(self) -> None:
        remove, self._remove_listener = self._remove_listener, None
        if remove is not None:
            remove()

    # -- the fork ---------------------------------------------------------------------
    async def _start_fork(self) -> None:
        self.attempts += 1
        command = build_fork_start_command(
            self.call_id,
            self.fork_url,
            mix="mono",
            rate=self.settings.sample_rate,
            metadata={"callId": self.call_id, "token": self.token},
            bugname=DEFAULT_BUGNAME if self.stream else None,
            stream_rate=self.settings.stream_rate if self.stream else None,
        )
        await self.channel.api(command)
        self._log.info("audio fork requested", attempt=self.attempts)

    async def _stop_fork(self) -> None:
        with contextlib.suppress(EslError, CallControlError, ValueError):
            await self.channel.api(build_fork_stop_command(self.call_id))

    async def _retry_fork(self, why: str) -> None:
        if self.ending or self.channel.ended.is_set():
            return
        if self.attempts > self.settings.connect_retries:
            self._log.error("audio fork failed for good; hanging up", reason=why)
            self.ending = True
            with contextlib.suppress(CallControlError):
                await self.channel.hangup("NORMAL_TEMPORARY_FAILURE")
            return
        await asyncio.sleep(0.5 * self.attempts)
        conversation, link = self.conversation, self.link
        if conversation is not None and not conversation.ended.is_set() and link is not None:
            if not link.closed:
                self._log.info("audio fork came back by itself; no restart")
                return
        # A fork that failed to connect (or was dropped) keeps its media bug attached, and a
        # start with the same bug name is refused ("bug audio_fork already attached",
        # seen on FreeSWITCH 1.10.12): stop it first.
        await self._stop_fork()
        try:
            await self._start_fork()
        except (EslError, CallControlError) as exc:
            self._log.warning("audio fork restart failed", error=str(exc))

    # -- the fork's socket ------------------------------------------------------------
    def attach(self, link: ForkLink) -> ForkConsumer | None:
        """The fork's socket is here (its token matched): the conversation that hears it."""
        if self.ending:
            return None
        current = self.conversation
        if current is not None and not current.ended.is_set():
            if self.link is None or not self.link.closed:
                self._log.warning("a second fork for a call that has one; refused")
                return None
            # The call's fork came back (its socket closed a moment ago) before that
            # dialog ended: end it, and go on with a new one, without a second hello.
            self._log.info("audio fork reconnected; the conversation goes on")
            current.end()
        playback: ForkPlayback | StreamPlayback
        if self.stream and isinstance(link, BinaryLink):
            playback = StreamPlayback(
                cast(StreamLink, link),
                sample_rate=self.settings.stream_rate,
                chunk_ms=self.settings.stream_chunk_ms,
                tail_ms=self.settings.stream_tail_ms,
                marks=self.settings.stream_marks,
            )
        else:
            playback = ForkPlayback(
                link,
                _Control(self.channel),
                sample_rate=self.settings.sample_rate,
                event_timeout=self.settings.play_event_timeout,
            )
        conversation = self._open(playback, current is None)
        self.conversation = conversation
        self.playback = playback
        self.link = link
        self.tasks.spawn(self._when_ended(conversation, playback), "conversation-end")
        if isinstance(playback, StreamPlayback):
            return _MarkTap(conversation, playback)
        return conversation

    async def _when_ended(
        self, conversation: Conversation, playback: ForkPlayback | StreamPlayback
    ) -> None:
        await conversation.ended.wait()
        with contextlib.suppress(Exception):
            await playback.aclose()
        if (
            self.conversation is conversation  # not replaced by a reconnected fork's
            and not self.channel.ended.is_set()
            and not self.ending
        ):
            # The conversation is over but the call is not (a person took it): stop the fork.
            await self._stop_fork()

    # -- the call's ESL events (on the loop; must be quick) ----------------------------
    def on_event(self, event: EslEvent) -> None:
        key = event.key
        if key.startswith("mod_audio_fork::"):
            self._on_fork_event(key, event)
        elif event.name in ("PLAYBACK_START", "PLAYBACK_STOP") and isinstance(
            self.playback, ForkPlayback
        ):
            path = event.get("Playback-File-Path") or event.variable("current_application_data")
            if path:
                if event.name == "PLAYBACK_START":
                    self.playback.on_playback_start(path)
                else:
                    self.playback.on_playback_stop(path)
        elif event.unique_id == self.call_id and event.name in (
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
        ):
            self._end(bridged=False)
        elif event.unique_id == self.call_id and event.name == "CHANNEL_BRIDGE":
            self._end(bridged=True)

    def _on_fork_event(self, key: str, event: EslEvent) -> None:
        try:
            fork_event = parse_fork_event(key, event.body)
        except ForkProtocolError as exc:
            self._log.warning("unreadable mod_audio_fork event", esl_event=key, error=str(exc))
            return
        self.metrics.fork_events.labels(key.split("::", 1)[1]).inc()
        if isinstance(self.playback, ForkPlayback):
            self.playback.on_fork_event(fork_event)
        if isinstance(fork_event, ConnectEvent):
            self._log.info("audio fork connected")
        elif isinstance(fork_event, ConnectFailedEvent):
            self._log.warning("audio fork could not connect", details=repr(fork_event))
            self.tasks.spawn(self._retry_fork("connect_failed"), "fork-retry")
        elif isinstance(fork_event, DisconnectEvent):
            self.tasks.spawn(self._on_disconnect(), "fork-disconnect")
        elif isinstance(fork_event, BufferOverrunEvent):
            self.metrics.fork_frames_dropped.inc()
            self._log.warning("FreeSWITCH dropped fork audio (buffer overrun)")

    async def _on_disconnect(self) -> None:
        """FreeSWITCH says the fork's socket dropped. The event and our side seeing the
        close race each other, and a fork may already have reconnected: act only if the
        current conversation's socket is (or within a moment becomes) closed."""
        link, conversation = self.link, self.conversation
        if conversation is None or conversation.ended.is_set() or self.ending:
            return
        for _ in range(40):
            if link is None or link.closed:
                break
            await asyncio.sleep(0.05)
        else:
            self._log.info("audio fork disconnect for a socket already replaced; ignored")
            return
        if self.conversation is not conversation or self.ending:
            return  # a reconnected fork took over meanwhile
        self._log.warning("audio fork disconnected mid-call; reconnecting")
        conversation.end()
        await self._retry_fork("disconnect")

    def _end(self, *, bridged: bool) -> None:
        self.ending = True
        if self.conversation is not None:
            self.conversation.end(bridged=bridged)
        if not bridged:
            self._forget_listener()
            if self._on_hangup is not None:
                self._on_hangup(self)

    async def hangup(self) -> None:
        """The conversation said goodbye: end the call."""
        self.ending = True
        await self.channel.hangup("NORMAL_CLEARING")
