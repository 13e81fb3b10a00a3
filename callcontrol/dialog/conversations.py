"""Where conversations are opened: the voice models (loaded once per worker), the turn
sinks and the human desk every conversation shares.

A transport (a FreeSWITCH fork, the direct websocket) opens a conversation with
its call, its audio output and a way to hang up, and feeds it the caller's audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from callcontrol.config import Settings
from callcontrol.dialog.base import CallInfo, CallTransfer, ClientNotifier, Hangup, TurnSink
from callcontrol.dialog.policy import DialogPolicy
from callcontrol.dialog.session import DialogSession
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.errors import PipelineError
from callcontrol.hitl.base import HitlDesk, PhoneHandoff
from callcontrol.media.base import AudioOutput

log = structlog.get_logger(__name__)

VOICE_WAIT_S = 180.0


class Conversations:
    def __init__(
        self,
        settings: Settings,
        *,
        sinks: Sequence[TurnSink] = (),
        desk: HitlDesk | None = None,
        phone: PhoneHandoff | None = None,
        transfer: CallTransfer | None = None,
    ) -> None:
        self.settings = settings
        self.sinks = tuple(sinks)
        self.desk = desk
        self.phone = phone
        self.transfer = transfer
        self._voice: VoicePipeline | None = None
        self._voice_ready = asyncio.Event()
        self._voice_error: BaseException | None = None
        self.sessions: set[DialogSession] = set()

    # -- the models ---------------------------------------------------------------------
    def set_voice(self, voice: VoicePipeline) -> None:
        self._voice = voice
        self._voice_ready.set()

    def voice_failed(self, error: BaseException) -> None:
        self._voice_error = error
        self._voice_ready.set()

    @property
    def voice(self) -> VoicePipeline | None:
        return self._voice

    @property
    def loaded(self) -> bool:
        return self._voice is not None

    @property
    def failure(self) -> str | None:
        """Why the voice models are not there to talk (None while they load or once loaded)."""
        if self._voice_error is None:
            return None
        return f"the voice models failed to load: {self._voice_error}"

    async def wait_voice(self, timeout: float = VOICE_WAIT_S) -> VoicePipeline:
        """The voice pipeline, once loaded (a call may arrive while it loads)."""
        if self._voice is None:
            log.info("a call waits for the voice models to finish loading")
            await asyncio.wait_for(self._voice_ready.wait(), timeout)
        if self._voice is None:
            raise PipelineError(f"the voice pipeline did not load: {self._voice_error}")
        return self._voice

    # -- conversations ----------------------------------------------------------------
    def open(
        self,
        call: CallInfo,
        *,
        output: AudioOutput,
        output_rate: int,
        hangup: Hangup,
        notify_client: ClientNotifier | None = None,
        greet: bool = True,
        policy: DialogPolicy | None = None,
    ) -> DialogSession:
        """Start a conversation now (the models must be loaded: :meth:`wait_voice`).

        ``policy``: what this call's bot does with what it hears; question answering
        with hand-over (:class:`~callcontrol.dialog.qa.QaPolicy`) unless given."""
        voice = self._voice
        if voice is None:
            raise PipelineError("the voice models are still loading")
        session = DialogSession(
            call=call,
            voice=voice,
            output=output,
            output_rate=output_rate,
            hangup=hangup,
            sinks=self.sinks,
            desk=self.desk,
            phone=self.phone,
            notify_client=notify_client,
            greet=greet,
            policy=policy,
            transfer=self.transfer,
        )
        self.sessions.add(session)
        session.ended_callbacks.append(self.sessions.discard)
        session.start()
        return session

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in list(self.sessions)), return_exceptions=True)
