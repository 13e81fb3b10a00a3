"""One try at answering an utterance: STT → classify → retrieval → LLM → TTS, cancellable.

Attempts start *speculatively*: at a short pause (``pause_ms``) rather than at the
endpoint (``endpoint_silence_ms``), so by the time the turn is certainly over the
transcript — and often the first audio of the reply — already exists. If the
caller keeps talking, the attempt is cancelled and a new one starts at the next
pause. Nothing of an attempt is heard until the session commits it: its audio
waits in :attr:`TurnAttempt.segments`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import structlog

from callcontrol.config import PipelineSettings
from callcontrol.dialog.grounding import FactGuard
from callcontrol.dialog.machine import Input, classify
from callcontrol.dialog.voice import TimedLLM, VoicePipeline
from callcontrol.media.codecs import Float32Array
from callcontrol.pipeline.answer import compose, search_query
from callcontrol.pipeline.base import ChatMessage, Passage, Transcript
from callcontrol.pipeline.prompt import build_messages, select_passages
from callcontrol.pipeline.rag import is_confident
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
    passages: list[Passage] = field(default_factory=list)
    verdict: asyncio.Future[Verdict] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    segments: asyncio.Queue[SpokenSegment | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    guard: FactGuard | None = None
    guarded: bool = False

    def start(
        self,
        voice: VoicePipeline,
        *,
        owner: str | None,
        language: str | None,
        history: Sequence[ChatMessage],
        sample_rate: int,
    ) -> None:
        self.task = asyncio.create_task(
            self._run(voice, owner, language, list(history), sample_rate),
            name="turn-attempt",
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
        owner: str | None,
        language: str | None,
        history: list[ChatMessage],
        sample_rate: int,
    ) -> None:
        settings = voice.settings.pipeline
        try:
            prompt = await self._glossary(voice, owner) if settings.stt_glossary else None
            self.timings.stt_started = time.monotonic()
            transcript = await voice.stt.transcribe(
                self.audio, language, speech_ms=self.voiced_ms, prompt=prompt
            )
            self.timings.stt_done = time.monotonic()
            self.transcript.set_result(transcript)
            if transcript.is_empty:
                self._decide("not_a_question")
                return
            self.kind, self.reason = classify(
                transcript.text, settings.sensitive_topics, voice.language
            )
            if self.kind in (Input.GOODBYE, Input.EMPTY_TURN):
                self._decide("not_a_question")
                return
            earlier = [m.content for m in history if m.role == "user"]
            if earlier and earlier[-1] == transcript.text:
                earlier.pop()  # the session may already have added this turn
            query = search_query(transcript.text, earlier)
            passages = await voice.kb.search(owner or "default", query, settings.top_k)
            self.passages = passages
            self.timings.retrieval_done = time.monotonic()
            if self.kind is not Input.QUESTION:
                self._decide("not_a_question")
                return
            answer = compose(transcript.text, passages) if passages else None
            if answer is None or not is_confident(passages, settings.min_confidence):
                self._decide("low_confidence")
                return
            self._decide("answer")
            if settings.answer_style == "extractive":
                await self._speak_text(voice, answer.text, sample_rate, transcript.language)
                return
            chosen = select_passages(passages, min_score=settings.min_confidence)
            messages = build_messages(
                settings.system_prompt,
                transcript.text,
                chosen,
                history,
                history_turns=settings.history_turns,
            )
            self.guard = FactGuard(
                [p.text for p in chosen],
                transcript.text,
                fallback=answer.text,
                system_prompt=settings.system_prompt,
                language=voice.language,
            )
            await self._speak(voice, messages, sample_rate, transcript.language, settings)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed turn must not end the call
            log.exception("turn attempt failed")
            if not self.transcript.done():
                self.transcript.set_exception(exc)
            self._decide("failed")
        finally:
            self.segments.put_nowait(None)

    @staticmethod
    async def _glossary(voice: VoicePipeline, owner: str | None) -> str | None:
        try:
            return await voice.kb.glossary(owner or "default") or None
        except Exception as exc:  # noqa: BLE001 - recognition works without it
            log.warning("no glossary for speech recognition", error=str(exc))
            return None

    def _review(self, phrase: str) -> str | None:
        guard = self.guard
        if guard is None:
            return None
        replacement = guard.review(phrase)
        if replacement is not None:
            self.guarded = True
            log.info(
                "reply phrase not supported by the facts; saying the fact instead",
                phrase=phrase,
                fact=replacement,
            )
        return replacement

    def _decide(self, verdict: Verdict) -> None:
        if not self.verdict.done():
            self.verdict.set_result(verdict)

    async def _speak_text(
        self, voice: VoicePipeline, text: str, sample_rate: int, language: str
    ) -> None:
        """Say a composed answer: phrase by phrase, the first as soon as it is synthesized."""
        stream = speak(
            FixedText(text),
            voice.tts,
            [],
            sample_rate=sample_rate,
            language=language,
            sentence_rules=voice.language.sentences,
        )
        async with contextlib.aclosing(cast(AsyncGenerator[SpokenSegment, None], stream)) as it:
            async for segment in it:
                if self.timings.first_audio_ready is None:
                    self.timings.first_audio_ready = time.monotonic()
                self.segments.put_nowait(segment)

    async def _speak(
        self,
        voice: VoicePipeline,
        messages: list[ChatMessage],
        sample_rate: int,
        language: str,
        settings: PipelineSettings,
    ) -> None:
        def first_token(at: float) -> None:
            if self.timings.llm_first_token is None:
                self.timings.llm_first_token = at

        llm = TimedLLM(voice.llm, first_token)
        stream = speak(
            llm,
            voice.tts,
            messages,
            sample_rate=sample_rate,
            language=language,
            max_tokens=settings.llm_max_tokens,
            review=self._review,
            sentence_rules=voice.language.sentences,
        )
        async with contextlib.aclosing(cast(AsyncGenerator[SpokenSegment, None], stream)) as it:
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
) -> AsyncIterator[SpokenSegment]:
    """Speak arbitrary messages (a colleague's answer rephrased, …)."""
    llm = TimedLLM(voice.llm, on_first_token or (lambda _at: None))
    stream = speak(
        llm,
        voice.tts,
        messages,
        sample_rate=sample_rate,
        language=language,
        max_tokens=voice.settings.pipeline.llm_max_tokens,
        sentence_rules=voice.language.sentences,
    )
    async with contextlib.aclosing(cast(AsyncGenerator[SpokenSegment, None], stream)) as it:
        async for segment in it:
            yield segment
