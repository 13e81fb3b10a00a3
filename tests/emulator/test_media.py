"""Audio decoding and the "what the caller heard" capture of real-time playback."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.emulator.test_audio_fork import mulaw_wav, peak_hz
from tests.fakes.freeswitch import Audio, FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient, event_headers
from tests.fakes.freeswitch.media import alaw_decode, mulaw_decode, read_wav, resample, wav_bytes


def test_g711_tables() -> None:
    assert mulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00])).tolist() == [0, 0, 32124, -32124]
    assert alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]


def test_mulaw_wav_roundtrip() -> None:
    t = np.arange(4000) / 8000
    clip = (np.sin(2 * np.pi * 700 * t) * 20000).astype(np.int16)
    samples, rate = read_wav(mulaw_wav(clip, 8000))
    assert rate == 8000 and len(samples) == 4000
    err = np.abs(samples.astype(np.int32) - clip)
    assert err.max() <= 700  # μ-law step at 20000 is 512..1024


def test_wav_variants() -> None:
    stereo = np.array([[1000, -1000], [2000, 0], [-4000, 4000]], dtype="<i2")
    data = wav_bytes(np.zeros(1, dtype=np.int16), 8000)  # header template
    fmt = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 4, 16)
    pcm = stereo.tobytes()
    wave = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )
    samples, rate = read_wav(b"RIFF" + struct.pack("<I", len(wave)) + wave)
    assert rate == 16000 and samples.tolist() == [0, 1000, 0]
    floats = np.array([0.5, -0.5], dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    wave = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 8) + floats
    samples, _ = read_wav(b"RIFF" + struct.pack("<I", len(wave)) + wave)
    assert samples.tolist() == [16384, -16384]
    assert read_wav(data)[0].tolist() == [0]
    with pytest.raises(ValueError):
        read_wav(b"RIFF\x00\x00\x00\x00WAVEjunk")


def test_resample_keeps_pitch_and_length() -> None:
    tone = Audio.tone(1000, 0.5, 8000)
    up = tone.at(16000)
    assert len(up) == 8000 and abs(peak_hz(up, 16000) - 1000) < 5
    down = resample(up, 16000, 8000)
    assert len(down) == 4000 and np.abs(down.astype(np.int32) - tone.samples).max() <= 1


async def test_broadcast_of_a_wav_is_captured_in_real_time(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, tmp_path: Path
) -> None:
    path = tmp_path / "prompt.wav"
    path.write_bytes(wav_bytes(Audio.tone(800, 0.5, 8000).samples, 8000))
    uid = await fake_switch.inbound_call(answer=True)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await esl_client.api(f"uuid_broadcast {uid} {path} aleg") == "+OK Message sent\n"
    await fake_switch.wait_for_event("PLAYBACK_STOP", uuid=uid)
    assert 0.55 <= loop.time() - t0 <= 0.75  # 5 lead frames (100 ms) + 500 ms
    heard = fake_switch.captured_audio(uid)
    record = heard.playbacks[0]
    assert record.path == str(path) and record.status == "done"
    assert record.played_samples == record.total_samples == 8000  # 0.5 s at 16 kHz
    assert abs(peak_hz(heard.samples, 16000) - 800) < 5
    assert 0.49 <= record.stopped_at - record.started_at <= 0.6
    assert heard.wav()[:4] == b"RIFF"


async def test_uuid_break_one_or_all(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    long_tone, short_tone = "tone_stream://%(2000,0,440)", "tone_stream://%(200,0,880)"
    for mode, expect_second in (("", True), ("all", False)):
        before = len(fake_switch.captured_audio(uid).playbacks)
        await esl_client.api(f"uuid_broadcast {uid} {long_tone} aleg")
        await esl_client.api(f"uuid_broadcast {uid} {short_tone} aleg")  # queued: event-lock
        await fake_switch.wait_until(lambda: fake_switch.runners[uid].playing)
        await asyncio.sleep(0.3)
        assert await esl_client.api(f"uuid_break {uid} {mode}".strip()) == "+OK\n"
        await asyncio.sleep(0.5)
        plays = fake_switch.captured_audio(uid).playbacks[before:]
        assert plays[0].status == "break" and 0.25 <= plays[0].played_seconds <= 0.45
        assert (len(plays) == 2 and plays[1].status == "done") is expect_second
    stops = [event_headers_from(e) for e in fake_switch.events_for(uid, "PLAYBACK_STOP")]
    assert [s["Playback-Status"] for s in stops] == ["break", "done", "break"]
    assert (
        await esl_client.api("uuid_break 00000000-0000-4000-8000-000000000000")
        == "-ERR No such channel!\n"
    )


def event_headers_from(event: object) -> dict[str, str]:
    from tests.fakes.freeswitch.events import Event

    assert isinstance(event, Event)
    return dict(reversed(event.headers))


async def test_caller_dtmf_events_and_playback_terminator(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    await esl_client.command("event plain DTMF PLAYBACK_STOP")
    uid = await fake_switch.inbound_call(answer=True)
    await fake_switch.caller_dtmf(uid, "1", interval=0)
    dtmf = event_headers(await esl_client.next_event("DTMF"))
    assert (dtmf["DTMF-Digit"], dtmf["DTMF-Duration"], dtmf["DTMF-Source"]) == ("1", "2000", "RTP")
    assert not any(k.startswith("variable_") for k in dtmf)  # DTMF carries no variables
    await esl_client.api(f"uuid_broadcast {uid} tone_stream://%(3000,0,440) aleg")
    await fake_switch.wait_until(lambda: fake_switch.runners[uid].playing)
    await fake_switch.caller_dtmf(uid, "5*", interval=0.1)
    stop = event_headers(await esl_client.next_event("PLAYBACK_STOP"))
    assert stop["Playback-Status"] == "break" and stop["variable_playback_terminator_used"] == "*"
    assert fake_switch.captured_audio(uid).playbacks[0].played_seconds < 1.0


async def test_nested_playback_pauses_the_outer_one(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    await esl_client.sendmsg(uid, "playback", "tone_stream://%(400,0,440)")
    await fake_switch.wait_until(lambda: fake_switch.runners[uid].playing)
    await asyncio.sleep(0.1)
    await esl_client.sendmsg(uid, "playback", "tone_stream://%(200,0,880)")  # runs inside the first
    await fake_switch.wait_until(
        lambda: len(fake_switch.captured_audio(uid).playbacks) == 2, timeout=3
    )
    inner, outer = fake_switch.captured_audio(uid).playbacks
    assert inner.path.endswith("880)") and outer.path.endswith("440)")
    assert inner.status == outer.status == "done"
    assert outer.played_seconds == pytest.approx(0.4, abs=0.001)  # all of it, around the pause
    assert outer.stopped_at - outer.started_at >= 0.6


async def test_missing_file(fake_switch: FakeFreeSwitch, esl_client: EslTestClient) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    await esl_client.api(f"uuid_broadcast {uid} /nonexistent/x.wav aleg")

    def playback_completions() -> list[str | None]:
        return [
            e.get("Application-Response")
            for e in fake_switch.events_for(uid, "CHANNEL_EXECUTE_COMPLETE")
            if e.get("Application") == "playback"
        ]

    await fake_switch.wait_until(lambda: bool(playback_completions()))
    assert playback_completions() == ["FILE NOT FOUND"]
    assert fake_switch.events_for(uid, "PLAYBACK_START") == []
    assert fake_switch.channel(uid).up  # a failed playback does not end the call
