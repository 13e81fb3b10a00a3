"""Every answered call recorded, through the FreeSWITCH emulator: stereo (caller left, the
other side right), a mixed copy, metadata.json, private files, linked to the CDR."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from callcontrol.prompts import PromptFiles
from callcontrol.recording import crypto
from callcontrol.recording.files import read_pcm
from callcontrol.store.models import Call as CallRow
from callcontrol.store.models import CallEvent, Cdr, Recording
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.media import as_audio
from tests.fakes.freeswitch.scenarios import Extension
from tests.fakes.pipeline import FakeTTS
from tests.harness import RecordingHandover, eventually, make_settings, running_service

pytestmark = pytest.mark.integration

AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio"
QUESTION = AUDIO / "dialog_question.wav"  # 3.4 s
BYE = AUDIO / "dialog_bye.wav"  # 3.4 s


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def window(samples: np.ndarray, rate: int, start: float, end: float) -> np.ndarray:
    return samples[int(start * rate) : int(end * rate)]


async def finished(service: Any, call_id: str) -> Recording:
    assert service.recordings is not None
    await eventually(lambda: call_id in service.recordings.finished, timeout=20)
    await service.flush()
    async with service.sessions() as s:
        rec = await s.get(Recording, call_id)
    assert rec is not None
    return rec


async def timeline(service: Any, call_id: str) -> list[str]:
    await service.flush()
    async with service.sessions() as s:
        rows = await s.execute(
            select(CallEvent.name).where(CallEvent.call_id == call_id).order_by(CallEvent.at)
        )
    return list(rows.scalars())


async def test_a_bot_call_leaves_a_stereo_and_a_mixed_recording_linked_to_its_cdr(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    shared = tmp_path / "recordings"
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path, esl_port=fake_switch.esl_port, calls={"recordings_dir": str(shared)}
    )
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(
            caller="+15550100",
            destination="5000",
            variables={"callcontrol_action": "bot", "callcontrol_owner": "acme"},
            audio=QUESTION,
            voice_starts="answer",
        )
        await handover.wait()
        handle = handover.handles[0]
        # The caller talks first (0–3.4 s), then the "bot" answers (from ~4 s).
        heard_at = fake_switch.media_of(fake_switch.channel(uuid)).voice_started_at
        assert heard_at is not None
        await eventually(lambda: fake_switch.now() - heard_at > 3.8, timeout=10)
        await handle.play(str(BYE))
        await eventually(
            lambda: any(p.status == "done" for p in fake_switch.captured_audio(uuid).playbacks),
            timeout=10,
        )
        await fake_switch.far_end_hangup(uuid)
        record = await service.controller.wait_finished(uuid, 5)
        rec = await finished(service, uuid)

        assert rec.status == "ready", rec.error
        assert rec.owner == "acme" and not rec.encrypted
        folder = shared / rec.directory
        assert rec.directory.endswith(f"/{uuid}") and rec.directory.count("/") == 3
        stereo, rate = read_pcm(folder / rec.stereo_file)
        mixed, mixed_rate = read_pcm(folder / (rec.mixed_file or ""))
        assert stereo.shape[1] == 2 and mixed.shape[1] == 1 and rate == mixed_rate == 8000
        assert abs(rec.duration_s - len(stereo) / rate) < 0.01 and rec.duration_s > 6
        # FreeSWITCH starts recording at the answer; the caller's voice starts with it.
        left, right = stereo[:, 0], stereo[:, 1]
        caller_part, bot_part = (0.2, 3.0), (4.5, 7.0)
        assert rms(window(left, rate, *caller_part)) > 300
        assert rms(window(right, rate, *caller_part)) < 30  # the bot was silent then
        assert rms(window(right, rate, *bot_part)) > 300
        assert rms(window(left, rate, *bot_part)) < 30  # the caller was silent then
        both = mixed[:, 0]
        assert rms(window(both, rate, *caller_part)) > 300
        assert rms(window(both, rate, *bot_part)) > 300
        assert rec.sha256 == hashlib.sha256((folder / rec.stereo_file).read_bytes()).hexdigest()

        # metadata.json: the call, its parties, the layout and the checksum.
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["call"]["call_id"] == uuid and meta["call"]["caller"] == "+15550100"
        assert meta["call"]["owner"] == "acme" and meta["call"]["handled_by"] == "bot"
        assert meta["call"]["hangup_cause"] == "NORMAL_CLEARING"
        assert [p["role"] for p in meta["call"]["parties"]] == ["caller"]
        assert meta["audio"]["layout"]["left"] == "caller"
        assert meta["files"]["sha256_stereo_wav"] == rec.sha256
        # Private to the service user: files 0600, the call's folders 0700.
        for name in ("call.wav", "mixed.wav", "metadata.json"):
            assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name
        for level in (folder, folder.parent, folder.parent.parent, folder.parent.parent.parent):
            assert stat.S_IMODE(os.stat(level).st_mode) == 0o700, level

        # The CDR and the call row carry it.
        assert record.recording_path == f"{rec.directory}/call.wav"
        async with service.sessions() as s:
            cdr = (await s.execute(select(Cdr).where(Cdr.call_id == uuid))).scalar_one()
            row = await s.get(CallRow, uuid)
        assert cdr.recording_path == record.recording_path
        assert row is not None and row.recording_path == record.recording_path
        # FreeSWITCH was asked for stereo before the recording started.
        assert fake_switch.channel(uuid).variables.get("RECORD_STEREO") == "true"


async def test_a_call_with_a_person_is_recorded_with_the_person_on_the_right(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    shared = tmp_path / "recordings"
    fake_switch.extensions["1002"] = Extension.answers(0.2, audio=as_audio(BYE))
    settings = make_settings(
        tmp_path, esl_port=fake_switch.esl_port, calls={"recordings_dir": str(shared)}
    )
    async with running_service(settings, handover=RecordingHandover()) as service:
        uuid = await fake_switch.inbound_call(
            destination="1002",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "1002"},
            voice_starts="answer",
        )
        await eventually(lambda: fake_switch.events_for(uuid, "CHANNEL_BRIDGE"), timeout=5)
        bridged_at = fake_switch.now()
        await eventually(lambda: fake_switch.now() - bridged_at > 4.0, timeout=10)
        fake_switch.caller_says(uuid, QUESTION)  # then the caller answers the person
        await eventually(lambda: fake_switch.now() - bridged_at > 8.0, timeout=10)
        await fake_switch.far_end_hangup(uuid)
        record = await service.controller.wait_finished(uuid, 5)
        assert record.handled_by == "human"
        rec = await finished(service, uuid)
        assert rec.status == "ready", rec.error
        stereo, rate = read_pcm(shared / rec.directory / rec.stereo_file)
        left, right = stereo[:, 0], stereo[:, 1]
        # The person spoke first (right), the caller after them (left).
        assert rms(window(right, rate, 0.3, 3.0)) > 300
        assert rms(window(left, rate, 0.3, 3.0)) < 30
        assert rms(window(left, rate, 4.6, 7.0)) > 300
        meta = json.loads((shared / rec.directory / "metadata.json").read_text())
        assert sorted(p["role"] for p in meta["call"]["parties"]) == ["caller", "extension"]


async def test_recordings_are_encrypted_at_rest_with_the_configured_key(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    shared = tmp_path / "recordings"
    key = os.urandom(32)
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        calls={"recordings_dir": str(shared)},
        recording={"encryption_key": base64.b64encode(key).decode()},
    )
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(
            destination="5000",
            variables={"callcontrol_action": "bot"},
            audio=QUESTION,
            voice_starts="answer",
        )
        await handover.wait()
        media = fake_switch.media_of(fake_switch.channel(uuid))
        await eventually(lambda: media.voice_started_at is not None, timeout=5)
        started = media.voice_started_at or 0.0
        await eventually(lambda: fake_switch.now() - started > 2, timeout=10)
        await fake_switch.far_end_hangup(uuid)
        rec = await finished(service, uuid)
        assert rec.status == "ready" and rec.encrypted
        folder = shared / rec.directory
        assert sorted(p.name for p in folder.iterdir()) == [
            "call.wav.enc",
            "metadata.json",
            "mixed.wav.enc",
        ]
        sealed = (folder / "call.wav.enc").read_bytes()
        assert b"RIFF" not in sealed[:64]
        plain = crypto.decrypt_file(folder / "call.wav.enc", key)
        assert hashlib.sha256(plain).hexdigest() == rec.sha256
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt_file(folder / "call.wav.enc", os.urandom(32))
        # A file moved onto another name does not decrypt (the name is authenticated).
        moved = folder / "mixed.wav.enc"
        (folder / "copy.wav.enc").write_bytes(moved.read_bytes())
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt_file(folder / "copy.wav.enc", key)


async def test_an_owner_who_records_nothing_is_not_recorded(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    shared = tmp_path / "recordings"
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path, esl_port=fake_switch.esl_port, calls={"recordings_dir": str(shared)}
    )
    async with running_service(settings, handover=handover) as service:
        assert service.overrides is not None
        service.overrides.apply("recording.enabled", False, owner="private")
        quiet = await fake_switch.inbound_call(
            destination="5000",
            variables={"callcontrol_action": "bot", "callcontrol_owner": "private"},
        )
        loud = await fake_switch.inbound_call(
            destination="5000",
            variables={"callcontrol_action": "bot", "callcontrol_owner": "acme"},
        )
        await handover.wait(2)
        await fake_switch.far_end_hangup(quiet)
        await fake_switch.far_end_hangup(loud)
        await service.controller.wait_finished(quiet, 5)
        await service.controller.wait_finished(loud, 5)
        await finished(service, loud)
        assert not fake_switch.events_for(quiet, "RECORD_START")
        assert fake_switch.events_for(loud, "RECORD_START")
        async with service.sessions() as s:
            assert await s.get(Recording, quiet) is None


async def test_without_a_recordings_directory_calls_go_on_unrecorded(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(
            destination="5000", variables={"callcontrol_action": "bot"}
        )
        await handover.wait()
        await fake_switch.far_end_hangup(uuid)
        record = await service.controller.wait_finished(uuid, 5)
        assert record.recording_path is None
        assert not fake_switch.events_for(uuid, "RECORD_START")


NOTICE = "This call is recorded for training and quality."


async def test_a_caller_put_through_to_a_person_hears_the_recording_notice_first(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    shared = tmp_path / "recordings"
    fake_switch.extensions["1002"] = Extension.answers(0.2)
    tts = FakeTTS()
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        calls={"recordings_dir": str(shared)},
        recording={"notice": NOTICE},
    )
    async with running_service(settings, handover=RecordingHandover()) as service:
        service.controller.prompts = PromptFiles(lambda: shared, lambda: tts)
        uuid = await fake_switch.inbound_call(
            destination="1002",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "1002"},
        )
        await eventually(lambda: fake_switch.events_for(uuid, "CHANNEL_BRIDGE"), timeout=10)
        # The notice, in the bot's voice at 8 kHz, played to the caller and finished
        # before the person was put through.
        assert tts.phrases == [(NOTICE, 8000)]
        names = [e.name for e in fake_switch.events_for(uuid)]
        assert names.index("PLAYBACK_STOP") < names.index("CHANNEL_BRIDGE")
        stop = fake_switch.events_for(uuid, "PLAYBACK_STOP")[0]
        notice_file = Path(stop.get("Playback-File-Path") or "")
        assert notice_file.parent == shared / "prompts"
        assert stat.S_IMODE(os.stat(notice_file).st_mode) == 0o644  # FreeSWITCH reads it
        fake_switch.caller_says(uuid, QUESTION)
        bridged_at = fake_switch.now()
        await eventually(lambda: fake_switch.now() - bridged_at > 1.0, timeout=10)
        await fake_switch.far_end_hangup(uuid)
        record = await service.controller.wait_finished(uuid, 5)
        assert record.handled_by == "human"
        rec = await finished(service, uuid)
        stereo, rate = read_pcm(shared / rec.directory / rec.stereo_file)
        # What the caller heard first, on the right: the notice (60 ms a character).
        said = len(NOTICE) * 0.06
        assert rms(window(stereo[:, 1], rate, 0.2, said - 0.2)) > 1000
        names = await timeline(service, uuid)
        assert names.index("extension_answered") < names.index("recording_notice")


async def test_the_person_is_put_through_even_when_the_notice_cannot_be_said(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    shared = tmp_path / "recordings"
    fake_switch.extensions["1002"] = Extension.answers(0.2)
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        calls={"recordings_dir": str(shared)},
        recording={"notice": NOTICE},
    )
    async with running_service(settings, handover=RecordingHandover()) as service:
        # No bot voice loaded (RecordingHandover stands in for the bot).
        uuid = await fake_switch.inbound_call(
            destination="1002",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "1002"},
        )
        await eventually(lambda: fake_switch.events_for(uuid, "CHANNEL_BRIDGE"), timeout=10)
        assert not fake_switch.events_for(uuid, "PLAYBACK_START")
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)
        names = await timeline(service, uuid)
        assert "recording_notice_failed" in names and "recording_notice" not in names


async def test_the_bot_takes_the_call_when_the_person_hangs_up_during_the_notice(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    shared = tmp_path / "recordings"
    # The person answers, then gives up 0.5 s later: the notice lasts ~2.8 s.
    fake_switch.extensions["1002"] = Extension.answers(0.2, hangup_after=0.5)
    handover = RecordingHandover()
    tts = FakeTTS()
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        calls={"recordings_dir": str(shared)},
        recording={"notice": NOTICE},
    )
    async with running_service(settings, handover=handover) as service:
        service.controller.prompts = PromptFiles(lambda: shared, lambda: tts)
        uuid = await fake_switch.inbound_call(
            destination="1002",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "1002"},
        )
        await handover.wait()
        assert handover.handles[0].id == uuid
        assert not fake_switch.events_for(uuid, "CHANNEL_BRIDGE")
        # The notice was cut short (uuid_break) rather than said under the bot's greeting.
        await eventually(lambda: fake_switch.events_for(uuid, "PLAYBACK_STOP"), timeout=5)
        stop = fake_switch.events_for(uuid, "PLAYBACK_STOP")[0]
        assert stop.get("Playback-Status") == "break"
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)
