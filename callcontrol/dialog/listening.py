"""Turning the endpointer's pauses into answers that are ready early (speculation).

An attempt at answering starts at the first pause in speech (``SpeechPaused``); more
speech cancels it (``SpeechResumed``); the endpoint (``SpeechEnded``) commits the attempt
that covers the same speech, or starts a fresh one. See ``attempt.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from callcontrol.dialog.attempt import Timings, TurnAttempt
from callcontrol.dialog.policy import DialogPolicy
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.media.endpoint import SpeechEnded, SpeechPaused
from callcontrol.media.listen import CallAudioInput
from callcontrol.pipeline.base import ChatMessage

PRE_ROLL_MS = 250.0
POST_ROLL_MS = 150.0


class Listener:
    """The speculative attempt and the committed one, for one conversation."""

    def __init__(
        self,
        voice: VoicePipeline,
        policy: DialogPolicy,
        audio: CallAudioInput,
        wall: Callable[[float], float],
        *,
        owner: str | None,
        output_rate: int,
    ) -> None:
        self.voice = voice
        self.policy = policy
        self.audio = audio
        self.wall = wall
        self.owner = owner
        self.output_rate = output_rate
        self.speculative: TurnAttempt | None = None
        self.current: TurnAttempt | None = None

    def new_attempt(
        self,
        start_ms: float,
        end_ms: float,
        voiced_ms: float,
        *,
        language: str,
        history: list[ChatMessage],
    ) -> TurnAttempt:
        # VAD onsets lag soft first sounds ("When…") and trail off early: pad the cut.
        cut_start = max(0.0, start_ms - PRE_ROLL_MS)
        cut_end = min(end_ms + POST_ROLL_MS, self.audio.received_ms)
        attempt = TurnAttempt(
            start_ms=start_ms,
            end_ms=end_ms,
            audio=self.audio.audio(cut_start, cut_end),
            voiced_ms=voiced_ms,
            timings=Timings(end_of_speech=self.wall(end_ms)),
        )
        attempt.start(
            self.voice,
            self.policy,
            owner=self.owner,
            language=language,
            history=history,
            sample_rate=self.output_rate,
        )
        return attempt

    async def paused(self, event: SpeechPaused, language: str, history: list[ChatMessage]) -> None:
        if self.speculative is not None:
            await self.speculative.cancel()
        voiced = event.end_ms - event.start_ms
        self.speculative = self.new_attempt(
            event.start_ms, event.end_ms, voiced, language=language, history=history
        )

    async def resumed(self) -> None:
        if self.speculative is not None:
            await self.speculative.cancel()
            self.speculative = None

    async def ended(
        self, event: SpeechEnded, language: str, history: list[ChatMessage]
    ) -> TurnAttempt:
        """The turn is over: its attempt (the speculative one if it heard the same
        speech) becomes the current one."""
        attempt, self.speculative = self.speculative, None
        if attempt is not None and attempt.end_ms != event.end_ms:
            await attempt.cancel()
            attempt = None
        if attempt is None:
            attempt = self.new_attempt(
                event.start_ms, event.end_ms, event.voiced_ms, language=language, history=history
            )
        if self.current is not None and self.current is not attempt:
            await self.current.cancel()
        self.current = attempt
        return attempt

    async def drop_current(self) -> None:
        if self.current is not None:
            await self.current.cancel()
            self.current = None

    async def close(self) -> None:
        for attempt in (self.speculative, self.current):
            if attempt is not None:
                await attempt.cancel()
