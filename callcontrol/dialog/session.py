"""One conversation: caller audio in, the dialog machine in the middle, bot audio out.

The session is the media layer's :class:`~callcontrol.media.base.ForkConsumer`
for its call. Endpoint events (from the VAD thread), playback events, timers,
turn results and the human desk's answers all land in one inbox and are handled
in order by one task, which feeds :class:`~callcontrol.dialog.machine.DialogMachine`
and performs the actions it returns.

Latency: an attempt at answering starts at the first pause in speech (see
``attempt.py``) and is committed when the endpoint confirms the turn is over;
replies stream phrase by phrase. Barge-in: the endpointer reports caller speech
over the bot; the output is cleared at once, generation is cancelled, and the
history keeps only what the caller actually heard.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import structlog

from callcontrol.config import PipelineSettings
from callcontrol.dialog.attempt import Timings, TurnAttempt, spoken
from callcontrol.dialog.machine import Action, DialogMachine, Input, State
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.hitl.base import HitlDesk, HitlOutcome, HitlQuestion, Reason
from callcontrol.live.base import EventBus
from callcontrol.live.topics import call_topic
from callcontrol.media.base import AudioOutput, PlaybackEvent, PlaybackHandle, PlaybackStarted
from callcontrol.media.codecs import Int16Array
from callcontrol.media.endpoint import (
    BargeIn,
    EndpointConfig,
    EndpointEvent,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
)
from callcontrol.media.listen import CallAudioInput
from callcontrol.metrics import Metrics
from callcontrol.pipeline.base import ChatMessage
from callcontrol.pipeline.reply import SpokenSegment
from callcontrol.store.models import new_id
from callcontrol.store.writer import Write

log = structlog.get_logger(__name__)

PRE_ROLL_MS = 250.0
POST_ROLL_MS = 150.0

REPHRASE_PROMPT = (
    "You are a friendly phone assistant. A colleague answered the caller's question. "
    "Tell the caller the colleague's answer in one or two short sentences. Do not add facts."
)


class TurnSink:
    """Where turns go: the durable writer, and the bus for the live console."""

    def __init__(self, submit: Callable[[Write], None], bus: EventBus, metrics: Metrics) -> None:
        self.submit = submit
        self.bus = bus
        self.metrics = metrics


@dataclass(frozen=True, slots=True)
class _Endpoint:
    event: EndpointEvent


@dataclass(frozen=True, slots=True)
class _Transcribed:
    attempt: TurnAttempt


@dataclass(frozen=True, slots=True)
class _Feed:
    inp: Input
    run: _Reply | None = None


@dataclass(frozen=True, slots=True)
class _Human:
    outcome: HitlOutcome


@dataclass(frozen=True, slots=True)
class _Playback:
    event: PlaybackEvent


_Message = _Endpoint | _Transcribed | _Feed | _Human | _Playback


@dataclass(slots=True)
class _Reply:
    """Audio the bot is speaking as one turn (an answer, a phrase, an operator's answer)."""

    text_source: str
    timings: Timings | None
    passages: list[dict[str, Any]] = field(default_factory=list)
    handles: list[PlaybackHandle] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    done: bool = False
    recorded: bool = False

    def heard(self) -> tuple[str, bool]:
        """(what the caller heard, interrupted?)"""
        parts: list[str] = []
        interrupted = False
        for handle in self.handles:
            result = handle.result
            if result is None:
                interrupted = True
                break
            if result.heard_text:
                parts.append(result.heard_text)
            if result.interrupted:
                interrupted = True
                break
        return " ".join(parts).strip(), interrupted


class DialogSession:
    """A bot conversation on one call (FreeSWITCH fork or direct websocket)."""

    def __init__(
        self,
        *,
        call_id: str,
        owner: str | None,
        caller_number: str | None,
        voice: VoicePipeline,
        output: AudioOutput,
        output_rate: int,
        desk: HitlDesk | None,
        sink: TurnSink,
        hangup: Callable[[], Awaitable[None]],
        notify_client: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        greet: bool = True,
    ) -> None:
        self.call_id = call_id
        self.greet = greet
        self.owner = owner
        self.caller_number = caller_number
        self.voice = voice
        self.settings = voice.settings.pipeline
        self.console = voice.settings.console
        self.output = output
        self.output_rate = output_rate
        self.desk = desk
        self.sink = sink
        self._hangup = hangup
        self._notify_client = notify_client
        self.language: str | None = None if self.settings.language == "auto" else "en"
        if self.settings.language not in ("auto", "en"):
            self.language = self.settings.language
        self.machine = DialogMachine(max_reprompts=self.settings.max_reprompts)
        self.history: list[ChatMessage] = []
        self._inbox: asyncio.Queue[_Message] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        config = EndpointConfig.from_settings(self.settings)
        self.input = CallAudioInput(voice.vad, self._from_vad_thread, config)
        self._clock: list[tuple[float, float]] = []  # (received stream ms, monotonic)
        self._speculative: TurnAttempt | None = None
        self._current: TurnAttempt | None = None
        self._reply: _Reply | None = None
        self._human: asyncio.Task[None] | None = None
        self._human_question = ""
        self._human_reason: Reason = "low_confidence"
        self._human_passages: list[dict[str, Any]] = []
        self._human_answer = ""
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()
        self.turns: list[dict[str, Any]] = []
        self.barge_ins: list[float] = []  # wall times: barge-in seen, output cleared
        self.handoffs: list[dict[str, Any]] = []  # every question handed to a person
        output.subscribe(self._on_playback)
        self._log = log.bind(call=call_id)

    # -- ForkConsumer (event loop, must be quick) ---------------------------------------
    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        accepted = self.input.feed(samples, sample_rate)
        self._clock.append((self.input.received_ms, time.monotonic()))
        if len(self._clock) > 4000:
            del self._clock[:2000]
        return accepted

    def on_text(self, text: str) -> None:
        self._log.debug("fork text frame", text=text[:200])

    def on_close(self, code: int, reason: str) -> None:
        self._log.info("media socket closed", code=code, reason=reason)

    def _from_vad_thread(self, event: EndpointEvent) -> None:
        self._inbox.put_nowait(_Endpoint(event))

    def post(self, inp: Input) -> None:
        """From the outside (the call ended, a person took over…)."""
        self._inbox.put_nowait(_Feed(inp))

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"dialog-{self.call_id}")

    async def stop(self) -> None:
        self.post(Input.HANGUP)
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            if not self._task.done():
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            if self.greet:
                try:
                    await self._feed(Input.START)
                except Exception:  # noqa: BLE001 - the caller is there: listen anyway
                    self._log.exception("greeting failed; listening without it")
                    await self._feed(Input.PLAYBACK_DONE)
            else:  # the media came back mid-call: listen again, no second hello
                self.machine.state = State.LISTENING
                self._arm("silence", self.settings.silence_reprompt_s, Input.SILENCE)
            while self.machine.state is not State.ENDED:
                message = await self._inbox.get()
                try:
                    await self._handle(message)
                except Exception:  # noqa: BLE001 - a failed step must not drop the caller
                    self._log.exception("dialog step failed", message=type(message).__name__)
        finally:
            await self._cleanup()

    async def _cleanup(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        for attempt in (self._speculative, self._current):
            if attempt is not None:
                await attempt.cancel()
        if self._reply is not None:
            await self._finish_reply(self._reply)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.input.close()
        with contextlib.suppress(Exception):
            await self.output.clear()
        self.ended.set()
        self._log.info("dialog ended", turns=self._seq)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the inbox --------------------------------------------------------------------
    async def _handle(self, message: _Message) -> None:
        if isinstance(message, _Endpoint):
            await self._on_endpoint(message.event)
        elif isinstance(message, _Transcribed):
            await self._on_transcribed(message.attempt)
        elif isinstance(message, _Feed):
            if message.inp in (Input.REPLY_DONE, Input.REPLY_AUDIO, Input.LOW_CONFIDENCE):
                if message.run is not self._reply:
                    return  # a reply that was already cancelled
            if message.inp is Input.REPLY_DONE and message.run is not None:
                await self._finish_reply(message.run)
            if message.inp is Input.PLAYBACK_DONE and message.run is not None:
                await self._record_phrase(message.run)
            await self._feed(message.inp)
        elif isinstance(message, _Human):
            await self._on_human(message.outcome)
        else:
            self._on_playback_event(message.event)

    async def _feed(self, inp: Input) -> None:
        state = self.machine.state
        actions = self.machine.feed(inp)
        if actions or self.machine.state is not state:
            self._log.debug("dialog", state=state.value, input=inp.value, to=self.machine.state)
        self.input.bot_speaking = self.machine.state in (
            State.GREETING,
            State.REPROMPTING,
            State.THINKING,
            State.SPEAKING,
        )
        for action in actions:
            await self._do(action)

    # -- endpointing ------------------------------------------------------------------
    def _wall(self, stream_ms: float) -> float:
        """Monotonic time at which the caller audio up to ``stream_ms`` had arrived."""
        clock = self._clock
        index = bisect.bisect_left(clock, (stream_ms, -1.0))
        if index >= len(clock):
            return time.monotonic()
        return clock[index][1]

    async def _on_endpoint(self, event: EndpointEvent) -> None:
        if isinstance(event, SpeechStarted):
            if self.machine.state is State.LISTENING:
                await self._feed(Input.BARGE_IN)  # the caller talks: stop the silence clock
        elif isinstance(event, BargeIn):
            lag = time.monotonic() - self._wall(event.at_ms)
            self._log.info("barge-in", voiced_ms=event.voiced_ms, detect_lag_ms=round(lag * 1000))
            self.barge_ins.append(time.time())
            await self._feed(Input.BARGE_IN)
            self.barge_ins.append(time.time())
        elif isinstance(event, SpeechPaused):
            await self._speculate(event)
        elif isinstance(event, SpeechResumed):
            if self._speculative is not None:
                await self._speculative.cancel()
                self._speculative = None
        elif isinstance(event, SpeechEnded):
            await self._turn_ended(event)

    def _new_attempt(self, start_ms: float, end_ms: float, voiced_ms: float) -> TurnAttempt:
        # VAD onsets lag soft first sounds ("When…") and trail off early: pad the cut.
        cut_start = max(0.0, start_ms - PRE_ROLL_MS)
        cut_end = min(end_ms + POST_ROLL_MS, self.input.received_ms)
        attempt = TurnAttempt(
            start_ms=start_ms,
            end_ms=end_ms,
            audio=self.input.audio(cut_start, cut_end),
            voiced_ms=voiced_ms,
            timings=Timings(end_of_speech=self._wall(end_ms)),
        )
        attempt.start(
            self.voice,
            owner=self.owner,
            language=self.language or "auto",
            history=self.history,
            sample_rate=self.output_rate,
        )
        return attempt

    async def _speculate(self, event: SpeechPaused) -> None:
        if self.machine.state in (State.CLOSING, State.ENDED):
            return
        if self._speculative is not None:
            await self._speculative.cancel()
        voiced = event.end_ms - event.start_ms
        self._speculative = self._new_attempt(event.start_ms, event.end_ms, voiced)

    async def _turn_ended(self, event: SpeechEnded) -> None:
        attempt = self._speculative
        self._speculative = None
        if attempt is not None and attempt.end_ms != event.end_ms:
            await attempt.cancel()
            attempt = None
        if attempt is None:
            attempt = self._new_attempt(event.start_ms, event.end_ms, event.voiced_ms)
        if self._current is not None and self._current is not attempt:
            await self._current.cancel()
        self._current = attempt
        self._spawn(self._await_transcript(attempt), "await-transcript")

    async def _await_transcript(self, attempt: TurnAttempt) -> None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(attempt.transcript)
        self._inbox.put_nowait(_Transcribed(attempt))

    async def _on_transcribed(self, attempt: TurnAttempt) -> None:
        if attempt is not self._current:
            return
        if attempt.transcript.cancelled() or attempt.transcript.exception() is not None:
            self._current = None
            await self._feed(Input.EMPTY_TURN)
            return
        transcript = attempt.transcript.result()
        if transcript.is_empty:
            self._log.info("utterance dropped", reason=transcript.dropped)
            self._current = None
            await attempt.cancel()
            await self._feed(Input.EMPTY_TURN)
            return
        if self.language is None:
            self.language = transcript.language
            self._log.info("caller language detected", language=self.language)
        await self._record_turn(
            "caller",
            transcript.text,
            started=attempt.start_ms,
            ended=attempt.end_ms,
            language=transcript.language,
        )
        self.history.append(ChatMessage("user", transcript.text))
        kind = attempt.kind or Input.QUESTION
        if kind is Input.QUESTION:
            await self._feed(Input.QUESTION)
        else:
            if kind is Input.WANTS_PERSON:
                self._hand_over(transcript.text, attempt.reason or "caller_request", attempt)
            await attempt.cancel()
            self._current = None
            await self._feed(kind)

    # -- actions ----------------------------------------------------------------------
    async def _do(self, action: Action) -> None:
        settings = self.settings
        if action is Action.SAY_GREETING:
            await self._say_setting("greeting", as_reply=False)
        elif action is Action.SAY_REPROMPT:
            await self._say_setting("reprompt", as_reply=False)
        elif action is Action.SAY_GOODBYE:
            await self._say_setting("goodbye", as_reply=False)
        elif action is Action.SAY_HOLD:
            await self._say_setting("hold_phrase", as_reply=False)
        elif action is Action.SAY_REASSURANCE:
            await self._say_setting("reassurance", as_reply=False)
        elif action is Action.SAY_FOLLOW_UP:
            await self._say_setting("follow_up", as_reply=True)
        elif action is Action.SAY_HUMAN_ANSWER:
            await self._say_human_answer()
        elif action is Action.ANSWER:
            await self._answer()
        elif action is Action.STOP_PLAYBACK:
            await self.output.clear()
        elif action is Action.CANCEL_REPLY:
            await self._cancel_reply()
        elif action is Action.ASK_HUMAN:
            self._ask_human()
        elif action is Action.CANCEL_HUMAN:
            if self._human is not None:
                self._human.cancel()
                self._human = None
        elif action is Action.ARM_SILENCE:
            self._arm("silence", settings.silence_reprompt_s, Input.SILENCE)
        elif action is Action.DISARM_SILENCE:
            self._disarm("silence")
        elif action is Action.ARM_REASSURANCE:
            self._arm("reassure", self.console.reassurance_interval_s, Input.REASSURE)
        elif action is Action.HANGUP:
            try:  # awaited here: the session's cleanup would cancel a spawned task
                await self._hangup()
            except Exception as exc:  # noqa: BLE001 - the call may already be gone
                self._log.warning("hangup failed", error=str(exc))
        elif action is Action.STOP:
            pass  # the run loop ends once the machine is in ENDED

    def _arm(self, name: str, seconds: float, inp: Input) -> None:
        self._disarm(name)
        self._timers[name] = self._loop.call_later(seconds, self.post, inp)

    def _disarm(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    # -- speaking ---------------------------------------------------------------------
    async def _say_setting(self, name: str, *, as_reply: bool) -> None:
        """Say one of the configured phrases (``pipeline.<name>``); when it cannot be
        synthesized, log it at once and say the built-in phrase instead."""
        text: str = getattr(self.settings, name)
        try:
            await self._say(text, as_reply=as_reply)
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the caller must still hear something
            builtin = PipelineSettings.model_fields[name].default
            if text == builtin:
                raise
            self._log.exception(
                "cannot say the configured phrase; saying the built-in one", phrase=name
            )
        await self._say(builtin, as_reply=as_reply)

    async def _say(self, text: str, *, as_reply: bool) -> None:
        """A fixed phrase (cached audio). ``as_reply``: it answers the turn (REPLY_* inputs)."""
        pcm = await self.voice.tts.phrase(text, self.output_rate, self.language or "en")

        async def one() -> AsyncIterator[SpokenSegment]:
            yield SpokenSegment(0, text, pcm, self.output_rate)

        run = _Reply(text_source="phrase", timings=None)
        if as_reply:
            self._reply = run
        run.task = self._spawn(self._play(run, one(), as_reply=as_reply), "say")

    async def _answer(self) -> None:
        attempt = self._current
        if attempt is None:
            await self._feed(Input.REPLY_DONE)
            return
        run = _Reply(text_source="answer", timings=attempt.timings)
        self._reply = run
        run.passages = _passages(attempt)
        run.task = self._spawn(self._play_attempt(run, attempt), "answer")

    async def _play_attempt(self, run: _Reply, attempt: TurnAttempt) -> None:
        verdict = await asyncio.shield(attempt.verdict)
        if verdict == "low_confidence":
            self._hand_over(attempt.transcript.result().text, "low_confidence", attempt)
            self._inbox.put_nowait(_Feed(Input.LOW_CONFIDENCE, run))
            return
        if verdict != "answer":
            self._inbox.put_nowait(_Feed(Input.REPLY_DONE, run))
            return

        async def segments() -> AsyncIterator[SpokenSegment]:
            while (segment := await attempt.segments.get()) is not None:
                yield segment

        await self._play(run, segments(), as_reply=True)

    async def _play(
        self, run: _Reply, segments: AsyncIterator[SpokenSegment], *, as_reply: bool
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
                        self._inbox.put_nowait(_Feed(Input.REPLY_AUDIO, run))
            for handle in run.handles:
                await handle.wait()
        finally:
            run.done = True
        self._inbox.put_nowait(_Feed(Input.REPLY_DONE if as_reply else Input.PLAYBACK_DONE, run))

    def _on_playback(self, event: PlaybackEvent) -> None:
        self._inbox.put_nowait(_Playback(event))

    def _on_playback_event(self, event: PlaybackEvent) -> None:
        run = self._reply
        if (
            isinstance(event, PlaybackStarted)
            and run is not None
            and run.timings is not None
            and run.timings.playback_started is None
            and run.handles
            and run.handles[0].playback_id == event.playback_id
        ):
            run.timings.playback_started = event.at

    async def _cancel_reply(self) -> None:
        run, self._reply = self._reply, None
        if self._current is not None:
            await self._current.cancel()
            self._current = None
        if run is not None:
            if run.task is not None and not run.task.done():
                run.task.cancel()
                await asyncio.gather(run.task, return_exceptions=True)
            await self._finish_reply(run)

    async def _finish_reply(self, run: _Reply) -> None:
        """Record what the caller heard of a reply (once), and keep it in the history."""
        if run.recorded:
            return
        run.recorded = True
        if self._reply is run:
            self._reply = None
            self._current = None
        text, interrupted = run.heard()
        if not run.handles:
            return
        if text and run.text_source != "phrase":  # canned phrases would be parroted back
            self.history.append(ChatMessage("assistant", text))
        await self._record_turn(
            "bot", text, timings=run.timings, interrupted=interrupted, retrieval=run.passages
        )

    async def _record_phrase(self, run: _Reply) -> None:
        if run.recorded or not run.handles:
            return
        run.recorded = True
        text, interrupted = run.heard()
        await self._record_turn("bot", text, interrupted=interrupted)

    # -- the human desk ---------------------------------------------------------------
    def _hand_over(self, question: str, reason: str, attempt: TurnAttempt | None) -> None:
        """Remember what to ask a person (the next ASK_HUMAN action sends it)."""
        self._human_question = question
        self._human_reason = cast(Reason, reason)
        self._human_passages = _passages(attempt) if attempt is not None else []

    def _ask_human(self) -> None:
        desk = self.desk
        reason = self._human_reason
        ask = HitlQuestion(
            call_id=self.call_id,
            question=self._human_question,
            reason=reason,
            owner=self.owner,
            caller_number=self.caller_number,
            recent_turns=[{"speaker": t["speaker"], "text": t["text"]} for t in self.turns[-6:]],
            retrieval=self._human_passages,
        )

        async def wait() -> None:
            if desk is None:
                outcome = HitlOutcome("unavailable", request_id="")
            else:
                outcome = await desk.ask(ask)
            self._inbox.put_nowait(_Human(outcome))

        self._human = self._spawn(wait(), "hitl")
        self._log.info("question handed to a person", reason=reason)
        handoff = {"type": "handoff", "reason": reason, "question": self._human_question}
        self.handoffs.append(handoff)
        if self._notify_client is not None:
            self._spawn(self._notify_client(handoff), "notify-handoff")

    async def _on_human(self, outcome: HitlOutcome) -> None:
        self._human = None
        self._disarm("reassure")
        if outcome.status == "answered" and outcome.answer:
            self._human_answer = outcome.answer
            await self._record_turn("operator", outcome.answer)
            await self._feed(Input.HUMAN_ANSWER)
        elif outcome.status != "cancelled":
            await self._feed(Input.HUMAN_UNAVAILABLE)

    async def _say_human_answer(self) -> None:
        answer = self._human_answer
        messages = [
            ChatMessage("system", REPHRASE_PROMPT),
            ChatMessage(
                "user",
                f"Caller's question: {self._human_question}\nColleague's answer: {answer}",
            ),
        ]
        timings = Timings(end_of_speech=time.monotonic())

        def first(at: float) -> None:
            if timings.llm_first_token is None:
                timings.llm_first_token = at

        run = _Reply(text_source="human", timings=timings)
        self._reply = run
        stream = spoken(
            self.voice,
            messages,
            sample_rate=self.output_rate,
            language=self.language or "en",
            on_first_token=first,
        )
        run.task = self._spawn(self._play(run, stream, as_reply=True), "human-answer")

    # -- records ----------------------------------------------------------------------
    def _stream_time(self, stream_ms: float | None) -> datetime:
        now = datetime.now(UTC)
        if stream_ms is None:
            return now
        lag = time.monotonic() - self._wall(stream_ms)
        return now - timedelta(seconds=max(lag, 0.0))

    async def _record_turn(
        self,
        speaker: str,
        text: str,
        *,
        started: float | None = None,
        ended: float | None = None,
        language: str | None = None,
        timings: Timings | None = None,
        interrupted: bool = False,
        retrieval: list[dict[str, Any]] | None = None,
    ) -> None:
        self._seq += 1
        waterfall = timings.waterfall() if timings is not None else {}
        v2v = timings.voice_to_voice_ms if timings is not None else None
        row = {
            "id": new_id(),
            "call_id": self.call_id,
            "seq": self._seq,
            "speaker": speaker,
            "text": text,
            "language": language or self.language,
            "interrupted": interrupted,
            "started_at": self._stream_time(started),
            "ended_at": self._stream_time(ended) if ended is not None else datetime.now(UTC),
            "timings": waterfall,
            "voice_to_voice_ms": v2v,
            "retrieval": retrieval or [],
        }
        self.sink.submit(Write.insert("turns", **row))
        message = {
            "type": "turn",
            "call_id": self.call_id,
            "seq": self._seq,
            "speaker": speaker,
            "text": text,
            "interrupted": interrupted,
            "timings": waterfall,
            "voice_to_voice_ms": v2v,
            "language": row["language"],
        }
        self.turns.append(message)
        metrics = self.sink.metrics
        if v2v is not None:
            metrics.turn_latency.labels("voice_to_voice").observe(v2v / 1000)
            for stage in ("stt_done", "retrieval_done", "llm_first_token", "playback_started"):
                if stage in waterfall:
                    metrics.turn_latency.labels(stage.removesuffix("_done")).observe(
                        waterfall[stage]
                    )
        try:
            await self.sink.bus.publish(call_topic(self.call_id), message)
        except Exception as exc:  # noqa: BLE001 - the live view is best effort
            self._log.warning("cannot publish turn", error=str(exc))
        if self._notify_client is not None:
            with contextlib.suppress(Exception):
                await self._notify_client(message)


def _passages(attempt: TurnAttempt) -> list[dict[str, Any]]:
    return [
        {"text": p.text, "score": round(p.score, 4), "title": p.title} for p in attempt.passages
    ]
