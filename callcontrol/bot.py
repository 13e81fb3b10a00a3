"""The bot's side of every call: the worker's composition of media and dialog.

* calls handed over by call control (:meth:`BotManager.start_bot`) get their FreeSWITCH
  media (:class:`~callcontrol.media.fs_call.FsCallMedia`: fork, playback, events);
* a fork's socket (:meth:`attach`, once its token matched) opens the conversation
  (:class:`~callcontrol.dialog.conversations.Conversations`);
* a direct websocket client (:meth:`open_direct`: ``callcontrol call``, the console's
  talk page) gets a conversation without FreeSWITCH, recorded as a ``web`` call.

It implements call control's ``BotHandover`` and the media layer's ``ForkRegistry`` and
``DirectRegistry``; ``dialog/`` itself knows neither ESL nor the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.calls.handle import CallHandle
from callcontrol.calls.model import Call
from callcontrol.calls.ops import ApiConnection
from callcontrol.config import Settings
from callcontrol.dialog.base import CallInfo
from callcontrol.dialog.conversations import Conversations
from callcontrol.dialog.session import DialogSession
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.errors import CallControlError
from callcontrol.esl.protocol import EslEvent
from callcontrol.flows.calls import FlowCalls, FlowPlan
from callcontrol.flows.policy import FlowPolicy
from callcontrol.media.base import AudioOutput, ForkConsumer, ForkLink, MediaLink
from callcontrol.media.codecs import Int16Array
from callcontrol.media.direct_wire import DirectHello, direct_event
from callcontrol.media.fork_esl import can_stream
from callcontrol.media.fork_wire import ForkMetadata
from callcontrol.media.fs_call import Conversation, FsCallMedia
from callcontrol.metrics import Metrics
from callcontrol.store.writer import Write

log = structlog.get_logger(__name__)

RETIRE_WAIT_S = 10.0


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
        self.session.end()


class BotManager:
    """Implements BotHandover, ForkRegistry and DirectRegistry."""

    def __init__(
        self,
        settings: Settings,
        conversations: Conversations,
        *,
        metrics: Metrics,
        submit: Callable[[Write], None],
        flows: FlowCalls | None = None,
    ) -> None:
        self.settings = settings
        # Which calls play a scripted flow instead of answering questions (flows/calls.py).
        self.flows = flows
        self.conversations = conversations
        self.metrics = metrics
        self._submit = submit
        self._calls: dict[str, FsCallMedia] = {}
        self._stream_capable: bool | None = None  # what the loaded mod_audio_fork can do
        self._retiring: set[FsCallMedia] = set()
        self._tasks = TaskOwner("bot")
        self._direct: set[str] = set()  # direct sessions in progress
        # ws://host:port FreeSWITCH dials for forks (set once the fork server is bound).
        self.fork_base = settings.fork_public_url

    # -- the models (loaded by the service) ----------------------------------------------
    def set_voice(self, voice: VoicePipeline) -> None:
        self.conversations.set_voice(voice)

    def voice_failed(self, error: BaseException) -> None:
        self.conversations.voice_failed(error)

    @property
    def loaded(self) -> bool:
        return self.conversations.loaded

    @property
    def voice(self) -> VoicePipeline | None:
        return self.conversations.voice

    async def wait_loaded(self, timeout: float) -> VoicePipeline:
        return await self.conversations.wait_voice(timeout)

    def session(self, call_id: str) -> DialogSession | None:
        """The live conversation on a call, if the bot runs one."""
        media = self._calls.get(call_id)
        conversation = media.conversation if media is not None else None
        return conversation if isinstance(conversation, DialogSession) else None

    async def stop(self) -> None:
        await self.conversations.stop()
        await self._tasks.aclose()
        for media in [*self._calls.values(), *self._retiring]:
            await media.aclose()

    # -- BotHandover ------------------------------------------------------------------
    def refusal(self) -> str | None:
        return self.conversations.failure

    async def start_bot(self, handle: CallHandle) -> None:
        await self.conversations.wait_voice()
        call = handle.call
        info = CallInfo(
            handle.id,
            call.owner or call.callee_number,
            call.caller_number,
            call.language,
            recording_notice=call.recording_notice,
        )
        rate = self.settings.fork.sample_rate
        media: FsCallMedia
        plan = await self._flow_plan(call)
        policy: FlowPolicy | None = None

        def open_conversation(playback: AudioOutput, greet: bool) -> Conversation:
            nonlocal policy
            if plan is not None and policy is None and self.flows is not None:
                voice = self.conversations.voice
                assert voice is not None  # wait_voice() above
                policy = FlowPolicy(
                    voice,
                    plan.run(),
                    today=datetime.now(UTC).date(),
                    on_change=self.flows.recorder(plan, handle.id),
                )
            # Media back mid-call: the same flow goes on where it was, without a hello.
            return self.conversations.open(
                info,
                output=playback,
                output_rate=rate,
                hangup=media.hangup,
                greet=greet,
                policy=policy,
            )

        def on_event(event: EslEvent) -> None:
            if event.name == "DTMF" and event.unique_id == handle.id:
                digit = event.get("DTMF-Digit")
                session = self.session(handle.id)
                if digit and session is not None:
                    session.on_dtmf(digit[:1])

        media = FsCallMedia(
            handle,
            self.settings.fork,
            fork_url=f"{self.fork_base}/fork/{handle.id}",
            metrics=self.metrics,
            open_conversation=open_conversation,
            on_hangup=self._retire,
            stream=await self._streaming(handle.commands),
        )
        self._calls[handle.id] = media
        handle.listen(on_event)
        await media.start()

    async def _flow_plan(self, call: Call) -> FlowPlan | None:
        if self.flows is None or not (call.contact or call.flow):
            return None
        try:
            plan = await self.flows.plan(call)
        except Exception:
            log.exception("cannot load the call's flow", call=call.id)
            return None
        if plan is not None:
            log.info(
                "the call plays a flow", call=call.id, flow=plan.flow.name, language=plan.language
            )
        return plan

    async def check_streaming(self, esl: ApiConnection) -> bool:
        """Ask again (FreeSWITCH may have been restarted with another module)."""
        self._stream_capable = None
        return await self._streaming(esl)

    async def _streaming(self, esl: ApiConnection) -> bool:
        """Whether this call's fork streams the bot's audio back: configured
        (``fork.playback=stream``) and the loaded module able to (asked once, by its
        usage text); otherwise file playback, with an error saying why."""
        if self.settings.fork.playback != "stream":
            return False
        if self._stream_capable is None:
            try:
                usage = (await esl.api("uuid_audio_fork")).text
            except CallControlError as exc:
                log.warning("cannot ask mod_audio_fork what it supports", error=str(exc))
                return False
            self._stream_capable = can_stream(usage)
            if self._stream_capable:
                log.info("mod_audio_fork streams: the bot's audio goes on the fork's socket")
            else:
                log.error(
                    "fork.playback=stream, but the loaded mod_audio_fork cannot stream "
                    "(drachtio's module?): playing through temp files instead",
                    usage=usage.strip()[:200],
                )
        return self._stream_capable

    def _retire(self, media: FsCallMedia) -> None:
        """The call hung up: let its media finish what it does, then close it."""
        if self._calls.get(media.call_id) is media:
            del self._calls[media.call_id]
        self._retiring.add(media)

        async def retire() -> None:
            try:
                if media.conversation is not None:
                    await media.conversation.ended.wait()
                await media.tasks.join(RETIRE_WAIT_S)
                await media.aclose()
            finally:
                self._retiring.discard(media)

        self._tasks.spawn(retire(), f"retire-{media.call_id}")

    # -- ForkRegistry -----------------------------------------------------------------
    def expected_token(self, call_id: str) -> str | None:
        media = self._calls.get(call_id)
        return media.token if media is not None and not media.ending else None

    def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> ForkConsumer | None:
        media = self._calls.get(call_id)
        if media is None or not self.conversations.loaded:
            return None
        return media.attach(link)

    # -- DirectRegistry ---------------------------------------------------------------
    def open_direct(
        self, call_id: str, hello: DirectHello, link: MediaLink, output: AudioOutput
    ) -> ForkConsumer | None:
        if not self.conversations.loaded:
            log.warning("direct session refused: the voice models are still loading")
            return None
        started = datetime.now(UTC)

        async def hangup() -> None:
            await link.close(1000, "goodbye")

        async def notify(message: dict[str, Any]) -> None:
            fields = {k: v for k, v in message.items() if k != "type"}
            await link.send_text(direct_event(str(message.get("type", "turn")), **fields))

        self._record_direct_call(call_id, hello.owner, started, ended=None)
        self._direct.add(call_id)
        session = self.conversations.open(
            CallInfo(call_id, hello.owner, "web"),
            output=output,
            output_rate=hello.sample_rate,
            hangup=hangup,
            notify_client=notify,
        )
        session.ended_callbacks.append(
            lambda _s: self._record_direct_call(
                call_id, hello.owner, started, ended=datetime.now(UTC)
            )
        )
        session.ended_callbacks.append(lambda _s: self._direct.discard(call_id))
        return _DirectConsumer(session)

    @property
    def direct_sessions(self) -> int:
        """Conversations on the direct endpoint in progress (``callcontrol call``, the
        console's talk page): live calls too, for whoever must yield to them."""
        return len(self._direct)

    def _record_direct_call(
        self, call_id: str, owner: str, started: datetime, ended: datetime | None
    ) -> None:
        self._submit(
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
