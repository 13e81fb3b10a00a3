"""mod_audio_fork: the websocket the emulator opens and the events it fires, vs the recordings."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from tests import recordings as rec
from tests.emulator.forkserver import ForkPeer, ForkServer
from tests.fakes.freeswitch import Audio, Extension, FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient, event_headers

PLAIN = "audio-fork-esl-plain.jsonl"
JSON = "audio-fork-esl-json.jsonl"
SUBSCRIBE = (
    "event {fmt} CHANNEL_ANSWER CHANNEL_PROGRESS_MEDIA CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE "
    "PLAYBACK_START PLAYBACK_STOP CUSTOM mod_audio_fork::connect mod_audio_fork::connect_failed "
    "mod_audio_fork::play_audio mod_audio_fork::kill_audio mod_audio_fork::transcription "
    "mod_audio_fork::json mod_audio_fork::transfer mod_audio_fork::disconnect "
    "mod_audio_fork::error mod_audio_fork::buffer_overrun"
)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def mulaw_encode(x: np.ndarray) -> bytes:
    s = x.astype(np.int32)
    sign = (s < 0).astype(np.int32)
    mag = np.minimum(np.abs(s), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(mag)).astype(np.int32) - 7, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~((sign << 7) | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def mulaw_wav(samples: np.ndarray, rate: int) -> bytes:
    data = mulaw_encode(samples)
    fmt = struct.pack("<HHIIHH", 7, 1, rate, rate, 1, 8)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def body_of(raw: bytes) -> bytes:
    """The inner body of a plain event (what follows the inner Content-Length)."""
    payload = raw.split(b"\n\n", 1)[1]
    return payload.split(b"\n\n", 1)[1]


async def _start(
    client: EslTestClient, server: ForkServer, uid: str, args: str = "mono 16k", path: str = "/fork"
) -> ForkPeer:
    reply = await client.api(f"uuid_audio_fork {uid} start {server.url(path)} {args}")
    assert reply == "+OK Success\n", reply
    return await server.accept()


@pytest.mark.parametrize(
    ("recording", "mix", "rate", "size"),
    [
        ("ws-fork-mono-16k", "mono", "16k", 960),
        ("ws-fork-mono-8k", "mono", "8k", 480),
        ("ws-fork-stereo-16k", "stereo", "16k", 1920),
    ],
)
async def test_upgrade_metadata_then_paced_frames(
    fake_switch: FakeFreeSwitch,
    esl_client: EslTestClient,
    fork_server: ForkServer,
    recording: str,
    mix: str,
    rate: str,
    size: int,
) -> None:
    summary = json.loads((rec.ROOT / f"{recording}.summary.json").read_text())
    recorded = rec.jsonl(f"{recording}.frames.jsonl")
    assert list(summary["binary_frame_size_histogram"]) == [str(size)]
    uid = await fake_switch.inbound_call(
        answer=True, ptime_ms=30, audio=Audio.tone(300, 3.0, 16000)
    )
    if (
        mix == "stereo"
    ):  # stereo only flows while FreeSWITCH writes audio (the recording played a tone)
        await esl_client.api(f"uuid_broadcast {uid} {{loops=-1}}tone_stream://%(1000,0,440) aleg")
        await asyncio.sleep(0.2)
    metadata = json.dumps(
        {"callId": uid, "mix": mix, "rate": int(rate[:-1]) * 1000}, separators=(",", ":")
    )
    peer = await _start(
        esl_client, fork_server, uid, f"{mix} {rate} {metadata}", f"/fork/{uid}?mix={mix}"
    )
    await asyncio.sleep(1.0)
    await esl_client.api(f"uuid_kill {uid}")
    await asyncio.wait_for(peer.closed.wait(), 5)

    # the upgrade: a GET offering audio.drachtio.org, Origin http://<host>, no extensions
    headers = {k.lower(): v for k, v in peer.headers}
    recorded_request = summary["request"]
    assert peer.path == f"/fork/{uid}?mix={mix}"
    for name in (
        "Sec-WebSocket-Protocol",
        "Origin",
        "Pragma",
        "Cache-Control",
        "Upgrade",
        "Sec-WebSocket-Version",
    ):
        value = re.search(rf"^{name}: (.*)\r$", recorded_request, re.M)
        assert value is not None and headers[name.lower()] == value.group(1), name
    assert "sec-websocket-extensions" not in headers
    assert "Sec-WebSocket-Extensions" not in recorded_request

    # metadata verbatim first, then binary frames of the recorded size, every 30 ms
    assert peer.frames[0].data == metadata
    assert recorded[0]["opcode"] == "text" and recorded[1]["opcode"] == "binary"
    binaries = peer.frames[1:]
    assert binaries and all(isinstance(f.data, bytes) and len(f.data) == size for f in binaries)
    assert 27 <= len(binaries) <= 38, len(binaries)
    gaps = np.diff([f.t for f in binaries])
    recorded_gaps = np.diff([r["t_ms"] / 1000 for r in recorded if r.get("opcode") == "binary"])
    assert abs(float(np.median(gaps)) - 0.030) < 0.005
    if mix == "mono":
        assert abs(float(np.median(recorded_gaps)) - 0.030) < 0.005
    # (recorded stereo alternates 30/60 ms: the 20 ms tone leg against a 30 ms caller only
    # delivered ~67 % of real time; the emulator keeps every 30 ms frame - see README)
    assert peer.close_code == summary["close_code"] == 1000

    # what is in the frames: the caller (left) and, for stereo, what is played (right)
    audio = peer.audio()
    hz = int(rate[:-1]) * 1000
    left = audio[0::2] if mix == "stereo" else audio
    assert abs(peak_hz(left[: hz // 2], hz) - 300) < 10
    if mix == "stereo":
        assert abs(peak_hz(audio[1::2][: hz // 2], hz) - 440) < 10


async def test_stereo_sends_nothing_while_nothing_is_played(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid, "stereo 16k")
    await asyncio.sleep(0.3)
    assert peer.binaries == []
    await esl_client.api(f"uuid_broadcast {uid} tone_stream://%(300,0,500) aleg")
    await fake_switch.wait_for_event("PLAYBACK_STOP", uuid=uid)
    await asyncio.sleep(0.1)
    during = len(peer.binaries)
    assert 10 <= during <= 20, during  # 300 ms at 20 ms per frame (+ the 5 lead frames)
    await asyncio.sleep(0.2)
    assert len(peer.binaries) == during
    mono = await _start(esl_client, fork_server, uid, "mono 8k monobug")
    await asyncio.sleep(0.2)
    assert len(mono.binaries) >= 7  # mono always streams
    assert all(len(b) == 320 for b in mono.binaries)  # 20 ms at 8 kHz


async def test_connect_failed_and_bug_already_attached(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    await esl_client.command(SUBSCRIBE.format(fmt="plain"))
    uid = await fake_switch.inbound_call(answer=True)
    closed = "ws://127.0.0.1:1/closed"
    reply = await esl_client.command(f"api uuid_audio_fork {uid} start {closed} mono 16k")
    recorded_reply = [r for r in rec.received(PLAIN) if r.ctype == "api/response"][-2]
    assert reply.raw == recorded_reply.data  # "+OK Success\n" even though nothing listens
    event = await esl_client.next_event("CUSTOM")
    recorded = [r for r in rec.received(PLAIN) if r.subclass == "mod_audio_fork::connect_failed"][0]
    assert body_of(event.raw) == body_of(recorded.data) == b'{"reason":"Unable to connect"}'
    assert (
        await esl_client.api(f"uuid_audio_fork {uid} start {closed} mono 16k")
        == "-ERR Operation Failed\n"
    )
    assert await esl_client.api(f"uuid_audio_fork {uid} stop") == "+OK Success\n"
    assert await esl_client.api(f"uuid_audio_fork {uid} stop") == "-ERR Operation Failed\n"
    assert await esl_client.api(f"uuid_audio_fork {uid} start {closed} mono 16k") == "+OK Success\n"


async def test_start_needs_early_media(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await fake_switch.inbound_call(answer=False)
    await esl_client.command("event plain CHANNEL_PROGRESS_MEDIA")
    await _start(esl_client, fork_server, uid)
    event = await esl_client.next_event("CHANNEL_PROGRESS_MEDIA")  # switch_channel_pre_answer
    assert event_headers(event)["Unique-ID"] == uid
    fake_switch.extensions["2000"] = Extension.never_answers()
    job = await esl_client.command("bgapi originate {originate_timeout=5}user/2000 &park()")
    assert job.get("Job-UUID")
    await fake_switch.wait_until(
        lambda: any(
            c.direction == "outbound" and c.ring_ready for c in fake_switch.channels.values()
        )
    )
    ringing = next(c for c in fake_switch.channels.values() if c.direction == "outbound")
    assert (
        await esl_client.api(f"uuid_audio_fork {ringing.uuid} start {fork_server.url()} mono 16k")
        == "-ERR Operation Failed\n"
    )
    assert await esl_client.api(f"uuid_audio_fork {uid} start") == await esl_client.api(
        "uuid_audio_fork"
    )
    assert (await esl_client.api("uuid_audio_fork")).startswith("-USAGE: <uuid> [start | stop")


async def _server_view(name: str) -> list[dict[str, object]]:
    return [r for r in rec.jsonl(name) if r["dir"] == "send" and r["opcode"] == "text"]


@pytest.mark.parametrize("fmt", ["plain", "json"])
async def test_server_messages_become_the_recorded_events(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer, fmt: str
) -> None:
    recording = PLAIN if fmt == "plain" else JSON
    await esl_client.command(SUBSCRIBE.format(fmt=fmt))
    uid = await fake_switch.inbound_call(caller="sipp", answer=True, codec="PCMA")
    esl_client.events.clear()
    peer = await _start(esl_client, fork_server, uid)
    connect = await esl_client.next_event("CUSTOM")
    recorded_connect = [
        r for r in rec.received(recording) if r.subclass == "mod_audio_fork::connect"
    ][0]

    def names(data: bytes) -> list[str]:
        return [k for k, _ in rec.event_header_list(data) if not k.startswith("variable_")]

    def inner(data: bytes) -> str:
        return (
            dict(rec.event_header_list(data))["_body"] if fmt == "json" else body_of(data).decode()
        )

    assert names(connect.raw) == names(recorded_connect.data)
    view = f"ws-server-view-of-audio-fork-esl-{fmt}.frames.jsonl"
    texts = [str(r["text"]) for r in await _server_view(view) if "playAudio" not in str(r["text"])]
    for text in texts:
        kind = json.loads(text)["type"]
        if kind in ("killAudio", "disconnect"):
            continue
        await peer.ws.send(text)
        event = await esl_client.next_event("CUSTOM")
        headers = rec.event_header_list(event.raw)
        subclass = dict(headers)["Event-Subclass"]
        assert subclass == f"mod_audio_fork::{kind}"
        want = next(
            r
            for r in rec.received(recording)
            if r.subclass == subclass and inner(r.data) == inner(event.raw)
        )
        assert names(event.raw) == names(want.data)
        if fmt == "plain":
            assert body_of(event.raw) == body_of(want.data)
            assert event.raw.split(b"\n\n", 1)[1].count(b"\nContent-Length: ") == 1
        else:  # the raw JSON text of _body, escapes included
            assert (
                event.raw[event.raw.index(b'"_body":') :]
                == want.data[want.data.index(b'"_body":') :]
            )


async def test_play_audio_writes_a_temp_file_and_does_not_play_it(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    await esl_client.command(SUBSCRIBE.format(fmt="plain"))
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid)
    await esl_client.next_event("CUSTOM")
    tone = Audio.tone(440, 0.4, 16000)
    message = {
        "type": "playAudio",
        "data": {
            "audioContentType": "raw",
            "sampleRate": 16000,
            "audioContent": base64.b64encode(tone.pcm).decode(),
            "textContent": "1.0s 440Hz: tone %41",
        },
    }
    await peer.ws.send(json.dumps(message))
    event = await esl_client.next_event("CUSTOM")
    body = json.loads(body_of(event.raw))
    recorded = json.loads(
        body_of(
            [r for r in rec.received(PLAIN) if r.subclass == "mod_audio_fork::play_audio"][0].data
        )
    )
    assert list(body) == list(recorded) == ["audioContentType", "sampleRate", "textContent", "file"]
    assert body["textContent"] == recorded["textContent"]
    path = Path(body["file"])
    assert re.fullmatch(rf"{re.escape(str(fake_switch.temp_dir))}/{uid}_\d+\.tmp\.r16", str(path))
    assert path.read_bytes() == tone.pcm
    await asyncio.sleep(0.2)
    assert fake_switch.captured_audio(uid).playbacks == []  # mod_audio_fork does not play it

    await esl_client.api(f"uuid_broadcast {uid} {path} aleg")
    start = await esl_client.next_event("PLAYBACK_START")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    stop = await esl_client.next_event("PLAYBACK_STOP")
    assert 0.38 <= loop.time() - t0 <= 0.5
    stop_headers = event_headers(stop)
    assert stop_headers["Playback-Status"] == "done" and stop_headers["Playback-File-Path"] == str(
        path
    )
    assert (
        stop_headers["variable_playback_ms"] == "400"
        and stop_headers["variable_playback_samples"] == "6400"
    )
    recorded_stop = [r for r in rec.received(PLAIN) if r.event == "PLAYBACK_STOP"][0].data
    assert [k for k in event_headers(stop) if not k.startswith("variable_")] == [
        k for k in dict(rec.event_header_list(recorded_stop)) if not k.startswith("variable_")
    ]
    assert event_headers(start)["Playback-File-Path"] == str(path)
    heard = fake_switch.captured_audio(uid)
    assert heard.playbacks[0].status == "done" and heard.pcm == tone.pcm
    assert await esl_client.api(f"uuid_audio_fork {uid} stop") == "+OK Success\n"
    assert not path.exists()  # temp files go with the fork


async def test_kill_audio_breaks_the_playback(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    await esl_client.command(SUBSCRIBE.format(fmt="plain"))
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid)
    tone = Audio.tone(660, 3.0, 16000)
    data = {"audioContentType": "wave", "audioContent": base64.b64encode(_wav(tone)).decode()}
    await peer.ws.send(json.dumps({"type": "playAudio", "data": data}))
    event = await esl_client.next_event("mod_audio_fork::play_audio")
    path = json.loads(body_of(event.raw))["file"]
    assert path.endswith(".tmp.wav")
    await esl_client.api(f"uuid_broadcast {uid} {path} aleg")
    await esl_client.next_event("PLAYBACK_START")
    await asyncio.sleep(0.6)
    await peer.ws.send(json.dumps({"type": "killAudio"}))
    kill = await esl_client.next_event("CUSTOM")
    assert event_headers(kill)["Event-Subclass"] == "mod_audio_fork::kill_audio"
    stop = event_headers(await esl_client.next_event("PLAYBACK_STOP"))
    assert stop["Playback-Status"] == "break"
    assert (
        stop["variable_playback_samples"] == "32768"
    )  # FreeSWITCH reports its read-ahead, as recorded
    record = fake_switch.captured_audio(uid).playbacks[0]
    assert record.status == "break" and 0.55 <= record.played_seconds <= 0.75
    assert len(record.pcm) == record.played_samples * 2
    assert abs(peak_hz(np.frombuffer(record.pcm, dtype="<i2"), 16000) - 660) < 10
    assert record.pcm == tone.pcm[: len(record.pcm)]


def _wav(audio: Audio) -> bytes:
    from tests.fakes.freeswitch.media import wav_bytes

    return wav_bytes(audio.samples, audio.rate)


async def test_disconnect_message_then_close(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """As in audio-fork-esl-json: a disconnect event with a body, then one without."""
    await esl_client.command(SUBSCRIBE.format(fmt="json"))
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid)
    await esl_client.next_event("CUSTOM")
    await peer.ws.send(json.dumps({"type": "disconnect", "data": {"reason": "server done"}}))
    first = json.loads((await esl_client.next_event("CUSTOM")).body)
    await peer.ws.close(1000, "bye")
    second = json.loads((await esl_client.next_event("CUSTOM")).body)
    recorded = [
        json.loads(rec.split_message(r.data)[1])
        for r in rec.received(JSON)
        if r.subclass == "mod_audio_fork::disconnect"
    ]
    assert first["_body"] == recorded[0]["_body"] == '{"reason":"server done"}'
    assert "_body" not in second and "_body" not in recorded[1]
    assert (
        await esl_client.api(f"uuid_audio_fork {uid} stop") == "+OK Success\n"
    )  # the bug was still there


async def test_send_text_and_stop_with_text(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid, 'mono 16k audio_fork {"callId":"x"}')
    assert (
        await esl_client.api(
            f'uuid_audio_fork {uid} send_text audio_fork {{"type":"dtmf","digit":"5"}}'
        )
        == "+OK Success\n"
    )
    assert (
        await esl_client.api(f'uuid_audio_fork {uid} stop audio_fork {{"reason":"done"}}')
        == "+OK Success\n"
    )
    await asyncio.wait_for(peer.closed.wait(), 5)
    recorded = json.loads(
        (rec.ROOT / "ws-server-view-of-audio-fork-esl-plain.summary.json").read_text()
    )
    assert peer.texts == ['{"callId":"x"}', '{"type":"dtmf","digit":"5"}', '{"reason":"done"}']
    assert peer.texts[1:] == recorded["text_frames"][1:]
    assert peer.close_code == 1000
    assert (
        await esl_client.api(f'uuid_audio_fork {uid} send_text {{"a":1}}')
        == "-ERR Operation Failed\n"
    )
    assert (
        await esl_client.command(f"api uuid_audio_fork {uid} send_text")
    ).body == b"-ERR no reply\n"


async def test_arguments_are_split_on_spaces(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    spaced = '{"a": "b c"}'
    peer = await _start(esl_client, fork_server, uid, f"mono 16k {spaced}")
    await asyncio.sleep(0.1)
    assert peer.texts[0] == '"b c"}'  # '{"a":' became the bug name, the rest the metadata
    assert fake_switch.forks.of(uid, '{"a":') is not None
    assert await esl_client.api(f"uuid_audio_fork {uid} stop") == "-ERR Operation Failed\n"
    named = await _start(esl_client, fork_server, uid, f"mono 16k named {spaced}")
    await asyncio.sleep(0.1)
    assert named.texts[0] == spaced  # after a bug name, the last argument keeps its spaces


async def test_jambonz_splits_the_arguments_into_ten(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """jambonz freeswitch-modules 1.2.22 (what the compose image ships), seen on a real
    FreeSWITCH 1.10.12: argv[10], so metadata is cut at its first space even after a bug
    name, and three more tokens become the bidirectional-audio arguments."""
    fake_switch.config.audio_fork = "jambonz"
    uid = await fake_switch.inbound_call(answer=True)
    spaced = await _start(esl_client, fork_server, uid, 'mono 16k mybug {"a": 1, "b": "x y"}')
    await asyncio.sleep(0.1)
    assert spaced.texts[0] == '{"a":'  # drachtio would send the whole object
    fork = fake_switch.forks.of(uid, "mybug")
    assert fork is not None and fork.bidirectional == ("1,", '"b":', '"x y"}')
    words = await _start(
        esl_client, fork_server, uid, 'mono 16k mybug2 {"a":1} extra words here', path="/f2"
    )
    await asyncio.sleep(0.1)
    assert words.texts[0] == '{"a":1}'
    compact = await _start(esl_client, fork_server, uid, 'mono 16k mybug3 {"a":1}', path="/f3")
    await asyncio.sleep(0.1)
    assert compact.texts[0] == '{"a":1}'  # what callcontrol sends: no spaces, both agree


async def test_pause_resume_graceful_shutdown(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid)
    await asyncio.sleep(0.2)
    assert await esl_client.api(f"uuid_audio_fork {uid} pause") == "+OK Success\n"
    await asyncio.sleep(0.05)
    paused_at = len(peer.binaries)
    await asyncio.sleep(0.3)
    assert len(peer.binaries) == paused_at
    assert await esl_client.api(f"uuid_audio_fork {uid} resume") == "+OK Success\n"
    await asyncio.sleep(0.2)
    assert len(peer.binaries) > paused_at + 5
    assert await esl_client.api(f"uuid_audio_fork {uid} graceful-shutdown") == "+OK Success\n"
    await asyncio.sleep(0.1)
    frames = peer.binaries
    assert b"" in frames
    after = frames.index(b"")
    await asyncio.sleep(0.2)
    assert peer.binaries == frames and len(frames) == after + 1  # nothing after the empty frame


async def test_mulaw_wav_caller_audio_reaches_the_fork(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    t = np.arange(8000) / 8000
    clip = (np.sin(2 * np.pi * 500 * t) * 12000).astype(np.int16)
    uid = await fake_switch.inbound_call(answer=True, audio=mulaw_wav(clip, 8000))
    peer = await _start(esl_client, fork_server, uid, "mono 16k")
    await asyncio.sleep(0.7)
    audio = peer.audio()
    assert abs(peak_hz(audio[:8000], 16000) - 500) < 10
    level = np.sqrt(np.mean(audio[:8000].astype(np.float64) ** 2))
    assert 7000 < level < 10000  # ~12000 / sqrt(2)
    await asyncio.sleep(0.5)
    assert np.abs(peer.audio()[16000 + 800 :]).max() == 0  # then silence, still streamed


async def test_oversized_and_binary_messages_are_dropped(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    await esl_client.command(SUBSCRIBE.format(fmt="plain"))
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid)
    await esl_client.next_event("CUSTOM")
    await peer.ws.send(b"\x00" * 1000)
    await peer.ws.send(json.dumps({"type": "json", "data": {"x": "y" * 700_000}}))
    await peer.ws.send(json.dumps({"type": "transcription", "data": {"text": "small"}}))
    event = await esl_client.next_event("CUSTOM")
    assert event_headers(event)["Event-Subclass"] == "mod_audio_fork::transcription"
    assert body_of(event.raw) == b'{"text":"small"}'


async def test_hangup_closes_the_fork_and_removes_temp_files(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await fake_switch.inbound_call(answer=True)
    peer = await _start(esl_client, fork_server, uid)
    await peer.ws.send(
        json.dumps(
            {
                "type": "playAudio",
                "data": {"audioContentType": "raw", "sampleRate": 8000, "audioContent": "AAAA"},
            }
        )
    )
    event = await fake_switch.wait_for_event("mod_audio_fork::play_audio", uuid=uid)
    path = Path(json.loads(event.body or "{}")["file"])
    assert path.suffix == ".r8" and path.exists()
    await esl_client.api(f"uuid_kill {uid}")
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert peer.close_code == 1000
    assert not path.exists()
    assert (
        fake_switch.events_for(uid, "mod_audio_fork::disconnect") == []
    )  # no disconnect on hangup
