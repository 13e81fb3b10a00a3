"""Recorded calls transcribed per channel with the bundled Whisper (real speech through
the emulator): the caller's words on the caller's side, the other side's on its own,
speaker-labelled and timed, in the database and in transcript.txt beside the audio."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from callcontrol.app import Service
from callcontrol.recording.manager import TRANSCRIBE
from callcontrol.store.models import Recording, TranscriptSegment
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.media import as_audio
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import RecordingHandover, eventually, make_settings

pytestmark = pytest.mark.integration

AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def switch(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FakeFreeSwitch]:
    async with FakeFreeSwitch(temp_dir=tmp_path_factory.mktemp("fs-tmp")) as sw:
        yield sw


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    switch: FakeFreeSwitch, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Service, RecordingHandover]]:
    tmp = tmp_path_factory.mktemp("svc")
    handover = RecordingHandover()
    settings = make_settings(
        tmp,
        esl_port=switch.esl_port,
        calls={"recordings_dir": str(tmp / "recordings")},
        pipeline={"cache_dir": tmp_path_factory.mktemp("model-cache")},
        recording={"transcribe": True},
    )
    async with Service(settings, handover=handover) as svc:
        assert svc.inbound is not None
        await svc.inbound.wait_connected(10)
        yield svc, handover


async def transcript(svc: Service, call_id: str) -> list[TranscriptSegment]:
    assert svc.transcriber is not None
    await eventually(lambda: call_id in svc.transcriber.completed, timeout=180)
    async with svc.sessions() as s:
        rows = await s.execute(
            select(TranscriptSegment)
            .where(TranscriptSegment.call_id == call_id)
            .order_by(TranscriptSegment.start_s)
        )
        return list(rows.scalars())


@pytest.mark.asyncio(loop_scope="module")
async def test_a_bot_call_is_transcribed_per_channel(
    switch: FakeFreeSwitch, service: tuple[Service, RecordingHandover]
) -> None:
    svc, handover = service
    before = len(handover.handles)
    uuid = await switch.inbound_call(
        caller="+15550100",
        destination="5000",
        variables={"callcontrol_action": "bot"},
        audio=AUDIO / "dialog_question.wav",  # "When is the weekly meeting?"
        voice_starts="answer",
    )
    await handover.wait(before + 1)
    media = switch.media_of(switch.channel(uuid))
    await eventually(lambda: media.voice_started_at is not None)
    started = media.voice_started_at or 0.0
    await eventually(lambda: switch.now() - started > 3.6, timeout=10)
    await handover.handles[-1].play(str(AUDIO / "dialog_bye.wav"))  # "Thank you, goodbye."
    await eventually(
        lambda: any(p.status == "done" for p in switch.captured_audio(uuid).playbacks), timeout=10
    )
    await switch.far_end_hangup(uuid)
    await svc.controller.wait_finished(uuid, 5)
    segments = await transcript(svc, uuid)
    said = {(s.channel, s.speaker): s.text.lower() for s in segments}
    assert "meeting" in said[("caller", "caller")], said
    assert "thank you" in said[("other", "bot")], said
    caller = next(s for s in segments if s.channel == "caller")
    bot = next(s for s in segments if s.channel == "other")
    assert caller.start_s < 1.0 < caller.end_s <= bot.start_s  # the caller spoke first
    job = await svc.jobs.get(TRANSCRIBE, uuid)
    assert job is not None and job.status == "done" and job.progress == 1.0
    # transcript.txt beside the audio, private, in time order with the speakers.
    async with svc.sessions() as s:
        rec = await s.get(Recording, uuid)
    assert rec is not None and svc.settings.calls.recordings_dir is not None
    text_file = svc.settings.calls.recordings_dir / rec.directory / "transcript.txt"
    lines = text_file.read_text().splitlines()
    assert lines[0].startswith("[00:0") and "caller:" in lines[0] and "bot:" in lines[-1]
    assert stat.S_IMODE(os.stat(text_file).st_mode) == 0o600


@pytest.mark.asyncio(loop_scope="module")
async def test_a_call_with_a_person_labels_the_person_as_the_agent(
    switch: FakeFreeSwitch, service: tuple[Service, RecordingHandover]
) -> None:
    svc, _handover = service
    switch.extensions["1002"] = Extension.answers(0.2, audio=as_audio(AUDIO / "dialog_bye.wav"))
    uuid = await switch.inbound_call(
        destination="1002",
        context="default",
        variables={"callcontrol_action": "extension", "callcontrol_extension": "1002"},
        voice_starts="answer",
    )
    await eventually(lambda: switch.events_for(uuid, "CHANNEL_BRIDGE"), timeout=5)
    bridged = switch.now()
    await eventually(lambda: switch.now() - bridged > 3.8, timeout=10)
    switch.caller_says(uuid, AUDIO / "dialog_saturday.wav")  # "What time do you open on Saturday?"
    await eventually(lambda: switch.now() - bridged > 7.8, timeout=10)
    await switch.far_end_hangup(uuid)
    await svc.controller.wait_finished(uuid, 5)
    segments = await transcript(svc, uuid)
    by_speaker: dict[str, Any] = {s.speaker: s.text.lower() for s in segments}
    assert set(by_speaker) == {"agent", "caller"}, by_speaker
    assert "thank you" in by_speaker["agent"] and "saturday" in by_speaker["caller"]
