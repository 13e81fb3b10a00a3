"""Contract tests against a real FreeSWITCH 1.10 with mod_audio_fork (marker ``freeswitch``).

Run with the project's own configuration (``freeswitch/conf`` + ``dialplan``) loaded::

    CALLCONTROL_TEST_ESL=127.0.0.1:8021:<password> pytest -m freeswitch tests/contract

Optional: ``CALLCONTROL_TEST_ESL_MODE=outbound`` (FreeSWITCH started with the outbound
dialplan, its socket app pointing at ``CALLCONTROL_TEST_SOCKET_PORT``, 8084: the outbound
tests run, the inbound-dialplan ones are skipped), ``CALLCONTROL_TEST_BOT_NUMBER`` (9000),
``CALLCONTROL_TEST_EXTENSION`` (an
extension of the directory that is not registered, 1001), ``CALLCONTROL_TEST_FORK_HOST``
(the address FreeSWITCH uses to reach this machine's websocket server, 127.0.0.1).
Calls are made with ``loopback/`` so no SIP phone is needed. Without the variable every
test here is skipped: FreeSWITCH cannot be installed where CI runs, and the same
scenarios run against the emulator in tests/integration.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import pytest_asyncio

from callcontrol.calls.machine import LegState
from callcontrol.config import EslSettings
from callcontrol.esl.bridge import GeventThread
from callcontrol.esl.commands import parse_show_json
from callcontrol.esl.inbound import InboundConnection
from callcontrol.esl.protocol import EslEvent
from callcontrol.media.base import BinaryLink, ForkConsumer, ForkLink
from callcontrol.media.codecs import read_wav
from callcontrol.media.fork_esl import build_fork_start_command, build_fork_stop_command, can_stream
from callcontrol.media.fork_server import ForkServer
from callcontrol.media.fork_wire import ForkMetadata, PlayAudio, parse_mark_notice
from callcontrol.media.stream_playback import StreamLink, StreamPlayback
from callcontrol.recording.files import read_pcm, write_pcm
from callcontrol.store.models import Recording
from tests.harness import RecordingHandover, eventually, make_settings, running_service

pytestmark = [pytest.mark.freeswitch, pytest.mark.integration]

TARGET = os.environ.get("CALLCONTROL_TEST_ESL")
BOT = os.environ.get("CALLCONTROL_TEST_BOT_NUMBER", "9000")
EXTENSION = os.environ.get("CALLCONTROL_TEST_EXTENSION", "1001")
FORK_HOST = os.environ.get("CALLCONTROL_TEST_FORK_HOST", "127.0.0.1")
# The dialplan mode FreeSWITCH was started with (its CALLCONTROL_ESL__MODE), and in
# outbound mode the port its `socket` application connects to.
MODE = os.environ.get("CALLCONTROL_TEST_ESL_MODE", "inbound")
SOCKET_PORT = int(os.environ.get("CALLCONTROL_TEST_SOCKET_PORT", "8084"))
INBOUND_DIALPLAN = pytest.mark.skipif(MODE == "outbound", reason="FreeSWITCH runs outbound")

if not TARGET:
    pytest.skip(
        "no real FreeSWITCH: set CALLCONTROL_TEST_ESL=host:port:password", allow_module_level=True
    )

HOST, PORT, PASSWORD = TARGET.split(":", 2)


def esl_settings(**extra: object) -> EslSettings:
    return EslSettings(
        host=HOST,
        port=int(PORT),
        password=PASSWORD,
        outbound_port=0,
        reconnect_initial=0.1,
        reconnect_max=1.0,
        **extra,  # type: ignore[arg-type]
    )


@pytest_asyncio.fixture
async def esl() -> AsyncIterator[InboundConnection]:
    thread = GeventThread()
    events: list[EslEvent] = []
    conn = InboundConnection(esl_settings(), thread, on_event=events.append)
    conn.captured = events  # type: ignore[attr-defined]
    await conn.start()
    await conn.wait_connected(10)
    try:
        yield conn
    finally:
        await conn.api("hupall NORMAL_CLEARING")
        await conn.stop()
        thread.stop()


async def test_commands_replies_and_background_jobs(esl: InboundConnection) -> None:
    status = await esl.api("status")
    assert status.ok and "FreeSWITCH" in status.text
    rows = parse_show_json((await esl.api("show channels as json")).text)
    assert isinstance(rows, list)
    job = await esl.bgapi("status", timeout=10)
    assert "FreeSWITCH" in job.text
    missing = await esl.api("uuid_kill 00000000-0000-4000-8000-000000000000")
    assert not missing.ok and "No such channel" in missing.text
    assert (await esl.api("module_exists mod_audio_fork")).text.strip() == "true"


@INBOUND_DIALPLAN
async def test_bot_number_reaches_the_bot_and_leaves_a_cdr(tmp_path: Path) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=int(PORT), esl={"host": HOST, "password": PASSWORD})
    async with running_service(settings, handover=handover) as service:
        assert service.inbound is not None
        # bgapi: a synchronous `api originate` blocks this connection until the call is
        # answered, and the answer (uuid_answer) has to travel on the same connection.
        made = await service.inbound.bgapi(f"originate loopback/{BOT}/default &park()", timeout=15)
        assert made.ok, made.text
        await handover.wait(timeout=10)
        handle = handover.handles[0]
        assert handle.call.state is LegState.BOT and handle.call.action == "bot"
        await handle.hangup()
        record = await service.controller.wait_finished(handle.id, 10)
        assert record.handled_by == "bot" and record.answer_at is not None
        assert record.hangup_cause == "NORMAL_CLEARING"
        await service.inbound.api("hupall NORMAL_CLEARING")


@INBOUND_DIALPLAN
async def test_unanswered_extension_is_taken_over_by_the_bot(tmp_path: Path) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=int(PORT), esl={"host": HOST, "password": PASSWORD})
    async with running_service(settings, handover=handover) as service:
        assert service.inbound is not None
        made = await service.inbound.bgapi(
            f"originate loopback/{EXTENSION}/default &park()", timeout=30
        )
        assert made.ok, made.text
        await handover.wait(timeout=20)
        call = handover.handles[0].call
        assert call.action == "extension" and call.extension == EXTENSION
        takeover = next(e for e in call.timeline if e.name == "no_answer_takeover")
        assert takeover.data["reason"].startswith("extension ")
        await service.inbound.api("hupall NORMAL_CLEARING")
        await service.controller.wait_finished(call.id, 10)


def tone_wav(path: Path, hz: float, seconds: float, rate: int = 8000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)
    write_pcm(path, samples, rate)
    return path


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    spectrum[:5] = 0  # no DC
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@INBOUND_DIALPLAN
async def test_a_call_is_recorded_in_stereo_with_the_caller_on_the_left(tmp_path: Path) -> None:
    """RECORD_STEREO on the callcontrol leg: its read audio (the caller) left, its write
    audio (what callcontrol plays to the caller) right — the layout the emulator copies."""
    shared = tmp_path / "recordings"
    caller_tone = tone_wav(tmp_path / "caller.wav", 1000, 3.0)
    bot_tone = tone_wav(tmp_path / "bot.wav", 400, 1.5)
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path,
        esl_port=int(PORT),
        esl={"host": HOST, "password": PASSWORD},
        calls={"recordings_dir": str(shared)},
    )
    async with running_service(settings, handover=handover) as service:
        assert service.inbound is not None and service.recordings is not None
        # The loopback a-leg is the caller: it plays a 1 kHz tone once answered.
        made = await service.inbound.bgapi(
            f"originate loopback/{BOT}/default &playback({caller_tone})", timeout=15
        )
        assert made.ok, made.text
        await handover.wait(timeout=10)
        handle = handover.handles[0]
        await handle.play(str(bot_tone))  # "the bot" answers at 400 Hz
        await eventually(
            lambda: any(e.name == "PLAYBACK_STOP" for e in handle.call.timeline), timeout=10
        )
        await handle.hangup()
        await service.controller.wait_finished(handle.id, 10)
        await eventually(lambda: handle.id in service.recordings.finished, timeout=20)
        await service.flush()
        async with service.sessions() as s:
            rec = await s.get(Recording, handle.id)
        assert rec is not None and rec.status == "ready", rec and rec.error
        stereo, rate = read_pcm(shared / rec.directory / rec.stereo_file)
        assert stereo.shape[1] == 2
        left, right = stereo[:, 0], stereo[:, 1]
        assert abs(peak_hz(left, rate) - 1000) < 20
        assert abs(peak_hz(right, rate) - 400) < 20
        assert (shared / rec.directory / "mixed.wav").exists()
        await service.inbound.api("hupall NORMAL_CLEARING")


async def parked_loopback_call(esl: InboundConnection, uuid: str, variables: str = "") -> None:
    """An answered, parked loopback call whose a-leg is ``uuid`` (no worker runs here,
    so the bot number's leg is answered by hand)."""

    async def channels() -> set[str]:
        rows = parse_show_json((await esl.api("show channels as json")).text)
        return {r["uuid"] for r in rows if r["name"].endswith(f"{BOT}-b")}

    before = await channels()
    job = asyncio.create_task(
        esl.bgapi(
            f"originate {{origination_uuid={uuid}{',' + variables if variables else ''}}}"
            f"loopback/{BOT}/default &park()",
            timeout=30,
        )
    )

    async def new_leg() -> str | None:
        return next(iter(await channels() - before), None)

    assert (await esl.api(f"uuid_answer {await eventually(new_leg, timeout=10)}")).ok
    assert (await job).ok


class _Capture:
    """A fork registry/consumer that keeps what FreeSWITCH streams."""

    def __init__(self, call_id: str, token: str) -> None:
        self.call_id, self.token = call_id, token
        self.metadata: ForkMetadata | None = None
        self.link: ForkLink | None = None
        self.samples = 0
        self.frames = 0
        self.texts: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.attached = asyncio.Event()
        self.marks: StreamPlayback | None = None

    def expected_token(self, call_id: str) -> str | None:
        return self.token if call_id == self.call_id else None

    def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> ForkConsumer:
        self.metadata, self.link = metadata, link
        self.attached.set()
        return self

    def on_audio(self, samples: np.ndarray, sample_rate: int) -> bool:
        self.samples += len(samples)
        self.frames += 1
        return True

    def on_text(self, text: str) -> None:
        self.texts.append(text)
        notice = parse_mark_notice(text)
        if notice is not None and self.marks is not None:
            self.marks.on_mark(notice)

    def on_close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


@INBOUND_DIALPLAN  # its loopback call must be parked by the inbound dialplan
async def test_audio_fork_streams_and_plays_back(esl: InboundConnection) -> None:
    events: list[EslEvent] = esl.captured  # type: ignore[attr-defined]
    uuid = "cc-contract-fork"
    await parked_loopback_call(esl, uuid)
    capture = _Capture(uuid, "tok123")
    async with ForkServer(capture, host="0.0.0.0", port=0) as server:
        url = f"ws://{FORK_HOST}:{server.port}/fork/{uuid}"
        start = build_fork_start_command(
            uuid, url, mix="mono", rate=16000, metadata={"callId": uuid, "token": "tok123"}
        )
        assert (await esl.api(start)).ok
        await asyncio.wait_for(capture.attached.wait(), 10)
        assert capture.metadata is not None and capture.metadata.to_dict()["token"] == "tok123"
        await eventually(lambda: capture.samples >= 16000, timeout=10)  # a second of audio
        # playAudio → the module writes a file and fires play_audio naming it.
        tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 16000) * 8000).astype(np.int16)
        assert capture.link is not None
        await capture.link.send_message(PlayAudio(tone.tobytes(), 16000))
        play = await eventually(
            lambda: next(
                (
                    e
                    for e in events
                    if e.subclass == "mod_audio_fork::play_audio" and e.unique_id == uuid
                ),
                None,
            ),
            timeout=10,
        )
        body = json.loads(play.body or "{}")
        assert body["file"].endswith(".r16") and "audioContent" not in body
        assert (await esl.api(f"uuid_broadcast {uuid} {body['file']} aleg")).ok
        await eventually(
            lambda: any(e.name == "PLAYBACK_STOP" and e.unique_id == uuid for e in events),
            timeout=10,
        )
        assert (await esl.api(build_fork_stop_command(uuid, text='{"bye":1}'))).ok
        await eventually(lambda: capture.closed is not None, timeout=10)
        assert capture.closed is not None and capture.closed[0] == 1000
        assert capture.texts == ['{"bye":1}']
    started = time.monotonic()
    connect = [e for e in events if e.subclass == "mod_audio_fork::connect" and e.unique_id == uuid]
    assert connect, f"no connect event within {time.monotonic() - started:.1f}s"


@INBOUND_DIALPLAN  # its loopback call must be parked by the inbound dialplan
async def test_a_failed_fork_keeps_its_bug_until_stopped(esl: InboundConnection) -> None:
    """Seen on 1.10.12: after connect_failed the media bug stays attached, so a restart
    with the same bug name is refused until the fork is stopped (the bot's retry does)."""
    events: list[EslEvent] = esl.captured  # type: ignore[attr-defined]
    uuid = "cc-contract-refork"
    await parked_loopback_call(esl, uuid)
    dead = build_fork_start_command(uuid, f"ws://{FORK_HOST}:9/fork/{uuid}", metadata={"a": 1})
    assert (await esl.api(dead)).ok  # +OK even though nothing listens
    await eventually(
        lambda: any(
            e.subclass == "mod_audio_fork::connect_failed" and e.unique_id == uuid for e in events
        ),
        timeout=10,
    )
    again = await esl.api(dead)
    assert not again.ok, again.text  # -ERR Operation Failed: bug already attached
    assert (await esl.api(build_fork_stop_command(uuid))).ok
    assert (await esl.api(dead)).ok


@pytest.mark.skipif(MODE != "outbound", reason="FreeSWITCH runs the inbound dialplan")
async def test_outbound_socket_receives_the_playback_events(tmp_path: Path) -> None:
    """FreeSWITCH's ``myevents`` set has no PLAYBACK_START/STOP: on a real outbound call the
    bot saw no start event, stalled 4 s between phrases and barged in on itself."""
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path,
        esl_port=int(PORT),
        esl={"host": HOST, "password": PASSWORD, "mode": "outbound", "outbound_port": SOCKET_PORT},
    )
    async with running_service(settings, handover=handover) as service:
        assert service.inbound is not None and service.outbound is not None
        made = await service.inbound.bgapi(f"originate loopback/{BOT}/default &park()", timeout=15)
        assert made.ok, made.text
        await handover.wait(timeout=10)
        handle = handover.handles[0]
        seen: list[str] = []
        handle.listen(lambda event: seen.append(event.name))
        await handle.play("silence_stream://300")
        await eventually(lambda: "PLAYBACK_STOP" in seen, timeout=10)
        assert seen.index("PLAYBACK_START") < seen.index("PLAYBACK_STOP")
        await handle.hangup()
        record = await service.controller.wait_finished(handle.id, 10)
        assert record.handled_by == "bot"
        await service.inbound.api("hupall NORMAL_CLEARING")


async def _can_stream(esl: InboundConnection) -> bool:
    return can_stream((await esl.api("uuid_audio_fork")).text)


def _wav_rms(path: Path) -> float:
    audio = read_wav(path)
    samples = audio.samples.astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


@INBOUND_DIALPLAN  # its loopback call must be parked by the inbound dialplan
async def test_a_streaming_fork_plays_binary_audio_to_the_caller_and_reports_marks(
    esl: InboundConnection, tmp_path: Path
) -> None:
    """jambonz's module: the ten-field start, binary frames heard by the far end, a mark
    reported when playout reaches it, killAudio answered by 'cleared'. Skipped with a
    module that cannot stream (drachtio's)."""
    if not await _can_stream(esl):
        pytest.skip("the loaded mod_audio_fork cannot stream (drachtio's module)")
    uuid = "cc-contract-stream"
    # Streamed audio plays only while the channel writes frames: set before answer.
    await parked_loopback_call(esl, uuid, variables="send_silence_when_idle=-1")
    rows = parse_show_json((await esl.api("show channels as json")).text)
    far = next(r["uuid"] for r in rows if r["name"].endswith(f"{BOT}-b"))
    capture = _Capture(uuid, "tok-stream")
    async with ForkServer(capture, host="0.0.0.0", port=0) as server:
        url = f"ws://{FORK_HOST}:{server.port}/fork/{uuid}"
        start = build_fork_start_command(
            uuid,
            url,
            mix="mono",
            rate=8000,
            metadata={"callId": uuid, "token": "tok-stream"},
            bugname="audio_fork",
            stream_rate=8000,
        )
        assert start.split()[-3:] == ["true", "true", "8000"]
        assert (await esl.api(start)).ok
        await asyncio.wait_for(capture.attached.wait(), 10)
        assert isinstance(capture.link, BinaryLink)
        playback = StreamPlayback(cast(StreamLink, capture.link), sample_rate=8000)
        capture.marks = playback  # the module's notices come back as text frames
        recording = tmp_path / "far-end.wav"
        assert (await esl.api(f"uuid_record {far} start {recording}")).ok
        tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
        finished = await (await playback.play(tone, 8000, "a second of tone")).wait()
        assert not finished.interrupted
        assert any('"event": "playout"' in t for t in capture.texts), capture.texts
        # Barge-in: a long tone, cut; the module reports the pending mark "cleared".
        long = await playback.play(np.tile(tone, 4), 8000, "four seconds of tone")
        await eventually(lambda: playback.playing, timeout=5)
        await asyncio.sleep(0.3)
        await playback.clear()
        assert (await long.wait()).interrupted
        await eventually(lambda: any('"event": "cleared"' in t for t in capture.texts), timeout=5)
        assert (await esl.api(f"uuid_record {far} stop {recording}")).ok
        await playback.aclose()
        # No ESL playback events exist on this path.
        events: list[EslEvent] = esl.captured  # type: ignore[attr-defined]
        assert not [e for e in events if e.name == "PLAYBACK_START" and e.unique_id == uuid]
        assert (await esl.api(build_fork_stop_command(uuid))).ok
    await eventually(lambda: recording.exists() and recording.stat().st_size > 1000, timeout=10)
    assert _wav_rms(recording) > 300, "the far end heard no tone"
