"""jambonz mod_audio_fork streaming audio back to the caller, held against the recordings.

tests/data/recordings/jambonz-mod-audio-fork (a real FreeSWITCH 1.10.12 with jambonz's
module, 2026-12-02; its README says how). Timing is asserted on the emulator's own write
ticks (20 ms each), never on the wall clock.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.emulator.forkserver import ForkPeer, ForkServer
from tests.emulator.jambonz_replay import frames, replay, rtp_runs
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.audiofork import ForkSession
from tests.fakes.freeswitch.client import EslTestClient
from tests.fakes.freeswitch.stream import MAX_MARKS, StreamBuffer, mark_text

STREAM_ARGS = 'mono 8k bug1 {"k":"v"} true true 8000'
DRACHTIO_USAGE = (
    "-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown ] "
    "[wss-url | path] [mono | mixed | stereo] [8000 | 16000 | 24000 | 32000 | 64000] "
    "[bugname] [metadata]\n"
)
JAMBONZ_USAGE = (  # verified on the rig's FreeSWITCH 1.10.12 + jambonz module (fs_cli -x)
    "-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown | stop_play ] "
    "[wss-url | path] [mono | mixed | stereo] [8000 | 16000 | 24000 | 32000 | 64000] "
    "[bugname] [metadata] [bidirectionalAudio_enabled] [bidirectionalAudio_stream_enabled] "
    "[bidirectionalAudio_stream_samplerate]\n"
)


def tone(freq: float, seconds: float, rate: int = 8000, amplitude: int = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    samples = np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    samples[samples == -1] = 0  # -1 is the module's marker sample
    return samples.astype("<i2").tobytes()


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def streamed_samples(sw: FakeFreeSwitch, uid: str) -> int:
    return sum(len(f) for run in sw.captured_audio(uid).streams for f in run.frames)


async def start_stream(
    sw: FakeFreeSwitch,
    client: EslTestClient,
    server: ForkServer,
    uid: str,
    args: str = STREAM_ARGS,
    bug: str = "bug1",
) -> tuple[ForkPeer, ForkSession]:
    reply = await client.api(f"uuid_audio_fork {uid} start {server.url()} {args}")
    assert reply == "+OK Success\n", reply
    peer = await server.accept()
    await sw.wait_for_event("mod_audio_fork::connect", uuid=uid)
    fork = sw.forks.of(uid, bug)
    assert fork is not None
    return peer, fork


def tick_now(sw: FakeFreeSwitch, fork: ForkSession) -> int:
    """The write tick the emulator's clock is in (ticks are counted from the start)."""
    return int((sw.now() - fork.tick_origin) / (fork.channel.ptime_ms / 1000))


async def wait_texts(peer: ForkPeer, n: int, sw: FakeFreeSwitch) -> list[str]:
    await sw.wait_until(lambda: len(peer.texts) >= n)
    return peer.texts


@pytest.fixture
def jambonz(fake_switch: FakeFreeSwitch) -> FakeFreeSwitch:
    fake_switch.config.audio_fork = "jambonz"
    return fake_switch


# ---------------------------------------------------------------------- the api


async def test_usage_string_is_each_modules_own(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    """FORK_API_SYNTAX of each mod_audio_fork.c: the product tells the modules apart by it."""
    assert await esl_client.api("uuid_audio_fork") == DRACHTIO_USAGE
    assert await esl_client.api("uuid_audio_fork abc") == DRACHTIO_USAGE
    fake_switch.config.audio_fork = "jambonz"
    assert await esl_client.api("uuid_audio_fork") == JAMBONZ_USAGE
    assert await esl_client.api("uuid_audio_fork abc start") == JAMBONZ_USAGE
    # both seen on the rig's FreeSWITCH 1.10.12 with the jambonz module (fs_cli -x), as is:
    assert await esl_client.api("uuid_audio_fork abc stop_play") == "-ERR Operation Failed\n"


async def test_only_literal_true_true_and_a_rate_make_a_streaming_bug(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """old-path bug3: ``1 1 16000`` is *not* streaming; binary is dropped, playAudio refused."""
    uid = await jambonz.inbound_call(variables={"send_silence_when_idle": "-1"}, answer=True)
    _, bug3 = await start_stream(
        jambonz, esl_client, fork_server, uid, "mono 16k bug3 {} 1 1 16000", "bug3"
    )
    assert bug3.stream is None and not bug3.play_audio_enabled
    _, zero = await start_stream(
        jambonz, esl_client, fork_server, uid, "mono 16k bug4 {} true true 0", "bug4"
    )
    assert zero.stream is None and not zero.play_audio_enabled  # enabled but streaming
    _, legacy = await start_stream(
        jambonz, esl_client, fork_server, uid, "mono 16k bug5 {} true false 0", "bug5"
    )
    assert legacy.stream is None and legacy.play_audio_enabled
    _, seven = await start_stream(jambonz, esl_client, fork_server, uid, "mono 16k bug6 {}", "bug6")
    assert seven.stream is None and seven.play_audio_enabled
    _, stream = await start_stream(jambonz, esl_client, fork_server, uid, STREAM_ARGS)
    assert stream.stream is not None and not stream.play_audio_enabled


async def test_stop_play_only_for_the_default_bug(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """stream-8k: ``stop_play`` on bug1 → -ERR; default-bug: +OK, clears the playout buffer
    but not the marks (reported ``playout`` later, not ``cleared``)."""
    uid = await jambonz.inbound_call(answer=True)  # no writer: the buffer stays observable
    await start_stream(jambonz, esl_client, fork_server, uid)
    assert await esl_client.api(f"uuid_audio_fork {uid} stop_play") == "-ERR Operation Failed\n"
    assert (
        await esl_client.api(f"uuid_audio_fork {uid} stop_play bug1") == "-ERR Operation Failed\n"
    )
    peer, fork = await start_stream(
        jambonz, esl_client, fork_server, uid, "mono 8k audio_fork {} true true 8000", "audio_fork"
    )
    assert fork.stream is not None
    await peer.ws.send(tone(440, 1.0))
    await peer.ws.send('{"type":"mark","data":{"name":"sp-end"}}')
    # the first 160 ms, then 80 ms at a time: 320 samples stay in the pre-buffer
    await jambonz.wait_until(lambda: fork.stream is not None and len(fork.stream.playout) == 7680)
    assert len(fork.stream.prebuf) == 320
    assert await esl_client.api(f"uuid_audio_fork {uid} stop_play") == "+OK Success\n"
    assert len(fork.stream.playout) == 0 and list(fork.stream.inventory) == ["sp-end"]
    assert await esl_client.api(f"uuid_audio_fork {uid} stop_play x y") == "+OK Success\n"


async def test_drachtio_has_no_stop_play_and_discards_binary(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await fake_switch.inbound_call(variables={"send_silence_when_idle": "-1"}, answer=True)
    peer, fork = await start_stream(
        fake_switch, esl_client, fork_server, uid, "mono 8k audio_fork {}", "audio_fork"
    )
    assert fork.stream is None
    await peer.ws.send(tone(440, 0.5))
    await peer.ws.send('{"type":"transcription","data":{"text":"after"}}')
    await fake_switch.wait_for_event("mod_audio_fork::transcription", uuid=uid)
    assert fake_switch.captured_audio(uid).streams == []
    assert await esl_client.api(f"uuid_audio_fork {uid} stop_play") == "-ERR Operation Failed\n"


# ---------------------------------------------------------------------- playout


async def test_first_streamed_audio_reaches_the_caller_within_two_ticks(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """stream-8k burst: 1 s in one message plays from the next write tick, without a gap,
    once zeros have flushed the pre-buffer's tail."""
    uid = await jambonz.inbound_call(variables={"send_silence_when_idle": "-1"}, answer=True)
    peer, fork = await start_stream(jambonz, esl_client, fork_server, uid)
    since = len(jambonz.events)
    sent_tick = tick_now(jambonz, fork)
    await peer.ws.send(tone(440, 1.0))
    await peer.ws.send(bytes(1600))
    await jambonz.wait_until(lambda: streamed_samples(jambonz, uid) >= 8000 + 512)
    heard = jambonz.captured_audio(uid)
    first = heard.first_stream_audio_tick()
    assert first is not None and 1 <= first[0] - sent_tick <= 2
    assert len(heard.streams) == 1
    run = heard.streams[0]
    assert run.ticks == list(range(run.first_tick, run.first_tick + len(run.frames)))  # no gap
    assert len(run.frames) == 54  # 1 s + the zeros that moved (832 of 1600 samples)
    assert abs(peak_hz(run.samples_native[:8000], 8000) - 440) < 10
    assert not run.samples_native[8000:].any()
    assert len(run.pcm) == 2 * 54 * 320  # at CallAudio's 16 kHz, like a playback's pcm
    names = {e.name for e in jambonz.events[since:] if e.unique_id == uid}
    assert not names & {"PLAYBACK_START", "PLAYBACK_STOP"}  # no event for streamed audio


async def test_nothing_plays_without_a_writer_until_a_playback_writes(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """no-silence: parked without send_silence_when_idle nothing is sent; the buffered audio
    comes out when a ``uuid_broadcast silence_stream://3000`` starts writing. Setting the
    variable after answer is too late (park read it when media came up)."""
    uid = await jambonz.inbound_call(answer=True)
    assert await esl_client.api(f"uuid_setvar {uid} send_silence_when_idle -1") == "+OK\n"
    peer, fork = await start_stream(jambonz, esl_client, fork_server, uid)
    await peer.ws.send(tone(440, 1.0))
    stream = fork.stream
    assert stream is not None
    await jambonz.wait_until(lambda: len(stream.playout) == 7680)
    passed = tick_now(jambonz, fork)
    await jambonz.wait_until(lambda: tick_now(jambonz, fork) >= passed + 5)
    assert fork.ticks == 0 and jambonz.captured_audio(uid).streams == []
    reply = await esl_client.api(f"uuid_broadcast {uid} silence_stream://3000 aleg")
    assert reply == "+OK Message sent\n"
    await jambonz.wait_for_event("PLAYBACK_START", uuid=uid)
    started = tick_now(jambonz, fork)
    await jambonz.wait_until(lambda: streamed_samples(jambonz, uid) >= 7680)
    run = jambonz.captured_audio(uid).streams[0]
    assert run.first_tick - started <= 1 and len(run.frames) == 48


async def test_setvar_before_answer_makes_park_write(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """The recorded sequence: uuid_setvar send_silence_when_idle -1, then uuid_answer."""
    uid = await jambonz.inbound_call(answer=False)
    assert await esl_client.api(f"uuid_setvar {uid} send_silence_when_idle -1") == "+OK\n"
    assert await esl_client.api(f"uuid_answer {uid}") == "+OK\n"
    peer, fork = await start_stream(jambonz, esl_client, fork_server, uid)
    sent_tick = tick_now(jambonz, fork)
    await peer.ws.send(tone(440, 0.5))
    await peer.ws.send(bytes(1600))  # 100 ms of zeros flushes the pre-buffer tail
    await jambonz.wait_until(lambda: streamed_samples(jambonz, uid) >= 4512)
    first = jambonz.captured_audio(uid).first_stream_audio_tick()
    assert first is not None and first[0] - sent_tick <= 2


async def test_streamed_audio_is_added_to_a_running_broadcast(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await jambonz.inbound_call(answer=True)  # the broadcast is the only writer
    peer, fork = await start_stream(jambonz, esl_client, fork_server, uid)
    await esl_client.api(f"uuid_broadcast {uid} tone_stream://%(1000,0,1000) aleg")
    await jambonz.wait_for_event("PLAYBACK_START", uuid=uid)
    await peer.ws.send(tone(2000, 0.3))
    await jambonz.wait_for_event("PLAYBACK_STOP", uuid=uid)
    heard = jambonz.captured_audio(uid)
    assert heard.streams and heard.playbacks
    both = heard.timeline()
    spectrum = np.abs(np.fft.rfft(both.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(both), 1 / heard.sample_rate)
    strongest = {round(float(f), -2) for f in freqs[np.argsort(spectrum)[-6:]]}
    assert {1000.0, 2000.0} <= strongest


# ---------------------------------------------------------------------- killAudio and marks


async def test_kill_audio_clears_breaks_and_reports_marks_cleared(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """stream-8k kill: kill_audio without body, running broadcast broken, the pending mark
    answered ``cleared`` byte for byte, nothing more played."""
    uid = await jambonz.inbound_call(variables={"send_silence_when_idle": "-1"}, answer=True)
    peer, fork = await start_stream(jambonz, esl_client, fork_server, uid)
    await esl_client.api(f"uuid_broadcast {uid} silence_stream://-1 aleg")
    await jambonz.wait_for_event("PLAYBACK_START", uuid=uid)
    await peer.ws.send(tone(550, 3.0))
    await peer.ws.send('{"type": "mark", "data": {"name": "kill-end"}}')
    await jambonz.wait_until(lambda: streamed_samples(jambonz, uid) >= 1600)
    texts_before = len(peer.texts)
    since = len(jambonz.events)
    await peer.ws.send('{"type": "killAudio"}')
    texts = await wait_texts(peer, texts_before + 1, jambonz)
    recorded = [
        (f.get("text") or "")
        for f in frames("stream-8k")
        if f["dir"] == "recv" and "cleared" in (f.get("text") or "")
    ]
    assert texts[texts_before:] == recorded
    kill = await jambonz.wait_for_event("mod_audio_fork::kill_audio", uuid=uid, since=since)
    assert kill.body is None
    stop = await jambonz.wait_for_event("PLAYBACK_STOP", uuid=uid, since=since)
    assert stop.get("Playback-Status") == "break"
    played = streamed_samples(jambonz, uid)
    assert played < 3 * 8000
    ticks = fork.ticks
    await jambonz.wait_until(lambda: fork.ticks >= ticks + 3)
    assert streamed_samples(jambonz, uid) == played


async def test_marks_are_answered_byte_exact_when_playout_reaches_them(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """default-bug marks: before audio, between messages, after the last audio."""
    uid = await jambonz.inbound_call(variables={"send_silence_when_idle": "-1"}, answer=True)
    peer, fork = await start_stream(jambonz, esl_client, fork_server, uid)
    n = len(await wait_texts(peer, 1, jambonz))  # the metadata
    await peer.ws.send('{"type": "mark", "data": {"name": "m0-before-audio"}}')
    await peer.ws.send(tone(440, 0.2))
    await peer.ws.send('{"type": "mark", "data": {"name": "m1"}}')
    await peer.ws.send(tone(440, 0.2))
    await peer.ws.send('{"type": "mark", "data": {"name": "m2"}}')
    texts = await wait_texts(peer, n + 3, jambonz)
    recorded = [
        (f.get("text") or "")
        for f in frames("default-bug")
        if f["dir"] == "recv"
        and any(f'"{m}"' in (f.get("text") or "") for m in ("m0-before-audio", "m1", "m2"))
    ]
    assert texts[n:] == recorded
    run = jambonz.captured_audio(uid).streams[0]
    # m2 fired when the playout buffer ran empty: the last 576 samples (72 ms) are still in
    # the pre-buffer and do not delay it (17 frames, the last one partly filled)
    assert fork.stream is not None and len(fork.stream.prebuf) == 576
    assert len(run.frames) == 17


async def test_play_audio_is_refused_on_a_streaming_bug(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    uid = await jambonz.inbound_call(variables={"send_silence_when_idle": "-1"}, answer=True)
    peer, _ = await start_stream(jambonz, esl_client, fork_server, uid)
    play = {
        "type": "playAudio",
        "data": {"audioContentType": "raw", "sampleRate": 8000, "audioContent": "AAAA"},
    }
    await peer.ws.send(json.dumps(play))
    await peer.ws.send('{"type": "streamAudio", "data": {}}')
    await peer.ws.send('{"type": "transcription", "data": {"text": "hello", "final": true}}')
    ev = await jambonz.wait_for_event("mod_audio_fork::transcription", uuid=uid)
    assert ev.body == '{"text":"hello","final":true}'
    customs = [e.key for e in jambonz.events_for(uid) if e.name == "CUSTOM"]
    assert "mod_audio_fork::play_audio" not in customs
    assert list(jambonz.temp_dir.iterdir()) == []


# ---------------------------------------------------------------------- the model, exactly


def test_pre_buffer_holds_160_ms_then_80_ms() -> None:
    buf = StreamBuffer(8000, 8000)
    frame = bytes(tone(440, 0.02))
    for _ in range(7):
        buf.feed(frame)
    assert len(buf.playout) == 0 and len(buf.prebuf) == 1120
    buf.feed(frame)
    assert len(buf.playout) == 1280 and not buf.prebuf
    for _ in range(3):
        buf.feed(frame)
    assert len(buf.playout) == 1280
    buf.feed(frame)
    assert len(buf.playout) == 1920
    # 16 kHz into 8 kHz: twice the samples, the same durations
    wide = StreamBuffer(16000, 8000)
    wide.feed(bytes(tone(440, 0.14, 16000)))
    assert len(wide.playout) == 0
    wide.feed(bytes(tone(440, 0.02, 16000)))
    assert wide.threshold == 1280


def test_the_tail_under_80_ms_stays_until_more_audio() -> None:
    """'1 s sent as 20 ms messages played 960 ms'; trailing zeros flush it."""
    buf = StreamBuffer(8000, 8000)
    second = tone(440, 1.0)
    for at in range(0, len(second), 320):
        buf.feed(second[at : at + 320])
    assert len(buf.playout) == 7680 and len(buf.prebuf) == 320
    buf.feed(bytes(1600))
    assert len(buf.playout) == 7680 + 320 + 512  # the audio tail and the first zeros piece
    assert len(buf.prebuf) == 288 and not any(buf.prebuf)  # what stays is zeros


def test_odd_byte_counts_and_1024_byte_pieces() -> None:
    buf = StreamBuffer(8000, 8000)
    data = tone(440, 0.5)
    for at in range(0, len(data), 333):
        buf.feed(data[at : at + 333])
    total = len(buf.playout) + len(buf.prebuf) + (buf.set_aside is not None) / 2
    assert total == 4000
    one = StreamBuffer(8000, 8000)
    one.feed(bytes(800) + tone(440, 0.5))  # 50 ms then 500 ms: the stream-8k "tail"
    assert len(one.prebuf) < 640


def test_audio_right_after_kill_is_lost_and_60_ms_later_plays() -> None:
    buf = StreamBuffer(8000, 8000)
    buf.feed(tone(550, 3.0))
    assert buf.tick(160).samples is not None
    buf.kill()
    buf.feed(tone(660, 1.0))  # before the next write tick
    cleared = buf.tick(160)
    assert cleared.cleared and cleared.samples is None and len(buf.playout) == 0
    buf.kill()
    assert buf.tick(160).cleared
    buf.feed(tone(660, 1.0))  # after the clearing tick
    assert buf.tick(160).samples is not None and len(buf.playout) > 7000


def test_marks_cleared_max_30_and_clear_marks_silent() -> None:
    buf = StreamBuffer(8000, 8000)
    for i in range(MAX_MARKS + 2):
        buf.mark(f"m{i}")
    assert len(buf.inventory) == MAX_MARKS
    buf.clear_marks()
    buf.feed(tone(440, 0.2))
    assert all(not buf.tick(160).marks for _ in range(20))
    buf.mark("k1")
    buf.feed(tone(440, 1.0))
    buf.mark("k2")
    buf.kill()
    tick = buf.tick(160)
    assert tick.marks == [mark_text("k1", "cleared"), mark_text("k2", "cleared")]
    assert mark_text("x", "playout") == '{"type": "mark", "data": {"name":"x", "event": "playout"}}'


def test_minus_one_samples_pop_marks_early() -> None:
    """extras minus1_vs_marks: a -1 every 50 ms popped marks due at 2 s and 3 s early."""
    buf = StreamBuffer(8000, 8000)
    a1 = np.frombuffer(tone(440, 2.0), dtype="<i2").copy()
    a1[400::400] = -1
    buf.feed(a1.tobytes())
    buf.mark("x1")
    buf.feed(tone(440, 1.0))
    buf.mark("x2")
    buf.feed(tone(440, 1.0))
    fired = {t: buf.tick(160).marks for t in range(10)}
    assert fired[2] == [mark_text("x1", "playout")] and fired[5] == [mark_text("x2", "playout")]


def test_resampling_fires_every_in_use_mark_at_the_first_frame() -> None:
    """extras marks16k: r0, r1, r2 all at the first packet; r3 (after the last audio) when
    the playout buffer runs empty."""
    buf = StreamBuffer(16000, 8000)
    buf.mark("r0")
    for k in range(1, 4):
        buf.feed(tone(1000, 1.0, 16000))
        buf.mark(f"r{k}")
    first = buf.tick(160)
    assert first.marks == [mark_text(f"r{k}", "playout") for k in range(3)]
    later = [buf.tick(160) for _ in range(160)]
    empty = next(i for i, t in enumerate(later) if t.samples is None)
    assert [i for i, t in enumerate(later) if t.marks] == [empty]
    assert later[empty].marks == [mark_text("r3", "playout")]


# ---------------------------------------------------------------------- replaying the captures

# Phases where the replay cannot match the capture packet for packet:
# - extras marks16k: speex's output length for three 1 s messages differs by one packet;
# - extras bargein_recipe: the killAudio and a write tick were < 0.5 ms apart;
# - extras minus1_vs_marks / stereo_upstream: other bugs (replayed from extras-m1 below).
SKIP = {("extras", "bargein_recipe"), ("extras", "minus1_vs_marks"), ("extras", "stereo_upstream")}
NEAR = {("extras", "marks16k")}


@pytest.mark.parametrize(
    ("name", "rate", "bug"),
    [
        ("stream-8k", 8000, "bug1"),
        ("stream-16k", 16000, "bug1"),
        ("default-bug", 8000, "audio_fork"),
        ("extras", 16000, "audio_fork"),
    ],
)
def test_replayed_capture_plays_what_the_caller_heard(name: str, rate: int, bug: str) -> None:
    """Every phase's runs of audible packets (count and start) as captured at the caller."""
    result = replay(name, rate, bug=bug)
    phases = rtp_runs(name)["phases"]
    for k, phase in enumerate(phases):
        if (name, phase["name"]) in SKIP:
            continue
        end = phases[k + 1]["t_ms"] if k + 1 < len(phases) else 1e12
        got = result.runs_between(phase["t_ms"], end)
        want = phase["audio_runs_to_caller"]
        assert len(got) == len(want), (phase["name"], got, want)
        for (first, _, packets), run in zip(got, want, strict=True):
            slack = 1 if (name, phase["name"]) in NEAR else 0
            assert abs(packets - run["packets"]) <= slack, (phase["name"], packets, run)
            assert abs(first - run["first_ms"]) < 1.5, (phase["name"], first, run)


@pytest.mark.parametrize(
    ("name", "rate", "bug", "runs_of"),
    [
        ("stream-8k", 8000, "bug1", None),
        ("stream-16k", 16000, "bug1", None),
        ("default-bug", 8000, "audio_fork", None),
        ("extras", 16000, "audio_fork", None),
        ("extras-m1", 8000, "bugm", "extras"),
    ],
)
def test_replayed_capture_answers_the_recorded_marks(
    name: str, rate: int, bug: str, runs_of: str | None
) -> None:
    """The mark text frames byte for byte, each on the tick it was captured (±1 tick after
    the two phases the capture replay cannot match packet for packet, see SKIP/NEAR)."""
    result = replay(name, rate, bug=bug, runs_of=runs_of)
    want = [(f["t_ms"], (f.get("text") or "")) for f in frames(name) if f["dir"] == "recv"]
    want = [(t, text) for t, text in want if text.startswith('{"type": "mark"')]
    if name == "extras":
        # big-end fired after a resampled tone's -1 popped the marker recipe-end lost in the
        # resampler; the emulator's resampler made no -1 there (README: not emulated)
        want = [(t, text) for t, text in want if '"big-end"' not in text]
    assert [text for _, text in result.marks] == [text for _, text in want]
    for (t_got, text), (t_want, _) in zip(result.marks, want, strict=True):
        late = ('"recipe-end"', '"r3-after-a3"')  # the bargein_recipe race; marks16k's packet
        slack = 21.0 if any(name in text for name in late) else 1.5
        assert abs(t_got - t_want) < slack, (text, t_got, t_want)


async def test_kill_ends_the_silence_broadcast_and_later_audio_waits(
    jambonz: FakeFreeSwitch, esl_client: EslTestClient, fork_server: ForkServer
) -> None:
    """no-silence broadcast_silence_forever: ``silence_stream://-1`` as the writer plays the
    stream; killAudio breaks that broadcast, so audio sent after it is not heard (nothing
    writes; the clearing itself waits for the next write tick)."""
    uid = await jambonz.inbound_call(answer=True)
    peer, fork = await start_stream(jambonz, esl_client, fork_server, uid)
    await esl_client.api(f"uuid_broadcast {uid} silence_stream://-1 aleg")
    await jambonz.wait_for_event("PLAYBACK_START", uuid=uid)
    await peer.ws.send(tone(550, 3.0))
    await jambonz.wait_until(lambda: streamed_samples(jambonz, uid) >= 1600)
    since = len(jambonz.events)
    await peer.ws.send('{"type": "killAudio"}')
    stop = await jambonz.wait_for_event("PLAYBACK_STOP", uuid=uid, since=since)
    assert stop.get("Playback-Status") == "break"
    played, ticks = streamed_samples(jambonz, uid), fork.ticks
    await peer.ws.send(tone(660, 1.0))
    stream = fork.stream
    assert stream is not None
    await jambonz.wait_until(lambda: len(stream.playout) > 7000)  # the new audio, buffered
    passed = tick_now(jambonz, fork)
    await jambonz.wait_until(lambda: tick_now(jambonz, fork) >= passed + 5)
    assert streamed_samples(jambonz, uid) == played and fork.ticks == ticks
