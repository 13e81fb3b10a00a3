"""One try at answering an utterance: STT, then the call's dialog policy; cancellable.

Attempts start *speculatively*: at a short pause (``pause_ms``) rather than at the
endpoint (``endpoint_silence_ms``), so by the time the turn is certainly over the
transcript — and often the first audio of the reply — already exists. If the
caller keeps talking, the attempt is cancelled and a new one starts at the next
pause. Nothing of an attempt is heard until the session commits it: its audio
waits in :attr:`TurnAttempt.segments`.

What an utterance *means* and what to answer is the call's
:class:`~callcontrol.dialog.policy.DialogPolicy` (today's question answering:
``dialog/qa.py``); the attempt owns hearing it, timing it and cancelling it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import structlog

from callcontrol.dialog.machine import Input
from callcontrol.dialog.policy import DialogPolicy, TurnContext
from callcontrol.dialog.voice import TimedLLM, VoicePipeline
from callcontrol.media.codecs import Float32Array
from callcontrol.pipeline.base import ChatMessage, LanguageModel, Passage, Transcript
from callcontrol.pipeline.reply import FixedText, SpokenSegment, speak

log = structlog.get_logger(__name__)

Verdict = Literal["answer", "low_confidence", "not_a_question", "failed"]


@dataclass(slots=True)
class Timings:
    """Monotonic times of a turn's stages (None until reached)."""

    end_of_speech: float
    stt_started: float | None = None
    stt_done: float | None = None
    retrieval_done: float | None = None
    llm_first_token: float | None = None
    first_audio_ready: float | None = None
    first_audio_sent: float | None = None
    playback_started: float | None = None

    def waterfall(self) -> dict[str, float]:
        """Seconds after the end of speech, for each stage reached."""
        out = {"end_of_speech": 0.0}
        for name in (
            "stt_done",
            "retrieval_done",
            "llm_first_token",
            "first_audio_sent",
            "playback_started",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value - self.end_of_speech, 4)
        return out

    @property
    def voice_to_voice_ms(self) -> float | None:
        """End of the caller's speech → the reply starting to play to the caller.

        ``playback_started`` is when the output reported the first phrase playing
        (FreeSWITCH's PLAYBACK_START on a fork, the first frame paced out on the
        direct path); without it, when the audio was handed to the output.
        """
        heard = self.playback_started or self.first_audio_sent
        if heard is None:
            return None
        return round((heard - self.end_of_speech) * 1000, 1)


@dataclass(slots=True)
class TurnAttempt:
    """A caller utterance and the work done on it so far."""

    start_ms: float
    end_ms: float
    audio: Float32Array
    voiced_ms: float
    timings: Timings
    transcript: asyncio.Future[Transcript] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    kind: Input | None = None
    reason: str | None = None
    handover_question: str | None = None  # what to ask a person, if not the utterance
    passages: list[Passage] = field(default_factory=list)
    verdict: asyncio.Future[Verdict] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    segments: asyncio.Queue[SpokenSegment | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    def start(
        self,
        voice: VoicePipeline,
        policy: DialogPolicy,
        *,
        owner: str | None,
        language: str | None,
        history: Sequence[ChatMessage],
        sample_rate: int,
    ) -> None:
        context = TurnContext(owner, list(history), sample_rate)
        self.task = asyncio.create_task(
            self._run(voice, policy, language, context), name="turn-attempt"
        )

    async def cancel(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for fut in (self.transcript, self.verdict):
            if not fut.done():
                fut.cancel()

    async def _run(
        self,
        voice: VoicePipeline,
        policy: DialogPolicy,
        language: str | None,
        context: TurnContext,
    ) -> None:
        try:
            prompt = await policy.hearing_prompt(context.owner)
            self.timings.stt_started = time.monotonic()
            transcript = await voice.stt.transcribe(
                self.audio, language, speech_ms=self.voiced_ms, prompt=prompt
            )
            self.timings.stt_done = time.monotonic()
            self.transcript.set_result(transcript)
            if transcript.is_empty:
                self.decide("not_a_question")
                return
            await policy.respond(self, transcript, context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("turn attempt failed")
            if not self.transcript.done():
                self.transcript.set_exception(exc)
            self.decide("failed")
        finally:
            self.segments.put_nowait(None)

    def passage_dicts(self) -> list[dict[str, Any]]:
        """The passages as kept with the turn and shown to an operator."""
        return [
            {"text": p.text, "score": round(p.score, 4), "title": p.title} for p in self.passages
        ]

    # -- what a policy writes -----------------------------------------------------------
    def classify(
        self, kind: Input, reason: str | None = None, *, question: str | None = None
    ) -> None:
        """What the utterance asks for (a question, goodbye, a person…); ``question``:
        what a person should be asked, when not the utterance itself ("that's not what
        I asked" hands over the question it follows)."""
        self.kind, self.reason = kind, reason
        self.handover_question = question

    def decide(self, verdict: Verdict) -> None:
        """Whether there is an answer to say (first decision wins)."""
        if not self.verdict.done():
            self.verdict.set_result(verdict)

    async def say(self, segments: AsyncIterator[SpokenSegment]) -> None:
        """Queue the reply's audio, phrase by phrase, as it is synthesized."""
        stream = cast(AsyncGenerator[SpokenSegment, None], segments)
        async with contextlib.aclosing(stream) as it:
            async for segment in it:
                if self.timings.first_audio_ready is None:
                    self.timings.first_audio_ready = time.monotonic()
                self.segments.put_nowait(segment)


async def spoken(
    voice: VoicePipeline,
    messages: list[ChatMessage],
    *,
    sample_rate: int,
    language: str,
    on_first_token: Callable[[float], None] | None = None,
    fixed: str | None = None,
) -> AsyncIterator[SpokenSegment]:
    """Speak arbitrary messages (a colleague's answer rephrased, …); ``fixed``: say
    this text instead of generating (through the same phrasing and synthesis)."""
    model: LanguageModel = FixedText(fixed) if fixed is not None else voice.llm
    llm = TimedLLM(model, on_first_token or (lambda _at: None))
    stream = speak(
        llm,
        voice.tts,
        messages,
        sample_rate=sample_rate,
        language=language,
        max_tokens=voice.settings.pipeline.llm_max_tokens,
        sentence_rules=voice.language.sentences,
    )
    async with contextlib.aclosing(stream) as it:
        async for segment in it:
            yield segment
