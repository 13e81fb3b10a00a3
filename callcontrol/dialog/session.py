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
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import numpy as np
import structlog

from callcontrol.aio import TaskOwner
from callcontrol.dialog.attempt import TurnAttempt
from callcontrol.dialog.base import (
    CallInfo,
    CallTransfer,
    ClientNotifier,
    Hangup,
    Speaker,
    TurnSink,
)
from callcontrol.dialog.hold import HoldMusic, next_update
from callcontrol.dialog.human import BRIEFING_RATE, HumanHandover
from callcontrol.dialog.inbox import (
    BOT_TALKING,
    REPLY_INPUTS,
    Endpoint,
    Feed,
    Human,
    Keyed,
    Message,
    Playback,
    Transcribed,
    Transferred,
)
from callcontrol.dialog.listening import Listener
from callcontrol.dialog.machine import Action, DialogMachine, Input, State
from callcontrol.dialog.policy import Close, DialogPolicy, Directive, Prompt, PutThrough
from callcontrol.dialog.qa import QaPolicy
from callcontrol.dialog.records import TurnLog
from callcontrol.dialog.reply import Reply
from callcontrol.dialog.speaking import Speaking
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.dialog.voicemail import MessageRecorder, tone
from callcontrol.hitl.base import HitlDesk, HitlOutcome, PhoneHandoff, Reason
from callcontrol.media import hold_music
from callcontrol.media.base import AudioOutput
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
from callcontrol.media.resample import resample
from callcontrol.pipeline.base import STT_SAMPLE_RATE, ChatMessage
from callcontrol.pipeline.speech_text import spoken_text

log = structlog.get_logger(__name__)


class DialogSession:
    """A bot conversation on one call (FreeSWITCH fork or direct websocket).

    It is given its call, the voice pipeline, an audio output and a way to hang up; it
    hears the caller through :meth:`on_audio` (it is the media layer's ``ForkConsumer``)
    and hands every turn to its :class:`~callcontrol.dialog.base.TurnSink`\\ s.
    """

    def __init__(
        self,
        *,
        call: CallInfo,
        voice: VoicePipeline,
        output: AudioOutput,
        output_rate: int,
        hangup: Hangup,
        sinks: Sequence[TurnSink] = (),
        desk: HitlDesk | None = None,
        phone: PhoneHandoff | None = None,
        notify_client: ClientNotifier | None = None,
        greet: bool = True,
        policy: DialogPolicy | None = None,
        transfer: CallTransfer | None = None,
    ) -> None:
        self.call = call
        self._transfer = transfer
        # What a leading policy (a scripted flow) asked to say next, to close with, or
        # whom to put the caller through to (dialog/policy.py's directives).
        self._prompt_text = ""
        self._closing_text: str | None = None
        self._put_through: PutThrough | None = None
        self.call_id = call.call_id
        self.owner = call.owner
        self.greet = greet
        self.voice = voice
        # The owner's own values over the global ones (the console's per-owner settings).
        self.settings = voice.pipeline_for(call.owner)
        self.console = voice.settings.console
        self.output = output
        self.output_rate = output_rate
        self._hangup = hangup
        self._notify_client = notify_client
        # The call's language (dialplan), else the configured one; "auto": detected on
        # the first utterance.
        wanted = call.language or self.settings.language
        self.language: str | None = None if wanted == "auto" else wanted
        self.machine = DialogMachine(
            max_reprompts=self.settings.max_reprompts, voicemail=self.settings.voicemail
        )
        self.message = MessageRecorder()
        self._voicemail_prompt: Reply | None = None  # recording starts when *it* ends
        self.history: list[ChatMessage] = []
        self.log = TurnLog(call, sinks, notify_client)
        self.human = HumanHandover(
            call,
            desk,
            voice.language.rephrase_prompt,
            phone=phone if self.settings.handoff_by_phone else None,
            speak=lambda text: voice.tts.synthesize(text, BRIEFING_RATE, self.language or "en"),
        )
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        config = EndpointConfig.from_settings(self.settings)
        self.input = CallAudioInput(voice.vad, self.on_endpoint, config)
        self.policy: DialogPolicy = policy or QaPolicy(voice)
        self.listener = Listener(
            voice, self.policy, self.input, self.log.wall, owner=call.owner, output_rate=output_rate
        )
        self._human_wait: asyncio.Task[Any] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks = TaskOwner(f"dialog-{call.call_id}")
        self._task: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()
        self.ended_callbacks: list[Callable[[DialogSession], None]] = []
        self.barge_ins: list[float] = []  # wall times: barge-in seen, output cleared
        self.handoffs: list[dict[str, Any]] = []  # every question handed to a person
        self.speaking = Speaking(
            voice=voice,
            output=output,
            output_rate=output_rate,
            turns=self.log,
            history=self.history,
            post=lambda inp, run: self._inbox.put_nowait(Feed(inp, run)),
            spawn=self._tasks.spawn,
            language=lambda: self.language,
            settings=self.settings,
        )
        self.music = HoldMusic(
            output,
            lambda: hold_music.load(self.settings.hold_music, output_rate),
            output_rate,
            self._spawn,
        )
        self._hold_started: float | None = None
        say = self.speaking.say_setting
        self._actions: dict[Action, Callable[[], Awaitable[object]]] = {
            Action.SAY_GREETING: self._greet,
            Action.SAY_REPROMPT: lambda: say("reprompt", as_reply=False),
            Action.SAY_GOODBYE: self._say_goodbye,
            Action.SAY_PROMPT: self._say_prompt,
            Action.SAY_TRANSFER: self._say_transfer,
            Action.TRANSFER: self._do_transfer,
            Action.SAY_HOLD: lambda: say("hold_phrase", as_reply=False),
            Action.SAY_REASSURANCE: lambda: say("reassurance", as_reply=False),
            Action.SAY_FOLLOW_UP: lambda: say("follow_up", as_reply=True),
            Action.SAY_AWAY: lambda: say("away_message", as_reply=True),
            Action.SAY_HUMAN_ANSWER: self._say_human_answer,
            Action.ANSWER: self._answer,
            Action.STOP_PLAYBACK: self._stop_playback,
            Action.START_MUSIC: self._start_music,
            Action.SAY_VOICEMAIL_PROMPT: self._say_voicemail_prompt,
            Action.SAY_VOICEMAIL_THANKS: lambda: say("voicemail_thanks", as_reply=False),
            Action.START_RECORDING: self._start_recording,
            Action.STOP_RECORDING: self._stop_recording,
            Action.STOP_MUSIC: self._stop_music,
            Action.CANCEL_REPLY: self._cancel_reply,
            Action.ASK_HUMAN: self._ask_human,
            Action.CANCEL_HUMAN: self._cancel_human,
            Action.ARM_SILENCE: lambda: self._arm("silence", Input.SILENCE),
            Action.DISARM_SILENCE: lambda: self._disarm("silence"),
            Action.ARM_REASSURANCE: lambda: self._arm("reassure", Input.REASSURE),
            Action.HANGUP: self._do_hangup,
            Action.STOP: _nothing,  # the run loop ends once the machine is in ENDED
        }
        missing = set(Action) - set(self._actions)
        assert not missing, f"actions without a handler: {missing}"
        output.subscribe(lambda event: self._inbox.put_nowait(Playback(event)))
        self._log = log.bind(call=call.call_id)

    @property
    def turns(self) -> list[dict[str, Any]]:
        return self.log.turns

    # -- ForkConsumer (event loop, must be quick) ---------------------------------------
    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        if self.message.active:
            self.message.feed(samples, sample_rate)
        accepted = self.input.feed(samples, sample_rate)
        self.log.audio_received(self.input.received_ms)
        return accepted

    def on_text(self, text: str) -> None:
        self._log.debug("fork text frame", text=text[:200])

    def on_close(self, code: int, reason: str) -> None:
        self._log.info("media socket closed", code=code, reason=reason)

    def on_endpoint(self, event: EndpointEvent) -> None:
        """The endpointer's events (on the loop: ``CallAudioInput`` hands them over)."""
        self._inbox.put_nowait(Endpoint(event))

    def post(self, inp: Input) -> None:
        """From the outside (the call ended, a person took over…)."""
        self._inbox.put_nowait(Feed(inp))

    def on_dtmf(self, digit: str) -> None:
        """A key the caller pressed (from the call's DTMF events; on the loop)."""
        self._inbox.put_nowait(Keyed(digit))

    def end(self, *, bridged: bool = False) -> None:
        """The call ended, or a person took it over (``bridged``): stop talking."""
        self.post(Input.BRIDGED if bridged else Input.HANGUP)

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
                await self._feed(Input.RESUME)
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
        await self.listener.close()
        if self.speaking.reply is not None:
            await self.speaking.finish(self.speaking.reply)
        await self._tasks.aclose()
        self.input.close()
        with contextlib.suppress(Exception):
            await self.output.clear()
        self.ended.set()
        for callback in self.ended_callbacks:
            callback(self)
        self._log.info("dialog ended", turns=self.log.seq)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(cast(Any, coro), name)

    # -- the inbox --------------------------------------------------------------------
    async def _handle(self, message: Message) -> None:
        if isinstance(message, Endpoint):
            await self._on_endpoint(message.event)
        elif isinstance(message, Transcribed):
            await self._on_transcribed(message.attempt)
        elif isinstance(message, Feed):
            run = message.run
            if message.inp in REPLY_INPUTS and run is not self.speaking.reply:
                return  # from a reply that was already cancelled: not this turn's
            if message.inp is Input.REPLY_DONE and message.run is not None:
                await self._finish_reply(message.run)
            if message.inp is Input.PLAYBACK_DONE and message.run is not None:
                await self.speaking.record_phrase(message.run)
                if self.machine.state is State.VOICEMAIL and run is not self._voicemail_prompt:
                    return  # the hold phrase before it ended, not the prompt and its tone
                if run is not self.speaking.phrase:
                    return  # an earlier phrase, cut short for this one: not its end
            await self._feed(message.inp)
        elif isinstance(message, Human):
            await self._on_human(message.outcome)
        elif isinstance(message, Keyed):
            await self._on_keyed(message.digit)
        elif isinstance(message, Transferred):
            await self._on_transferred(message.ok)
        else:
            self.speaking.on_playback(message.event)

    async def _feed(self, inp: Input) -> None:
        if inp is Input.SILENCE and self.machine.state is State.LISTENING:
            directive = self.policy.silence()  # a flow re-asks its own way, or moves on
            if directive is not None:
                await self._direct(directive)
                return
        state = self.machine.state
        actions = self.machine.feed(inp)
        if actions or self.machine.state is not state:
            self._log.debug("dialog", state=state.value, input=inp.value, to=self.machine.state)
        self.input.bot_speaking = self.machine.state in BOT_TALKING
        for action in actions:
            await self._actions[action]()

    # -- endpointing ------------------------------------------------------------------
    async def _on_endpoint(self, event: EndpointEvent) -> None:
        if self.machine.state in (State.VOICEMAIL, State.RECORDING):
            await self._on_message_speech(event)
            return
        if isinstance(event, SpeechStarted):
            if self.machine.state is State.LISTENING:
                await self._feed(Input.BARGE_IN)  # the caller talks: stop the silence clock
        elif isinstance(event, BargeIn):
            lag = time.monotonic() - self.log.wall(event.at_ms)
            self._log.info("barge-in", voiced_ms=event.voiced_ms, detect_lag_ms=round(lag * 1000))
            self.barge_ins.append(time.time())
            await self._feed(Input.BARGE_IN)
            self.barge_ins.append(time.time())
        elif isinstance(event, SpeechPaused):
            await self._speculate(event)
        elif isinstance(event, SpeechResumed):
            await self.listener.resumed()
        elif isinstance(event, SpeechEnded):
            await self._turn_ended(event)

    async def _say_voicemail_prompt(self) -> None:
        self._voicemail_prompt = await self.speaking.say_setting(
            "voicemail_prompt", as_reply=False, tail=tone(self.output_rate)
        )

    async def _on_message_speech(self, event: EndpointEvent) -> None:
        """While a message is recorded, speech is the message, not turns: it ends after
        ``voicemail_silence_s`` of silence once the caller spoke."""
        if self.machine.state is not State.RECORDING:
            return
        if isinstance(event, SpeechStarted):
            await self._disarm("message")
        elif isinstance(event, SpeechEnded):
            await self._arm("message", Input.MESSAGE_DONE, self.settings.voicemail_silence_s)

    async def _start_recording(self) -> None:
        self.message.start(self.settings.voicemail_max_s)
        limit = self.settings.voicemail_max_s
        await self._arm("message_limit", Input.MESSAGE_DONE, limit)
        # A caller who says nothing at all is not held for the whole limit.
        await self._arm("message", Input.MESSAGE_DONE, self.settings.silence_reprompt_s)

    async def _stop_recording(self) -> None:
        """Keep the message now (the thanks must not wait for it); it is transcribed in
        the background, by the desk, after the call if need be."""
        await self._disarm("message")
        await self._disarm("message_limit")
        audio, rate = self.message.stop()
        if audio.size == 0:
            return
        stt, language = self.voice.stt, self.language

        async def transcribe() -> str:
            speech = (resample(audio, rate, STT_SAMPLE_RATE) / 32768).astype(np.float32)
            return (await stt.transcribe(speech, language or None)).text

        try:
            await self.human.attach_voicemail(audio, rate, transcribe)
        except Exception:  # noqa: BLE001 - logged with the trace; the call goes on
            self._log.exception("cannot keep the voicemail")
            return
        seconds = round(len(audio) / rate, 1)
        self._log.info("voicemail kept", seconds=seconds)
        await self._record("caller", f"(voicemail, {seconds} s)")

    async def _speculate(self, event: SpeechPaused) -> None:
        if self.machine.state not in (State.CLOSING, State.ENDED):
            await self.listener.paused(event, self.language or "auto", self.history)

    async def _turn_ended(self, event: SpeechEnded) -> None:
        attempt = await self.listener.ended(event, self.language or "auto", self.history)
        self._spawn(self._await_transcript(attempt), "await-transcript")

    async def _await_transcript(self, attempt: TurnAttempt) -> None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(attempt.transcript)
        self._inbox.put_nowait(Transcribed(attempt))

    async def _on_transcribed(self, attempt: TurnAttempt) -> None:
        if attempt is not self.listener.current:
            return
        if attempt.transcript.cancelled() or attempt.transcript.exception() is not None:
            self.listener.current = None
            await self._feed(Input.EMPTY_TURN)
            return
        transcript = attempt.transcript.result()
        if transcript.is_empty:
            self._log.info("utterance dropped", reason=transcript.dropped)
            self.listener.current = None
            await attempt.cancel()
            await self._feed(Input.EMPTY_TURN)
            return
        if self.language is None:
            self.language = transcript.language
            self._log.info("caller language detected", language=self.language)
        await self._record(
            "caller",
            transcript.text,
            started=attempt.start_ms,
            ended=attempt.end_ms,
            language=transcript.language,
        )
        self.history.append(ChatMessage("user", transcript.text))
        kind = attempt.kind or Input.QUESTION
        self._keep(self.policy.commit(attempt))
        if kind is Input.QUESTION:
            await self._feed(Input.QUESTION)
        else:
            if kind is Input.WANTS_PERSON:
                question = attempt.handover_question or transcript.text
                self._hand_over(question, attempt.reason or "caller_request", attempt)
            await attempt.cancel()
            self.listener.current = None
            await self._feed(kind)

    # -- a leading policy: keys, silences, transfers ----------------------------------------
    def _keep(self, directive: Directive | None) -> None:
        """Remember what a directive will say (the machine's action says it)."""
        if isinstance(directive, Prompt):
            self._prompt_text = directive.text
        elif isinstance(directive, Close):
            self._closing_text = directive.text
        elif isinstance(directive, PutThrough):
            self._put_through = directive

    async def _direct(self, directive: Directive) -> None:
        self._keep(directive)
        if isinstance(directive, Prompt):
            await self._feed(Input.PROMPT)
        elif isinstance(directive, Close):
            await self._feed(Input.GOODBYE)
        else:
            await self._feed(Input.TRANSFER)

    async def _on_keyed(self, digit: str) -> None:
        if self.machine.state in (State.CLOSING, State.ENDED, State.TRANSFERRING):
            return
        self._log.info("caller pressed a key", digit=digit)
        await self._record("caller", f"(pressed {digit})")
        directive = self.policy.dtmf(digit)
        if directive is not None:
            await self._direct(directive)
        elif self.machine.state is State.LISTENING:
            await self._arm("silence", Input.SILENCE)  # more keys may follow

    async def _say_prompt(self) -> None:
        text, self._prompt_text = self._prompt_text, ""
        if not text:
            self.post(Input.PLAYBACK_DONE)
            return
        await self.speaking.say(text, as_reply=False, fixed=False)

    async def _say_goodbye(self) -> None:
        text, self._closing_text = self._closing_text, None
        if text is None:
            await self.speaking.say_setting("goodbye", as_reply=False)
        elif text:
            await self.speaking.say(text, as_reply=False, fixed=False)
        else:
            self.post(Input.PLAYBACK_DONE)

    async def _say_transfer(self) -> None:
        target = self._put_through
        if target is None or not target.text:
            self.post(Input.PLAYBACK_DONE)
            return
        await self.speaking.say(target.text, as_reply=False, fixed=False)

    async def _do_transfer(self) -> None:
        target, self._put_through = self._put_through, None
        transfer = self._transfer
        if target is None or transfer is None:
            self._log.warning("a flow asked for a transfer, but nothing can put calls through")
            self._inbox.put_nowait(Transferred(False))
            return
        language = self.language or "en"

        async def run() -> None:
            ok = False
            try:
                briefing = b""
                if target.briefing:
                    briefing = await self.voice.tts.synthesize(
                        target.briefing, BRIEFING_RATE, language
                    )
                ok = await transfer.put_through(self.call_id, target.to, briefing, BRIEFING_RATE)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the caller stays with the bot
                self._log.exception("the transfer failed", to=target.to)
            self._inbox.put_nowait(Transferred(ok))

        self._log.info("putting the caller through", to=target.to, warm=bool(target.briefing))
        await self._record("bot", f"(transfer to {target.to})")
        self._spawn(run(), "transfer")

    async def _on_transferred(self, ok: bool) -> None:
        if ok:
            await self._feed(Input.BRIDGED)
            return
        directive = self.policy.transfer_failed()
        if isinstance(directive, Prompt):
            self._prompt_text = directive.text
            await self._feed(Input.TRANSFER_FAILED)
        else:
            self._closing_text = directive.text if isinstance(directive, Close) else None
            await self._feed(Input.GOODBYE)

    # -- small actions ----------------------------------------------------------------
    async def _stop_playback(self) -> None:
        await self.music.stop()
        await self.output.clear()

    async def _stop_music(self) -> None:
        await self.music.stop()

    async def _start_music(self) -> None:
        try:
            self.music.start()
        except Exception as exc:  # noqa: BLE001 - an unreadable file: silence, not a dead call
            self._log.warning("cannot play the hold music", error=str(exc))

    async def _cancel_human(self) -> None:
        if self._human_wait is not None:
            self._human_wait.cancel()
            self._human_wait = None

    async def _do_hangup(self) -> None:
        try:  # awaited here: the session's cleanup would cancel a spawned task
            await self._hangup()
        except Exception as exc:  # noqa: BLE001 - the call may already be gone
            self._log.warning("hangup failed", error=str(exc))

    async def _arm(self, name: str, inp: Input, seconds: float | None = None) -> None:
        """Post ``inp`` in ``seconds`` (default: the silence re-prompt's, or the next
        spoken update's for a caller on hold)."""
        await self._disarm(name)
        if seconds is not None:
            pass
        elif name == "silence":
            seconds = self.settings.silence_reprompt_s
        else:  # the next spoken update of a caller on hold
            started = self._hold_started or self._loop.time()
            seconds = next_update(
                self._loop.time() - started,
                self.settings.hold_updates_s,
                self.console.reassurance_interval_s,
            )
        if seconds is not None:
            self._timers[name] = self._loop.call_later(seconds, self.post, inp)

    async def _disarm(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    # -- speaking ---------------------------------------------------------------------
    async def _answer(self) -> None:
        attempt = self.listener.current
        if attempt is None:
            await self._feed(Input.REPLY_DONE)
            return
        self.speaking.answer(attempt, attempt.passage_dicts(), self._low_confidence)

    def _low_confidence(self, attempt: TurnAttempt) -> None:
        self._hand_over(attempt.transcript.result().text, "low_confidence", attempt)

    async def _cancel_reply(self) -> None:
        await self.listener.drop_current()
        await self.speaking.cancel()

    async def _finish_reply(self, run: Reply) -> None:
        if self.speaking.reply is run:
            self.listener.current = None
        await self.speaking.finish(run)

    async def _greet(self) -> object:
        """The recording notice when the call is recorded and the owner has one, then
        the greeting (queued after it: the greeting state ends when both have played)."""
        if self.call.recording_notice:
            await self.speaking.say(self.call.recording_notice, as_reply=False)
        opening = self.policy.opening()  # a scripted flow's first words
        if opening is not None:
            return await self.speaking.say(opening, as_reply=False, fixed=False)
        return await self.speaking.say_setting("greeting", as_reply=False)

    # -- the human desk ---------------------------------------------------------------
    def _hand_over(self, question: str, reason: str, attempt: TurnAttempt | None) -> None:
        """Remember what to ask a person (the next ASK_HUMAN action sends it)."""
        passages = attempt.passage_dicts() if attempt is not None else []
        self.human.prepare(question, cast(Reason, reason), passages)

    async def _ask_human(self) -> None:
        human = self.human
        recent = self.log.recent(6)

        async def wait() -> None:
            try:
                outcome = await human.ask(recent)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a caller must never be left on hold
                self._log.exception("handing the question to a person failed")
                # Not "nobody at the desk" (the away message says the question is
                # noted): the plain promise, as after a wait nobody answered.
                outcome = HitlOutcome("timeout", request_id="")
            self._inbox.put_nowait(Human(outcome))

        self._human_wait = self._spawn(wait(), "hitl")
        self._hold_started = self._loop.time()
        self._log.info("question handed to a person", reason=human.reason)
        handoff = human.notice()
        self.handoffs.append(handoff)
        if self._notify_client is not None:
            self._spawn(self._notify_client(handoff), "notify-handoff")

    async def _on_human(self, outcome: HitlOutcome) -> None:
        self._human_wait = None
        self.human.request_id = outcome.request_id
        await self._disarm("reassure")
        if outcome.status == "answered" and outcome.answer:
            self.human.answer = outcome.answer
            await self._record("operator", outcome.answer)
            await self._feed(Input.HUMAN_ANSWER)
        elif outcome.status == "unavailable":
            await self._feed(Input.HUMAN_AWAY)
        elif outcome.status != "cancelled":
            await self._feed(Input.HUMAN_UNAVAILABLE)

    async def _say_human_answer(self) -> None:
        """The operator's answer: as they wrote it (cleaned for speech) with extractive
        answers — a small model rephrasing it can drop the very fact ("Tuesday") — or
        rephrased by the LLM with ``answer_style=rephrase``."""
        fixed = None
        if self.settings.answer_style == "extractive":
            fixed = spoken_text(self.human.answer)
        self.speaking.rephrase("human", self.human.rephrase(), fixed=fixed)

    async def _record(self, speaker: Speaker, text: str, **kw: Any) -> None:
        kw["language"] = kw.get("language") or self.language
        await self.log.record(speaker, text, **kw)


async def _nothing() -> None:
    return None
