"""The bot's side of every call: starts audio forks, opens and ends dialog sessions.

* :meth:`BotManager.start_bot` (call control's handover) starts mod_audio_fork on
  the call with a per-call token in its metadata;
* :meth:`BotManager.attach` (the fork server, once the token matched) opens the
  :class:`~callcontrol.dialog.session.DialogSession` with a
  :class:`~callcontrol.media.playback.ForkPlayback` as its output;
* the call's ESL events are routed here: ``mod_audio_fork::*`` (``play_audio``
  feeds the playback; ``connect_failed`` is retried; ``disconnect`` and
  ``buffer_overrun`` are logged and counted), PLAYBACK_START/STOP, hangup, and a
  bridge (a person took the call over: the bot steps aside);
* :meth:`BotManager.open_direct` serves the websocket clients that talk to the
  bot without FreeSWITCH (``callcontrol call``, the console's talk-to-the-bot page).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from callcontrol.calls.handle import CallHandle
from callcontrol.config import Settings
from callcontrol.dialog.machine import Input
from callcontrol.dialog.session import DialogSession, TurnSink
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.errors import CallControlError, EslError, ForkProtocolError, PipelineError
from callcontrol.esl.protocol import EslEvent
from callcontrol.hitl.base import HitlDesk
from callcontrol.media.base import AudioOutput, ForkConsumer, ForkLink, MediaLink
from callcontrol.media.codecs import Int16Array
from callcontrol.media.direct_wire import DirectHello, direct_event
from callcontrol.media.fork_wire import (
    BufferOverrunEvent,
    ConnectEvent,
    ConnectFailedEvent,
    DisconnectEvent,
    ForkMetadata,
    build_fork_start_command,
    build_fork_stop_command,
    new_fork_token,
    parse_fork_event,
)
from callcontrol.media.playback import ForkPlayback
from callcontrol.store.writer import Write

log = structlog.get_logger(__name__)

VOICE_WAIT_S = 180.0


class _HandleControl:
    """:class:`~callcontrol.media.base.PlaybackControl` over the call's ESL connection."""

    def __init__(self, handle: CallHandle) -> None:
        self._handle = handle

    async def broadcast(self, file: str) -> None:
        await self._handle.play(file)

    async def break_all(self) -> None:
        await self._handle.stop_playback()


@dataclass(slots=True)
class _BotCall:
    handle: CallHandle
    token: str
    session: DialogSession | None = None
    playback: ForkPlayback | None = None
    link: ForkLink | None = None  # the socket the current session hears and speaks on
    attempts: int = 0
    ending: bool = False
    remove_listener: Any = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class _DirectConsumer:
    """A direct client's consumer: the session, plus 'socket closed' ends the session."""

    def __init__(self, session: DialogSession) -> None:
        self.session = session

    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        return self.session.on_audio(samples, sample_rate)

    def on_text(self, text: str) -> None:
        self.session.on_text(text)

    def on_close(self, code: int, reason: str) -> None:
        self.session.on_close(code, reason)
        self.session.post(Input.HANGUP)


class BotManager:
    """Implements BotHandover, ForkRegistry and DirectRegistry."""

    def __init__(self, settings: Settings, *, sink: TurnSink, desk: HitlDesk | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.desk = desk
        self._voice: VoicePipeline | None = None
        self._voice_ready = asyncio.Event()
        self._voice_error: BaseException | None = None
        self._calls: dict[str, _BotCall] = {}
        self._sessions: set[DialogSession] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # ws://host:port FreeSWITCH dials for forks (set once the fork server is bound).
        self.fork_base = settings.fork_public_url

    # -- the models ---------------------------------------------------------------------
    def set_voice(self, voice: VoicePipeline) -> None:
        self._voice = voice
        self._voice_ready.set()

    def voice_failed(self, error: BaseException) -> None:
        self._voice_error = error
        self._voice_ready.set()

    @property
    def loaded(self) -> bool:
        return self._voice is not None

    async def _wait_voice(self) -> VoicePipeline:
        if self._voice is None:
            log.info("a call waits for the voice models to finish loading")
            await asyncio.wait_for(self._voice_ready.wait(), VOICE_WAIT_S)
        if self._voice is None:
            raise PipelineError(f"the voice pipeline did not load: {self._voice_error}")
        return self._voice

    def _spawn(self, coro: Any, name: str, owner: set[asyncio.Task[Any]] | None = None) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        tasks = owner if owner is not None else self._tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def stop(self) -> None:
        sessions = list(self._sessions)
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
        tasks = list(self._tasks)
        for bot in self._calls.values():
            tasks.extend(bot.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def session(self, call_id: str) -> DialogSession | None:
        """The live conversation on a call, if the bot runs one."""
        bot = self._calls.get(call_id)
        return bot.session if bot is not None else None

    @property
    def voice(self) -> VoicePipeline | None:
        return self._voice

    async def wait_loaded(self, timeout: float) -> VoicePipeline:
        await asyncio.wait_for(self._voice_ready.wait(), timeout)
        return await self._wait_voice()

    # -- BotHandover ------------------------------------------------------------------
    async def start_bot(self, handle: CallHandle) -> None:
        await self._wait_voice()
        bot = _BotCall(handle, new_fork_token())
        self._calls[handle.id] = bot
        bot.remove_listener = handle.listen(lambda event: self._on_call_event(bot, event))
        await self._start_fork(bot)

    def _fork_url(self, call_id: str) -> str:
        return f"{self.fork_base}/fork/{call_id}"

    async def _start_fork(self, bot: _BotCall) -> None:
        call_id = bot.handle.id
        bot.attempts += 1
        command = build_fork_start_command(
            call_id,
            self._fork_url(call_id),
            mix="mono",
            rate=self.settings.fork.sample_rate,
            metadata={"callId": call_id, "token": bot.token},
        )
        await bot.handle.api(command)
        log.info("audio fork requested", call=call_id, attempt=bot.attempts)

    async def _retry_fork(self, bot: _BotCall, why: str) -> None:
        retries = self.settings.fork.connect_retries
        if bot.ending or bot.handle.ended.is_set():
            return
        if bot.attempts > retries:
            log.error("audio fork failed for good; hanging up", call=bot.handle.id, reason=why)
            bot.ending = True
            with contextlib.suppress(CallControlError):
                await bot.handle.hangup("NORMAL_TEMPORARY_FAILURE")
            return
        await asyncio.sleep(0.5 * bot.attempts)
        session, link = bot.session, bot.link
        if session is not None and not session.ended.is_set() and link is not None:
            if not link.closed:
                log.info("audio fork came back by itself; no restart", call=bot.handle.id)
                return
        # A fork that failed to connect (or was dropped) keeps its media bug attached, and a
        # start with the same bug name is refused ("bug audio_fork already attached",
        # seen on FreeSWITCH 1.10.12): stop it first.
        with contextlib.suppress(EslError, CallControlError):
            await bot.handle.commands.api(build_fork_stop_command(bot.handle.id))
        try:
            await self._start_fork(bot)
        except (EslError, CallControlError) as exc:
            log.warning("audio fork restart failed", call=bot.handle.id, error=str(exc))

    # -- ForkRegistry -----------------------------------------------------------------
    def expected_token(self, call_id: str) -> str | None:
        bot = self._calls.get(call_id)
        return bot.token if bot is not None and not bot.ending else None

    def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> ForkConsumer | None:
        bot = self._calls.get(call_id)
        voice = self._voice
        if bot is None or bot.ending or voice is None:
            return None
        if bot.session is not None and not bot.session.ended.is_set():
            if bot.link is None or not bot.link.closed:
                log.warning("a second fork for a call that has one; refused", call=call_id)
                return None
            # The call's fork came back (its socket closed a moment ago) before that
            # dialog ended: end it, and go on with a new one, without a second hello.
            log.info("audio fork reconnected; the conversation goes on", call=call_id)
            bot.session.post(Input.HANGUP)
        call = bot.handle.call
        playback = ForkPlayback(
            link,
            _HandleControl(bot.handle),
            sample_rate=self.settings.fork.sample_rate,
            event_timeout=self.settings.fork.play_event_timeout,
        )

        async def hangup() -> None:
            bot.ending = True
            await bot.handle.hangup("NORMAL_CLEARING")

        session = DialogSession(
            call_id=call_id,
            owner=call.owner or call.callee_number,
            caller_number=call.caller_number,
            voice=voice,
            output=playback,
            output_rate=self.settings.fork.sample_rate,
            desk=self.desk,
            sink=self.sink,
            hangup=hangup,
            greet=bot.session is None,
        )
        bot.session = session
        bot.playback = playback
        bot.link = link
        self._sessions.add(session)
        session.start()
        self._spawn(self._when_ended(session, bot, playback), f"dialog-end-{call_id}", bot.tasks)
        return session

    async def _when_ended(
        self, session: DialogSession, bot: _BotCall | None, playback: AudioOutput
    ) -> None:
        await session.ended.wait()
        self._sessions.discard(session)
        with contextlib.suppress(Exception):
            await playback.aclose()
        if (
            bot is not None
            and bot.session is session  # not replaced by a reconnected fork's
            and not bot.handle.ended.is_set()
            and not bot.ending
        ):
            # The conversation is over but the call is not (a person took it): stop the fork.
            with contextlib.suppress(EslError, CallControlError, ValueError):
                await bot.handle.api(build_fork_stop_command(bot.handle.id))

    # -- the call's ESL events (on the loop; must be quick) ----------------------------
    def _on_call_event(self, bot: _BotCall, event: EslEvent) -> None:
        call_id = bot.handle.id
        key = event.key
        if key.startswith("mod_audio_fork::"):
            self._on_fork_event(bot, key, event)
        elif event.name in ("PLAYBACK_START", "PLAYBACK_STOP") and bot.playback is not None:
            path = event.get("Playback-File-Path") or event.variable("current_application_data")
            if path:
                if event.name == "PLAYBACK_START":
                    bot.playback.on_playback_start(path)
                else:
                    bot.playback.on_playback_stop(path)
        elif event.unique_id == call_id and event.name in (
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
        ):
            self._end_call(bot, Input.HANGUP)
        elif event.unique_id == call_id and event.name == "CHANNEL_BRIDGE":
            self._end_call(bot, Input.BRIDGED)

    def _on_fork_event(self, bot: _BotCall, key: str, event: EslEvent) -> None:
        metrics = self.sink.metrics
        try:
            fork_event = parse_fork_event(key, event.body)
        except ForkProtocolError as exc:
            log.warning("unreadable mod_audio_fork event", esl_event=key, error=str(exc))
            return
        kind = key.split("::", 1)[1]
        metrics.fork_events.labels(kind).inc()
        if bot.playback is not None:
            bot.playback.on_fork_event(fork_event)
        call_id = bot.handle.id
        if isinstance(fork_event, ConnectEvent):
            log.info("audio fork connected", call=call_id)
        elif isinstance(fork_event, ConnectFailedEvent):
            log.warning("audio fork could not connect", call=call_id, details=repr(fork_event))
            self._spawn(self._retry_fork(bot, "connect_failed"), f"fork-retry-{call_id}", bot.tasks)
        elif isinstance(fork_event, DisconnectEvent):
            self._spawn(self._on_disconnect(bot), f"fork-disconnect-{call_id}", bot.tasks)
        elif isinstance(fork_event, BufferOverrunEvent):
            metrics.fork_frames_dropped.inc()
            log.warning("FreeSWITCH dropped fork audio (buffer overrun)", call=call_id)

    async def _on_disconnect(self, bot: _BotCall) -> None:
        """FreeSWITCH says the fork's socket dropped. The event and our side seeing the
        close race each other, and a fork may already have reconnected: act only if the
        current session's socket is (or within a moment becomes) closed."""
        call_id = bot.handle.id
        link, session = bot.link, bot.session
        if session is None or session.ended.is_set() or bot.ending:
            return
        for _ in range(40):
            if link is None or link.closed:
                break
            await asyncio.sleep(0.05)
        else:
            log.info("audio fork disconnect for a socket already replaced; ignored", call=call_id)
            return
        if bot.session is not session or bot.ending:
            return  # a reconnected fork took over meanwhile
        log.warning("audio fork disconnected mid-call; reconnecting", call=call_id)
        session.post(Input.HANGUP)
        await self._retry_fork(bot, "disconnect")

    def _end_call(self, bot: _BotCall, how: Input) -> None:
        bot.ending = True
        if bot.session is not None:
            bot.session.post(how)
        if how is Input.HANGUP:
            self._calls.pop(bot.handle.id, None)
            if bot.remove_listener is not None:
                bot.remove_listener()

    # -- DirectRegistry ---------------------------------------------------------------
    def open_direct(
        self, call_id: str, hello: DirectHello, link: MediaLink, output: AudioOutput
    ) -> ForkConsumer | None:
        voice = self._voice
        if voice is None:
            log.warning("direct session refused: the voice models are still loading")
            return None
        started = datetime.now(UTC)

        async def hangup() -> None:
            await link.close(1000, "goodbye")

        async def notify(message: dict[str, Any]) -> None:
            fields = {k: v for k, v in message.items() if k != "type"}
            await link.send_text(direct_event(str(message.get("type", "turn")), **fields))

        session = DialogSession(
            call_id=call_id,
            owner=hello.owner,
            caller_number="web",
            voice=voice,
            output=output,
            output_rate=hello.sample_rate,
            desk=self.desk,
            sink=self.sink,
            hangup=hangup,
            notify_client=notify,
        )
        self._record_direct_call(call_id, hello.owner, started, ended=None)
        self._sessions.add(session)
        session.start()

        async def ended() -> None:
            await session.ended.wait()
            self._sessions.discard(session)
            self._record_direct_call(call_id, hello.owner, started, ended=datetime.now(UTC))

        self._spawn(ended(), f"direct-end-{call_id}")
        return _DirectConsumer(session)

    def _record_direct_call(
        self, call_id: str, owner: str, started: datetime, ended: datetime | None
    ) -> None:
        self.sink.submit(
            Write.upsert(
                "calls",
                id=call_id,
                direction="web",
                caller_number="web",
                callee_number=owner,
                owner=owner,
                state="hangup" if ended else "bot",
                handled_by="bot",
                created_at=started,
                answered_at=started,
                ended_at=ended,
                hangup_cause="NORMAL_CLEARING" if ended else None,
            )
        )
