"""DialogSession with fake models and a fake output, fed a real clip through the real VAD."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from callcontrol.config import PipelineSettings, Settings
from callcontrol.dialog.base import CallInfo
from callcontrol.dialog.machine import State
from callcontrol.dialog.session import DialogSession
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.hitl.base import HitlOutcome, HitlQuestion
from callcontrol.media.base import PlaybackHandle, PlaybackListener, PlaybackListeners
from callcontrol.media.codecs import Int16Array, read_wav
from callcontrol.media.silero import SileroModel
from callcontrol.media.vad import VadWorker
from callcontrol.pipeline.base import Passage
from callcontrol.store.turns import TurnWriter
from callcontrol.store.writer import Write
from tests.fakes.pipeline import FakeKnowledgeBase, FakeLLM, FakeSTT, FakeTTS

AUDIO = Path(__file__).parents[2] / "data" / "audio"


class FakeOutput:
    """Plays instantly-scheduled items in order at ``speed`` x real time."""

    def __init__(self, speed: float = 20.0) -> None:
        self.speed = speed
        self.played: list[str] = []
        self._listeners = PlaybackListeners()
        self._tasks: list[asyncio.Task[None]] = []
        self._tail: asyncio.Future[None] | None = None
        self.cleared = 0

    def subscribe(self, listener: PlaybackListener) -> None:
        self._listeners.add(listener)

    @property
    def playing(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def play(self, pcm: Any, sample_rate: int, text: str = "") -> PlaybackHandle:
        handle = PlaybackHandle(text, len(pcm) * 1000 / sample_rate)
        previous = self._tail
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tail = done

        async def run() -> None:
            if previous is not None:
                await previous
            self._listeners.emit(handle.started())
            await asyncio.sleep(handle.duration_ms / 1000 / self.speed)
            self.played.append(text)
            self._listeners.emit(handle.finish(handle.duration_ms, interrupted=False))
            done.set_result(None)

        self._tasks.append(asyncio.create_task(run()))
        return handle

    async def clear(self) -> int:
        self.cleared += 1
        return 0

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class NoDesk:
    def __init__(self) -> None:
        self.asked: list[HitlQuestion] = []

    async def ask(self, question: HitlQuestion) -> HitlOutcome:
        self.asked.append(question)
        return HitlOutcome("unavailable", request_id="r1")

    async def attach_voicemail(
        self,
        request_id: str,
        audio: Int16Array,
        sample_rate: int,
        transcribe: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        raise AssertionError("no voicemail in these tests")


@pytest_asyncio.fixture
async def vad() -> AsyncIterator[VadWorker]:
    async with VadWorker(SileroModel()) as worker:
        yield worker


async def feed(session: DialogSession, clip: Path, speed: float = 4.0) -> None:
    audio = read_wav(clip)
    step = audio.sample_rate // 50
    for i in range(0, len(audio.samples), step):
        session.on_audio(audio.samples[i : i + step], audio.sample_rate)
        await asyncio.sleep(0.02 / speed)
    silence = np.zeros(step, dtype=np.int16)
    for _ in range(40):
        session.on_audio(silence, audio.sample_rate)
        await asyncio.sleep(0.02 / speed)


def make_session(
    vad: VadWorker,
    stt: FakeSTT,
    llm: FakeLLM,
    kb: FakeKnowledgeBase,
    writes: list[Write],
    answer_style: str = "rephrase",
    tts: FakeTTS | None = None,
    call_language: str | None = None,
    **pipeline: object,
) -> tuple[DialogSession, FakeOutput, NoDesk, FakeTTS]:
    settings = Settings(
        _env_file=None,
        pipeline={
            "language": "auto",
            "min_confidence": 0.2,
            "silence_reprompt_s": 30,
            "answer_style": answer_style,
            **pipeline,
        },
    )
    tts = tts or FakeTTS(ms_per_char=20)
    voice = VoicePipeline(settings, stt, kb, llm, tts, vad)
    output = FakeOutput()
    desk = NoDesk()

    async def hangup() -> None:
        return None

    session = DialogSession(
        call=CallInfo("c1", "acme", "100", call_language),
        voice=voice,
        output=output,
        output_rate=16000,
        desk=desk,
        sinks=[TurnWriter(writes.append)],
        hangup=hangup,
    )
    return session, output, desk, tts


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_language_detected_on_the_first_turn_and_kept(vad: VadWorker) -> None:
    kb = FakeKnowledgeBase()
    await kb.add("acme", "reunion", "La reunión semanal es el lunes a las 10.")
    stt = FakeSTT(["¿Cuándo es la reunión semanal?", "¿Y dónde es la reunión?"], language="es")
    llm = FakeLLM(replies=[["La reunión es el lunes a las 10."], ["Es el lunes a las 10."]])
    writes: list[Write] = []
    session, output, _desk, tts = make_session(vad, stt, llm, kb, writes)
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        assert output.played == [session.settings.greeting]
        await feed(session, AUDIO / "dialog_question.wav")
        await wait_for(lambda: len(output.played) >= 2)
        await wait_for(lambda: session.machine.state is State.LISTENING)
        assert session.language == "es"
        await feed(session, AUDIO / "dialog_question.wav")
        await wait_for(lambda: len(output.played) >= 3)
        # The first turn was transcribed with detection, the next in the detected language.
        asked = [lang for _, lang in stt.calls]
        assert asked[0] == "auto" and asked[-1] == "es"
        assert ("La reunión es el lunes a las 10.", 16000) in tts.spoken
        # The LLM saw the retrieved fact, and the second prompt carried the first exchange.
        assert "lunes" in llm.calls[0][-1].content
        assert any("La reunión es el lunes" in m.content for m in llm.calls[1])
    finally:
        await session.stop()
        await output.aclose()
    turns = [w.row for w in writes if w.table == "turns"]
    speakers = [t["speaker"] for t in turns]
    assert speakers[:3] == ["bot", "caller", "bot"]
    answer = turns[2]
    assert answer["voice_to_voice_ms"] is not None and answer["voice_to_voice_ms"] > 0
    assert {"stt_done", "retrieval_done", "llm_first_token", "first_audio_sent"} <= set(
        answer["timings"]
    )
    assert answer["retrieval"] and answer["retrieval"][0]["title"] == "reunion"


async def test_the_extractive_answer_is_the_fact_itself_without_the_llm(vad: VadWorker) -> None:
    kb = FakeKnowledgeBase()
    await kb.add("acme", "meetings", "# Meetings\n\nThe weekly meeting is on **Monday** at 10 am.")
    stt = FakeSTT(["Is the weekly meeting on Monday?"], language="en")
    llm = FakeLLM(replies=[["You are a friendly phone assistant."]])
    writes: list[Write] = []
    session, output, _desk, tts = make_session(vad, stt, llm, kb, writes, "extractive")
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        await feed(session, AUDIO / "dialog_question.wav")
        await wait_for(lambda: len(output.played) >= 2)
        await wait_for(lambda: session.machine.state is State.LISTENING)
    finally:
        await session.stop()
        await output.aclose()
    spoken = " ".join(text for text, _rate in tts.spoken)
    assert "Yes. The weekly meeting is on Monday at 10 am." in spoken
    assert "#" not in spoken and "**" not in spoken and "Meetings" not in spoken
    assert llm.calls == []  # nothing generated, nothing to invent
    assert stt.prompts and stt.prompts[0] is not None and "weekly" not in stt.prompts[0]
    answer = [w.row for w in writes if w.table == "turns"][2]
    assert answer["text"].startswith("Yes. The weekly meeting is on Monday")
    assert "llm_first_token" not in answer["timings"] and answer["voice_to_voice_ms"] > 0


async def test_the_dialplans_language_is_the_calls_from_the_first_turn(
    vad: VadWorker,
) -> None:
    kb = FakeKnowledgeBase()
    await kb.add("acme", "reunion", "La reunión semanal es el lunes a las 10.")
    stt = FakeSTT(["¿Cuándo es la reunión semanal?"], language="es")
    writes: list[Write] = []
    session, output, _desk, _tts = make_session(
        vad, stt, FakeLLM(), kb, writes, "extractive", call_language="es"
    )
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        assert session.language == "es"  # not detected: given by the dialplan
        await feed(session, AUDIO / "dialog_question.wav")
        await wait_for(lambda: len(output.played) >= 2)
    finally:
        await session.stop()
        await output.aclose()
    assert {lang for _, lang in stt.calls} == {"es"}  # never "auto"
    caller = [w.row for w in writes if w.table == "turns" and w.row["speaker"] == "caller"]
    assert caller and caller[0]["language"] == "es"


class ScoredKnowledge(FakeKnowledgeBase):
    """Knowledge whose search returns fixed passages with fixed confidences."""

    def __init__(self, passages: list[Passage]) -> None:
        super().__init__()
        self.passages = passages

    async def search(self, owner: str, query: str, k: int = 3) -> list[Passage]:
        return self.passages[:k]


@pytest.mark.parametrize("pairs", [True, False])
async def test_two_close_facts_neither_sure_alone_are_both_said(
    vad: VadWorker, pairs: bool
) -> None:
    phone = "Our phone line is open every day from 7 am to 11 pm."
    chat = "Live chat in the app is open 24 hours a day."
    kb = ScoredKnowledge([Passage(phone, 0.46, "d", "support"), Passage(chat, 0.44, "d", "s")])
    stt = FakeSTT(["What hours can I reach your support?"], language="en")
    llm = FakeLLM()
    writes: list[Write] = []
    session, output, desk, tts = make_session(
        vad,
        stt,
        llm,
        kb,
        writes,
        "extractive",
        min_confidence=0.5,
        pair_confidence=0.35 if pairs else 1.0,
    )
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        await feed(session, AUDIO / "dialog_question.wav")
        if pairs:
            await wait_for(lambda: len(output.played) >= 2)
            await wait_for(lambda: session.machine.state is State.LISTENING)
        else:
            await wait_for(lambda: session.settings.away_message in output.played)
    finally:
        await session.stop()
        await output.aclose()
    spoken = " ".join(text for text, _rate in tts.spoken)
    if pairs:
        assert phone in spoken and chat in spoken
        assert desk.asked == [] and llm.calls == []
    else:  # without pairs, below min_confidence: a person's question
        assert phone not in spoken
        assert desk.asked and desk.asked[0].reason == "low_confidence"


async def test_unknown_question_goes_to_the_desk_and_promises_a_call_back(
    vad: VadWorker,
) -> None:
    kb = FakeKnowledgeBase()
    stt = FakeSTT(["How do I rewire my flux capacitor?"], language="en")
    writes: list[Write] = []
    session, output, desk, _tts = make_session(vad, stt, FakeLLM(), kb, writes)
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        await feed(session, AUDIO / "dialog_question.wav")
        settings = session.settings
        await wait_for(lambda: settings.away_message in output.played)
        assert desk.asked and desk.asked[0].reason == "low_confidence"
        assert desk.asked[0].question == "How do I rewire my flux capacitor?"
        # The hold phrase was not cut: it played, then the follow-up promise.
        # Nobody at the desk: the away message, not the promise after a wait.
        assert output.played[-2:] == [settings.hold_phrase, settings.away_message]
        assert settings.away_message != settings.follow_up
        # Canned phrases never enter the LLM history.
        assert all(m.content != settings.away_message for m in session.history)
    finally:
        await session.stop()
        await output.aclose()


@pytest.mark.parametrize("clip", ["silence.wav", "noise.wav"])
async def test_silence_and_noise_never_reach_stt(vad: VadWorker, clip: str) -> None:
    stt = FakeSTT(["should never be asked"])
    writes: list[Write] = []
    session, _output, _desk, _tts = make_session(vad, stt, FakeLLM(), FakeKnowledgeBase(), writes)
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        await feed(session, AUDIO / clip)
        await asyncio.sleep(0.3)
        assert stt.calls == []
    finally:
        await session.stop()


async def test_a_greeting_that_cannot_be_said_falls_back_to_the_built_in_one(
    vad: VadWorker,
) -> None:
    """An admin's greeting the voice cannot say used to end every call at once
    (turns=0, the error logged only at shutdown)."""
    stt = FakeSTT(["Is the weekly meeting on Monday?"], language="en")
    writes: list[Write] = []
    session, output, _desk, tts = make_session(
        vad,
        stt,
        FakeLLM(),
        FakeKnowledgeBase(),
        writes,
        tts=FakeTTS(ms_per_char=20, fail_on="Ahoy"),
    )
    session.settings.greeting = "Ahoy, this cannot be synthesized"
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        builtin = PipelineSettings.model_fields["greeting"].default
        assert output.played[:1] == [builtin]
        await feed(session, AUDIO / "dialog_question.wav")
        await wait_for(lambda: len(output.played) >= 2)  # the call goes on
    finally:
        await session.stop()
        await output.aclose()


async def test_a_session_listens_even_when_no_greeting_can_be_said(vad: VadWorker) -> None:
    stt = FakeSTT(["Is the weekly meeting on Monday?"], language="en")
    writes: list[Write] = []
    session, output, _desk, _tts = make_session(
        vad, stt, FakeLLM(), FakeKnowledgeBase(), writes, tts=FakeTTS(ms_per_char=20, fail_on="")
    )
    session.start()
    try:
        await wait_for(lambda: session.machine.state is State.LISTENING)
        assert not session.ended.is_set() and output.played == []
    finally:
        await session.stop()
        await output.aclose()
