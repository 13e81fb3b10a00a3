"""The voice bot on the streaming path: the emulator runs jambonz's mod_audio_fork, the
worker is set to ``fork.playback=stream``, and the caller hears the bot as binary frames
played out by the module — no playAudio, no temp file, no uuid_broadcast.

Real models, real speech (espeak-ng clips at 8 kHz μ-law), one service for the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from callcontrol.app import Service
from callcontrol.dialog.machine import State
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import eventually, make_settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
]

AUDIO = Path(__file__).parents[2] / "data" / "audio"
FACT = "The weekly meeting is on Monday at 10 am in room 3."


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def jambonz(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FakeFreeSwitch]:
    async with FakeFreeSwitch(
        temp_dir=tmp_path_factory.mktemp("fs-tmp"), audio_fork="jambonz"
    ) as sw:
        yield sw


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def streaming(
    jambonz: FakeFreeSwitch, tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> AsyncIterator[Service]:
    settings = make_settings(
        tmp_path_factory.mktemp("svc"),
        esl_port=jambonz.esl_port,
        fork={"port": 0, "sample_rate": 8000, "playback": "stream"},
        pipeline={"enabled": True, "cache_dir": model_cache, "silence_reprompt_s": 30},
    )
    async with Service(settings) as service:
        assert service.inbound is not None
        await service.inbound.wait_connected(10)
        await service.bot.wait_loaded(300)
        assert service.kb is not None
        await service.kb.add("acme", "meetings", FACT, source="test")
        yield service


def streamed(sw: FakeFreeSwitch, uuid: str) -> bytes:
    return b"".join(run.pcm for run in sw.captured_audio(uuid).streams)


async def greeted_call(sw: FakeFreeSwitch, service: Service, caller: str) -> tuple[str, Any]:
    uuid = await sw.inbound_call(
        caller=caller,
        destination="5000",
        variables={"callcontrol_action": "bot", "callcontrol_owner": "acme"},
    )
    session = await eventually(lambda: service.bot.session(uuid), timeout=30)
    await eventually(lambda: session.turns and session.machine.state is State.LISTENING, timeout=60)
    return uuid, session


async def test_the_answer_is_streamed_to_the_caller(
    jambonz: FakeFreeSwitch, streaming: Service, transcribe: Any
) -> None:
    # Asked at connection time, before any call: the module can stream.
    await eventually(lambda: streaming.bot._stream_capable is not None, timeout=10)
    assert streaming.bot._stream_capable is True
    uuid, session = await greeted_call(jambonz, streaming, "+15550101")
    # The greeting reached the caller as streamed audio; the channel was told to write
    # frames before it was answered, and nothing went through playAudio/uuid_broadcast.
    assert jambonz.captured_audio(uuid).streams
    assert jambonz.channel(uuid).variables.get("send_silence_when_idle") == "-1"
    assert jambonz.events_for(uuid, "PLAYBACK_START") == []
    heard_before = len(streamed(jambonz, uuid))
    turns = len(session.turns)
    jambonz.caller_says(uuid, AUDIO / "dialog_question.wav")
    await eventually(
        lambda: (
            any(t["speaker"] == "bot" for t in session.turns[turns:])
            and session.machine.state is State.LISTENING
        ),
        timeout=60,
    )
    answer = next(t for t in session.turns[turns:] if t["speaker"] == "bot")
    assert "Monday" in answer["text"] and not answer["interrupted"]
    assert answer["voice_to_voice_ms"] and "playback_started" in answer["timings"]
    heard = transcribe(streamed(jambonz, uuid)[heard_before:], 16000).lower()
    assert "monday" in heard, heard
    assert jambonz.events_for(uuid, "PLAYBACK_START") == []
    await jambonz.far_end_hangup(uuid)
    await streaming.controller.wait_finished(uuid, 10)


async def test_barge_in_stops_the_stream_and_keeps_what_was_heard(
    jambonz: FakeFreeSwitch, streaming: Service
) -> None:
    uuid, session = await greeted_call(jambonz, streaming, "+15550102")
    audio = jambonz.captured_audio(uuid)
    jambonz.caller_says(uuid, AUDIO / "dialog_question.wav")
    await eventually(lambda: session.machine.state is State.SPEAKING, timeout=60)
    await eventually(lambda: session.speaking.reply and session.output.playing, timeout=10)
    jambonz.caller_says(uuid, AUDIO / "dialog_interrupt.wav")
    turn = await eventually(
        lambda: next(
            (t for t in session.turns if t["speaker"] == "bot" and t["interrupted"]), None
        ),
        timeout=30,
    )
    # killAudio went to the module, which cleared its playout buffer.
    assert any(
        e.subclass == "mod_audio_fork::kill_audio" for e in jambonz.events_for(uuid, "CUSTOM")
    )
    # What was kept is what the caller heard: a beginning of the answer, not all of it.
    full = "The weekly meeting is on Monday at 10 am in room 3."
    assert turn["text"] != full and full.startswith(turn["text"].rstrip("."))
    if turn["text"]:
        assert session.history[-1].role == "assistant"
        assert session.history[-1].content == turn["text"]
    assert audio.streams and len(np.frombuffer(streamed(jambonz, uuid), dtype="<i2")) > 0
    await jambonz.far_end_hangup(uuid)
    await streaming.controller.wait_finished(uuid, 10)
