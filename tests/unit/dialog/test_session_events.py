"""DialogSession driven by endpoint events directly (no clip, no VAD timing): barge-in,
a reply cancelled before it was heard, hand-over and the answer a person gives.

The output here plays nothing by itself: a test says when an item finishes, so each
step is an event the test waits for, never a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from callcontrol.config import Settings
from callcontrol.dialog.attempt import TurnAttempt
from callcontrol.dialog.base import CallInfo, TurnRecord
from callcontrol.dialog.machine import Input, State
from callcontrol.dialog.policy import DialogPolicy, Directive, TurnContext
from callcontrol.dialog.session import DialogSession
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.hitl.base import HitlOutcome, HitlQuestion, PhoneHandoff
from callcontrol.media.base import PlaybackHandle, PlaybackListener, PlaybackListeners
from callcontrol.media.codecs import Int16Array
from callcontrol.media.endpoint import BargeIn, SpeechEnded
from callcontrol.media.vad import VadWorker
from callcontrol.pipeline.base import Transcript
from callcontrol.pipeline.reply import FixedText, speak
from tests.fakes.pipeline import FakeKnowledgeBase, FakeLLM, FakeSTT, FakeTTS

FACT = "The weekly meeting is on Monday."


class ManualOutput:
    """Queued items start in order; each finishes when the test says so, or on clear()
    (then the current one was heard half way)."""

    def __init__(self) -> None:
        self.items: list[PlaybackHandle] = []
        self.cleared = 0
        self._listeners = PlaybackListeners()

    def subscribe(self, listener: PlaybackListener) -> None:
        self._listeners.add(listener)

    def _pending(self) -> list[PlaybackHandle]:
        return [h for h in self.items if not h.done()]

    @property
    def playing(self) -> bool:
        return bool(self._pending())

    @property
    def texts(self) -> list[str]:
        return [h.text for h in self.items]

    async def play(self, pcm: Any, sample_rate: int, text: str = "") -> PlaybackHandle:
        handle = PlaybackHandle(text, len(pcm) * 1000 / sample_rate)
        self.items.append(handle)
        if self._pending() == [handle]:
            self._listeners.emit(handle.started())
        return handle

    def finish_current(self) -> None:
        pending = self._pending()
        assert pending, "nothing is playing"
        current = pending[0]
        self._listeners.emit(current.finish(current.duration_ms, interrupted=False))
        if len(pending) > 1:
            self._listeners.emit(pending[1].started())

    async def clear(self) -> int:
        self.cleared += 1
        pending = self._pending()
        heard = 0.0
        for n, handle in enumerate(pending):
            heard = handle.duration_ms / 2 if n == 0 else 0.0
            self._listeners.emit(handle.finish(heard, interrupted=True))
        return round(pending[0].duration_ms / 2) if pending else 0

    async def aclose(self) -> None:
        await self.clear()


class Desk:
    """Answers every question with ``answer`` once ``release`` is set."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.asked: list[HitlQuestion] = []
        self.release = asyncio.Event()
        self.voicemails: list[tuple[str, Int16Array, int, str]] = []

    async def ask(self, question: HitlQuestion) -> HitlOutcome:
        self.asked.append(question)
        await self.release.wait()
        if self.answer is None:  # nobody answered in time
            return HitlOutcome("timeout", request_id="r1")
        return HitlOutcome("answered", request_id="r1", answer=self.answer, operator="ann")

    async def attach_voicemail(
        self,
        request_id: str,
        audio: Int16Array,
        sample_rate: int,
        transcribe: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        text = await transcribe() if transcribe is not None else ""
        self.voicemails.append((request_id, audio, sample_rate, text))


class Turns:
    """A TurnSink that keeps the records."""

    def __init__(self) -> None:
        self.records: list[TurnRecord] = []

    async def turn(self, record: TurnRecord) -> None:
        self.records.append(record)


class GatedTTS(FakeTTS):
    """Synthesis waits for ``gate`` (so a reply can be cancelled before any audio)."""

    def __init__(self) -> None:
        super().__init__(ms_per_char=20)
        self.gate = asyncio.Event()

    async def synthesize(self, text: str, sample_rate: int, language: str = "en") -> bytes:
        await self.gate.wait()
        return await super().synthesize(text, sample_rate, language)


async def until(predicate: Callable[[], object], what: str) -> None:
    """Yield to the loop until ``predicate`` holds; fail after many loop turns."""
    for _ in range(5000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def session_with(
    vad: VadWorker,
    questions: list[str],
    *,
    tts: FakeTTS | None = None,
    desk: Desk | None = None,
    llm: FakeLLM | None = None,
    phone: PhoneHandoff | None = None,
    **pipeline: object,
) -> tuple[DialogSession, ManualOutput, Turns]:
    settings = Settings(
        _env_file=None,
        pipeline={
            "language": "en",
            "min_confidence": 0.2,
            "answer_style": "extractive",
            **pipeline,
        },
    )
    kb = FakeKnowledgeBase()
    await kb.add("acme", "meetings", FACT)
    voice = VoicePipeline(
        settings, FakeSTT(questions), kb, llm or FakeLLM(), tts or FakeTTS(ms_per_char=20), vad
    )
    output = ManualOutput()
    turns = Turns()

    async def hangup() -> None:
        return None

    session = DialogSession(
        call=CallInfo("c1", "acme", "100"),
        voice=voice,
        output=output,
        output_rate=8000,
        hangup=hangup,
        sinks=[turns],
        desk=desk,
        phone=phone,
    )
    session.start()
    await until(lambda: output.items, "the greeting is queued")
    output.finish_current()
    await until(lambda: session.machine.state is State.LISTENING, "listening after the greeting")
    return session, output, turns


def played_out(session: DialogSession, output: ManualOutput) -> Callable[[], bool]:
    """A predicate: finish whatever plays, until the session listens again."""

    def check() -> bool:
        if output.playing:
            output.finish_current()
        return session.machine.state is State.LISTENING

    return check


def ask(session: DialogSession, at_ms: float) -> None:
    session.on_endpoint(SpeechEnded(at_ms - 1500, at_ms - 500, at_ms, voiced_ms=1000))


async def test_barge_in_stops_the_answer_and_keeps_only_what_was_heard(vad: VadWorker) -> None:
    session, output, turns = await session_with(vad, ["When is the weekly meeting?"])
    try:
        ask(session, 3000)
        await until(lambda: session.machine.state is State.SPEAKING, "the answer plays")
        answer = output.items[-1].text
        assert answer == FACT
        session.on_endpoint(BargeIn(start_ms=3500, at_ms=3700, voiced_ms=200))
        await until(lambda: turns.records[-1].speaker == "bot", "the answer is recorded")
        assert session.machine.state is State.LISTENING
        assert output.cleared == 1
        bot = turns.records[-1]
        assert bot.interrupted
        # Heard half of the phrase: the record and the history hold that part only.
        assert bot.text and answer.startswith(bot.text) and len(bot.text) < len(answer)
        assert session.history[-1].role == "assistant"
        assert session.history[-1].content == bot.text
        assert len(session.barge_ins) == 2  # seen, then the output cleared
    finally:
        await session.stop()


async def test_a_reply_cancelled_before_any_audio_records_nothing_and_the_call_goes_on(
    vad: VadWorker,
) -> None:
    tts = GatedTTS()
    session, output, turns = await session_with(
        vad, ["When is the weekly meeting?", "When is the weekly meeting?"], tts=tts
    )
    try:
        ask(session, 3000)
        await until(lambda: session.machine.state is State.THINKING, "thinking")
        session.on_endpoint(BargeIn(start_ms=3200, at_ms=3400, voiced_ms=200))
        # The machine moves first, then its actions run: wait for the cancel to be done.
        await until(
            lambda: (
                session.machine.state is State.LISTENING
                and session.speaking.reply is None
                and session.listener.current is None
            ),
            "back to listening, the reply and its attempt cancelled",
        )
        assert [r.speaker for r in turns.records] == ["bot", "caller"]  # no bot answer
        tts.gate.set()
        ask(session, 8000)  # the next question is answered normally
        await until(lambda: session.machine.state is State.SPEAKING, "the second answer plays")
        await until(played_out(session, output), "done speaking")
        assert [r.speaker for r in turns.records] == ["bot", "caller", "caller", "bot"]
        assert not turns.records[-1].interrupted and "Monday" in turns.records[-1].text
    finally:
        await session.stop()


@pytest.mark.parametrize("style", ["extractive", "rephrase"])
async def test_a_request_for_a_person_holds_then_says_the_persons_answer(
    vad: VadWorker, style: str
) -> None:
    desk = Desk("We are open until **nine** tonight.")
    llm = FakeLLM(replies=[["Our colleague says we are open until nine tonight."]])
    session, output, turns = await session_with(
        vad, ["Can I talk to a person please?"], desk=desk, llm=llm, answer_style=style
    )
    settings = session.settings
    try:
        ask(session, 3000)
        await until(lambda: session.machine.state is State.HOLD, "on hold")
        await until(lambda: desk.asked, "the desk was asked")
        question = desk.asked[0]
        assert question.reason == "caller_request" and question.owner == "acme"
        assert question.question == "Can I talk to a person please?"
        assert question.recent_turns[-1] == {
            "speaker": "caller",
            "text": "Can I talk to a person please?",
        }
        assert session.handoffs == [
            {"type": "handoff", "reason": "caller_request", "question": question.question}
        ]
        await until(lambda: output.texts[-1:] == [settings.hold_phrase], "the hold phrase")
        output.finish_current()
        await until(lambda: turns.records[-1].text == settings.hold_phrase, "hold recorded")
        desk.release.set()
        await until(lambda: session.machine.state is State.SPEAKING, "the answer plays")
        if style == "rephrase":  # rephrased with the colleague prompt, then spoken
            assert llm.calls[0][0].content == session.voice.language.rephrase_prompt
            assert "Colleague's answer: We are open until **nine** tonight." in (
                llm.calls[0][-1].content
            )
        else:  # said as the operator wrote it, cleaned for speech: no model can drop a fact
            assert llm.calls == []
        await until(played_out(session, output), "listening again")
        speakers = [r.speaker for r in turns.records]
        assert speakers[-2:] == ["operator", "bot"]
        assert turns.records[-2].text == "We are open until **nine** tonight."
        said = turns.records[-1].text
        assert "nine tonight" in said
        if style == "extractive":
            assert said == "We are open until nine tonight."
    finally:
        await session.stop()


async def test_a_wait_that_times_out_gives_the_follow_up_promise(vad: VadWorker) -> None:
    desk = Desk(None)
    session, output, turns = await session_with(vad, ["I want a refund"], desk=desk)
    session.settings.sensitive_topics = ["refund"]
    settings = session.settings
    try:
        ask(session, 3000)
        await until(lambda: output.texts[-1:] == [settings.hold_phrase], "the hold phrase")
        desk.release.set()
        await until(lambda: output.texts[-1:] == [settings.follow_up], "the follow-up promise")
        assert desk.asked[0].reason == "sensitive"
        await until(played_out(session, output), "the hold phrase, then the promise")
        assert turns.records[-1].text == settings.follow_up
    finally:
        await session.stop()


async def test_on_hold_music_plays_between_updates_and_stops_for_what_is_said(
    vad: VadWorker,
) -> None:
    desk = Desk(None)
    session, output, turns = await session_with(vad, ["I want a refund"], desk=desk)
    settings = session.settings
    settings.sensitive_topics = ["refund"]
    settings.hold_updates_s = [1000.0]  # updates are posted by the test, not the clock
    try:
        ask(session, 3000)
        await until(lambda: output.texts[-1:] == [settings.hold_phrase], "the hold phrase")
        assert not session.music.playing  # not over the hold phrase
        output.finish_current()
        await until(lambda: output.texts[-1:] == [""], "music after the hold phrase")
        output.finish_current()  # the loop ends: it starts again
        await until(lambda: session.music.loops == 2, "the music loops")
        cleared = output.cleared
        session.post(Input.REASSURE)
        await until(lambda: output.texts[-1:] == [settings.reassurance], "the update")
        assert output.cleared == cleared + 1 and not session.music.playing  # music stopped
        output.finish_current()
        await until(lambda: session.music.loops == 3, "music again after the update")
        desk.release.set()  # nobody after all: the promise, without music under it
        await until(lambda: output.texts[-1:] == [settings.follow_up], "the follow-up")
        assert not session.music.playing
        await until(played_out(session, output), "the promise played")
        said = [r.text for r in turns.records if r.speaker == "bot"]
        assert "" not in said and settings.reassurance in said  # music is never a turn
    finally:
        await session.stop()


async def test_music_off_is_silence_between_updates(vad: VadWorker) -> None:
    desk = Desk(None)
    session, output, _turns = await session_with(vad, ["I want a refund"], desk=desk)
    settings = session.settings
    settings.sensitive_topics = ["refund"]
    settings.hold_music = "off"
    try:
        ask(session, 3000)
        await until(lambda: output.texts[-1:] == [settings.hold_phrase], "the hold phrase")
        output.finish_current()
        await until(lambda: not output.playing, "the hold phrase played")
        session.post(Input.REASSURE)
        await until(lambda: output.texts[-1:] == [settings.reassurance], "the update")
        assert "" not in output.texts and session.music.loops == 0
    finally:
        desk.release.set()
        await session.stop()


async def test_the_same_question_after_its_answer_goes_to_a_person(vad: VadWorker) -> None:
    desk = Desk(None)
    question = "When is the weekly meeting?"
    session, output, _turns = await session_with(vad, [question, question], desk=desk)
    try:
        ask(session, 3000)
        await until(lambda: any(FACT in t for t in output.texts), "the answer")
        await until(played_out(session, output), "the answer played")
        assert desk.asked == []
        ask(session, 9000)  # asked again: the answer did not help
        await until(lambda: desk.asked, "handed to a person")
        assert desk.asked[0].reason == "repeated" and desk.asked[0].question == question
    finally:
        desk.release.set()
        await session.stop()


async def test_an_owners_own_topics_always_go_to_a_person(vad: VadWorker) -> None:
    desk = Desk(None)
    session, output, _turns = await session_with(
        vad, ["Is the weekly meeting recorded?"], desk=desk
    )
    session.settings.owner_topics = {"acme": ["record"], "other": ["meeting"]}
    try:
        ask(session, 3000)
        await until(lambda: desk.asked, "handed to a person")
        assert desk.asked[0].reason == "sensitive"
    finally:
        desk.release.set()
        await session.stop()


async def test_with_voicemail_the_caller_leaves_a_message_that_is_kept(
    vad: VadWorker,
) -> None:
    desk = Desk(None)
    message = "Please call me back about my order"
    session, output, turns = await session_with(vad, ["I want a refund", message], desk=desk)
    settings = session.settings
    settings.sensitive_topics = ["refund"]
    settings.voicemail_silence_s = 0.05
    session.machine.voicemail = True
    try:
        ask(session, 3000)
        await until(lambda: output.texts[-1:] == [settings.hold_phrase], "the hold phrase")
        desk.release.set()  # nobody: take a message
        await until(lambda: output.texts[-1:] == [settings.voicemail_prompt], "the prompt")
        prompt = output.items[-1]
        # The tone follows the words in the same playback (0.75 s of it at 8 kHz).
        assert prompt.duration_ms >= 750
        output.finish_current()  # the hold phrase before it ends: not yet the message
        await until(lambda: turns.records[-1].text == settings.hold_phrase, "hold recorded")
        for _ in range(20):
            await asyncio.sleep(0)
        assert session.machine.state is State.VOICEMAIL and not session.message.active
        while session.machine.state is not State.RECORDING:
            if output.playing:
                output.finish_current()
            await asyncio.sleep(0.001)
        spoken = np.full(8000, 1000, dtype=np.int16)  # one second of the caller
        for start in range(0, len(spoken), 160):
            session.on_audio(spoken[start : start + 160], 8000)
        session.on_endpoint(SpeechEnded(30_000, 31_000, 31_500, voiced_ms=1000))
        await until(lambda: desk.voicemails, "the message is kept")
        [(request_id, audio, rate, transcript)] = desk.voicemails
        assert request_id == "r1" and rate == 8000 and len(audio) == 8000
        assert transcript == message
        await until(lambda: output.texts[-1:] == [settings.voicemail_thanks], "thanks")
        assert session.machine.state is State.CLOSING
        assert any(r.text == "(voicemail, 1.0 s)" for r in turns.records)
    finally:
        await session.stop()


async def test_asking_for_a_person_puts_the_caller_through_by_phone(vad: VadWorker) -> None:
    class Phone:
        def __init__(self) -> None:
            self.briefings: list[bytes] = []

        async def hand_off(
            self, question: HitlQuestion, briefing: bytes, sample_rate: int
        ) -> str | None:
            self.briefings.append(briefing)
            return "alice"

    desk, phone = Desk(None), Phone()
    session, output, _turns = await session_with(
        vad, ["Can I talk to a person?"], desk=desk, phone=phone, handoff_by_phone=True
    )
    try:
        ask(session, 3000)
        await until(lambda: phone.briefings, "the operator's phone rings")
        assert phone.briefings[0]  # a spoken briefing was made for them
        assert output.texts[-1] == session.settings.hold_phrase  # the caller waits on hold
        session.post(Input.BRIDGED)  # what call control reports once they are bridged
        await until(lambda: session.machine.state is State.ENDED, "the dialog ends")
        assert desk.asked == []  # put through: the text desk was never asked
    finally:
        await session.stop()


async def test_a_desk_that_fails_still_gives_the_caller_the_promise(vad: VadWorker) -> None:
    class Broken(Desk):
        async def ask(self, question: HitlQuestion) -> HitlOutcome:
            raise RuntimeError("redis is down")

    desk = Broken(None)
    session, output, _turns = await session_with(vad, ["I want a refund"], desk=desk)
    session.settings.sensitive_topics = ["refund"]
    try:
        ask(session, 3000)
        await until(lambda: output.texts[-1:] == [session.settings.follow_up], "the promise")
    finally:
        await session.stop()


async def test_an_answer_that_did_not_help_hands_over_the_question_it_answered(
    vad: VadWorker,
) -> None:
    desk = Desk(None)
    question = "When is the weekly meeting?"
    session, output, _turns = await session_with(
        vad, [question, "No, that's not what I asked."], desk=desk
    )
    try:
        ask(session, 3000)
        await until(lambda: any(FACT in t for t in output.texts), "the answer")
        await until(played_out(session, output), "the answer played")
        ask(session, 9000)
        await until(lambda: desk.asked, "handed to a person")
        assert desk.asked[0].reason == "not_helpful"
        assert desk.asked[0].question.startswith(question)
        assert "not what I asked" in desk.asked[0].question
    finally:
        desk.release.set()
        await session.stop()


async def test_a_failing_turn_sink_never_reaches_the_caller(vad: VadWorker) -> None:
    class Broken:
        async def turn(self, record: TurnRecord) -> None:
            raise RuntimeError("database on fire")

    settings = Settings(_env_file=None, pipeline={"language": "en"})
    voice = VoicePipeline(
        settings, FakeSTT(), FakeKnowledgeBase(), FakeLLM(), FakeTTS(ms_per_char=20), vad
    )
    output, turns = ManualOutput(), Turns()

    async def hangup() -> None:
        return None

    session = DialogSession(
        call=CallInfo("c2", "acme", None),
        voice=voice,
        output=output,
        output_rate=8000,
        hangup=hangup,
        sinks=[Broken(), turns],
    )
    session.start()
    try:
        await until(lambda: output.items, "the greeting is queued")
        output.finish_current()
        await until(lambda: turns.records, "the greeting is recorded by the next sink")
        assert session.machine.state is State.LISTENING
    finally:
        await session.stop()


class ScriptedPolicy:
    """A toy scripted flow: every utterance is the answer to the current step."""

    def __init__(self, voice: VoicePipeline) -> None:
        self.voice = voice
        self.steps = ["What is your account number?", "Thank you, that is all I need."]
        self.heard: list[str] = []

    async def hearing_prompt(self, owner: str | None) -> str | None:
        return "account number"

    def opening(self) -> str | None:
        return None

    def commit(self, attempt: TurnAttempt) -> Directive | None:
        return None

    def silence(self) -> Directive | None:
        return None

    def dtmf(self, digit: str) -> Directive | None:
        return None

    def transfer_failed(self) -> Directive | None:
        return None

    async def respond(
        self, attempt: TurnAttempt, transcript: Transcript, context: TurnContext
    ) -> None:
        self.heard.append(transcript.text)
        attempt.classify(Input.QUESTION)
        attempt.decide("answer")
        line = self.steps[min(len(self.heard) - 1, len(self.steps) - 1)]
        await attempt.say(
            speak(FixedText(line), self.voice.tts, [], sample_rate=context.sample_rate)
        )


async def test_a_call_can_run_another_policy_without_touching_the_session(
    vad: VadWorker,
) -> None:
    settings = Settings(_env_file=None, pipeline={"language": "en"})
    stt = FakeSTT(["I would like to pay", "It is 12345"])
    voice = VoicePipeline(
        settings, stt, FakeKnowledgeBase(), FakeLLM(), FakeTTS(ms_per_char=20), vad
    )
    policy = ScriptedPolicy(voice)
    checked: DialogPolicy = policy  # the toy satisfies the seam (mypy)
    assert checked is policy
    output, turns = ManualOutput(), Turns()

    async def hangup() -> None:
        return None

    session = DialogSession(
        call=CallInfo("c3", "acme", "100"),
        voice=voice,
        output=output,
        output_rate=8000,
        hangup=hangup,
        sinks=[turns],
        policy=policy,
    )
    session.start()
    try:
        await until(played_out(session, output), "greeted")
        ask(session, 3000)
        await until(lambda: session.machine.state is State.SPEAKING, "the first step plays")
        await until(played_out(session, output), "first step done")
        ask(session, 9000)
        await until(lambda: session.machine.state is State.SPEAKING, "the second step plays")
        await until(played_out(session, output), "second step done")
    finally:
        await session.stop()
    assert policy.heard == ["I would like to pay", "It is 12345"]
    assert stt.prompts == ["account number", "account number"]
    bot = [r.text for r in turns.records if r.speaker == "bot"][1:]
    assert bot == ["What is your account number?", "Thank you, that is all I need."]
