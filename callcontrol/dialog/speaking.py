"""The bot's voice in one conversation: which reply is current, playing it phrase by
phrase, and recording what the caller heard of it (the history keeps only that).

A reply's progress goes back to the session as inputs tied to that reply
(``post(input, reply)``): ``REPLY_AUDIO`` at its first audio, ``REPLY_DONE`` when it was
played (or ``PLAYBACK_DONE`` for a phrase that does not answer the turn), and
``LOW_CONFIDENCE`` when the attempt found nothing good enough to say.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import numpy as np
import structlog

from callcontrol.config import PipelineSettings
from callcontrol.dialog.attempt import Timings, TurnAttempt, spoken
from callcontrol.dialog.machine import Input
from callcontrol.dialog.records import TurnLog
from callcontrol.dialog.reply import Reply, ReplySource
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.media.base import AudioOutput, PlaybackEvent, PlaybackStarted
from callcontrol.pipeline.base import ChatMessage
from callcontrol.pipeline.reply import SpokenSegment
from callcontrol.pipeline.sentences import split_sentences

log = structlog.get_logger(__name__)

Post = Callable[[Input, Reply], None]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class Speaking:
    def __init__(
        self,
        *,
        voice: VoicePipeline,
        output: AudioOutput,
        output_rate: int,
        turns: TurnLog,
        history: list[ChatMessage],
        post: Post,
        spawn: Spawn,
        language: Callable[[], str | None],
        settings: PipelineSettings | None = None,
    ) -> None:
        self.voice = voice
        self.settings = settings or voice.settings.pipeline
        self.output = output
        self.output_rate = output_rate
        self.turns = turns
        self.history = history
        self._post = post
        self._spawn = spawn
        self._language = language
        self.reply: Reply | None = None
        # The last phrase said outside a reply (greeting, prompt, goodbye…): the one whose
        # end the dialog waits for; an earlier one cut short ends nothing.
        self.phrase: Reply | None = None
        self._log = log.bind(call=turns.call.call_id)

    # -- starting a reply -------------------------------------------------------------
    async def say_setting(self, name: str, *, as_reply: bool, tail: bytes = b"") -> Reply:
        """Say one of the configured phrases (``pipeline.<name>``); when it cannot be
        synthesized, log it at once and say the built-in phrase instead."""
        text: str = getattr(self.settings, name)
        try:
            return await self.say(text, as_reply=as_reply, tail=tail)
        except asyncio.CancelledError:
            raise
        except Exception:
            builtin = PipelineSettings.model_fields[name].default
            if text == builtin:
                raise
            self._log.exception(
                "cannot say the configured phrase; saying the built-in one", phrase=name
            )
        return await self.say(builtin, as_reply=as_reply, tail=tail)

    async def say(
        self, text: str, *, as_reply: bool, tail: bytes = b"", fixed: bool = True
    ) -> Reply:
        """A fixed phrase (cached audio). ``as_reply``: it answers the turn (REPLY_* inputs).
        ``tail``: more audio played right after it (the voicemail tone). ``fixed=False``:
        words of this call only (a flow's "Hello Dana…"), not kept in the phrase cache,
        said sentence by sentence as each is synthesized (they can be long)."""
        tts, language = self.voice.tts, self._language() or "en"
        if fixed:
            pcm = await tts.phrase(text, self.output_rate, language) + tail

            async def segments() -> AsyncIterator[SpokenSegment]:
                yield SpokenSegment(0, text, pcm, self.output_rate)

        else:
            parts = split_sentences(text, self.voice.language.sentences) or [text]

            async def segments() -> AsyncIterator[SpokenSegment]:
                for n, part in enumerate(parts):
                    audio = await tts.synthesize(part, self.output_rate, language)
                    if n == len(parts) - 1:
                        audio += tail
                    yield SpokenSegment(n, part, audio, self.output_rate)

        run = Reply(source="phrase", timings=None)
        if as_reply:
            self.reply = run
        else:
            self.phrase = run
        run.task = self._spawn(self._play(run, segments(), as_reply=as_reply), "say")
        return run

    def answer(
        self,
        attempt: TurnAttempt,
        passages: list[dict[str, Any]],
        low_confidence: Callable[[TurnAttempt], None],
    ) -> None:
        """Speak what the attempt produces; when it found nothing good enough,
        ``low_confidence(attempt)`` then the ``LOW_CONFIDENCE`` input."""
        run = Reply(source="answer", timings=attempt.timings, passages=passages)
        self.reply = run
        task = self._play_attempt(run, attempt, low_confidence)
        run.task = self._spawn(task, "answer")

    def rephrase(
        self, source: ReplySource, messages: list[ChatMessage], *, fixed: str | None = None
    ) -> None:
        """Have the model say ``messages`` as the turn's reply (an operator's answer…);
        ``fixed``: say that text as it is instead."""
        timings = Timings(end_of_speech=time.monotonic())

        def first(at: float) -> None:
            if timings.llm_first_token is None:
                timings.llm_first_token = at

        segments = spoken(
            self.voice,
            messages,
            sample_rate=self.output_rate,
            language=self._language() or "en",
            on_first_token=first,
            fixed=fixed,
        )
        run = Reply(source=source, timings=timings)
        self.reply = run
        run.task = self._spawn(self._play(run, segments, as_reply=True), f"{source}-reply")

    async def _play_attempt(
        self, run: Reply, attempt: TurnAttempt, low_confidence: Callable[[TurnAttempt], None]
    ) -> None:
        verdict = await asyncio.shield(attempt.verdict)
        if verdict == "low_confidence":
            low_confidence(attempt)
            self._post(Input.LOW_CONFIDENCE, run)
            return
        if verdict != "answer":
            self._post(Input.REPLY_DONE, run)
            return

        async def segments() -> AsyncIterator[SpokenSegment]:
            while (segment := await attempt.segments.get()) is not None:
                yield segment

        await self._play(run, segments(), as_reply=True)

    async def _play(
        self, run: Reply, segments: AsyncIterator[SpokenSegment], *, as_reply: bool
    ) -> None:
        try:
            async for segment in segments:
                pcm = np.frombuffer(segment.pcm, dtype=np.int16)
                handle = await self.output.play(pcm, segment.sample_rate, segment.text)
                run.handles.append(handle)
                if len(run.handles) == 1:
                    if run.timings is not None:
                        run.timings.first_audio_sent = time.monotonic()
                    if as_reply:
                        self._post(Input.REPLY_AUDIO, run)
            for handle in run.handles:
                await handle.wait()
        finally:
            run.done = True
        self._post(Input.REPLY_DONE if as_reply else Input.PLAYBACK_DONE, run)

    def on_playback(self, event: PlaybackEvent) -> None:
        """The output started playing the reply's first phrase: the caller hears it now."""
        run = self.reply
        if (
            isinstance(event, PlaybackStarted)
            and run is not None
            and run.timings is not None
            and run.timings.playback_started is None
            and run.handles
            and run.handles[0].playback_id == event.playback_id
        ):
            run.timings.playback_started = event.at

    # -- ending a reply ---------------------------------------------------------------
    async def cancel(self) -> None:
        run, self.reply = self.reply, None
        if run is not None:
            await run.cancel()
            await self.finish(run)

    async def finish(self, run: Reply) -> None:
        """Record what the caller heard of a reply (once), and keep it in the history."""
        if run.recorded:
            return
        run.recorded = True
        if self.reply is run:
            self.reply = None
        text, interrupted = run.heard()
        if not run.handles:
            return
        if text and run.source != "phrase":  # canned phrases would be parroted back
            self.history.append(ChatMessage("assistant", text))
        await self.turns.record(
            "bot",
            text,
            language=self._language(),
            timings=run.timings,
            interrupted=interrupted,
            retrieval=run.passages,
        )

    async def record_phrase(self, run: Reply) -> None:
        """A phrase that did not answer a turn (greeting, hold…) has been played."""
        if run.recorded or not run.handles:
            return
        run.recorded = True
        text, interrupted = run.heard()
        await self.turns.record("bot", text, language=self._language(), interrupted=interrupted)
