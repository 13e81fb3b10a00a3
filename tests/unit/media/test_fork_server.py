"""The mod_audio_fork websocket server against recorded FreeSWITCH bytes and real clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from callcontrol.config import ForkSettings
from callcontrol.media.fork_server import ForkServer
from callcontrol.media.fork_wire import KillAudio, PlayAudio, compact_json
from tests.fakes.media import (
    REC,
    FakeRegistry,
    mask_frame,
    raw_session,
    recorded_metadata,
    split_frames,
)

CALL_16K = "8bb39c01-0730-4849-bec0-2025c7656f2c"  # the call in the ws-fork-mono-16k recording
SUB = Subprotocol("audio.drachtio.org")


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
async def server(registry: FakeRegistry) -> AsyncIterator[ForkServer]:
    settings = ForkSettings(port=0, metadata_timeout=0.5, max_frame_bytes=8192)
    async with ForkServer(registry, settings, host="127.0.0.1") as srv:
        yield srv


def url(server: ForkServer, call_id: str, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/fork/{call_id}{query}"


def metadata(call_id: str, token: str, **extra: object) -> str:
    return compact_json({"callId": call_id, "token": token, **extra})


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def frames_of(registry: FakeRegistry, call_id: str) -> int:
    consumer = registry.consumers.get(call_id)
    return -1 if consumer is None else len(consumer.frames)


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; returns its close code and reason."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    await ws.wait_closed()
    return ws.close_code, ws.close_reason


# --- byte-exact replay of FreeSWITCH ------------------------------------------------------


def _recorded_client_frames() -> list[tuple[int, bytes, int]]:
    return split_frames((REC / "ws-fork-mono-16k.wire-head.bin").read_bytes())


async def test_replayed_freeswitch_upgrade_and_audio_frames(
    server: ForkServer, registry: FakeRegistry
) -> None:
    """FreeSWITCH's exact GET and masked binary frames; only the metadata frame is ours,
    because the recording's metadata carries no token."""
    token = registry.add_call(CALL_16K)
    request = (REC / "ws-fork-mono-16k.upgrade-request.bin").read_bytes()
    frames = _recorded_client_frames()
    assert frames[0][0] == 1 and all(op == 2 for op, _raw, _n in frames[1:])
    meta = recorded_metadata("ws-fork-mono-16k") | {"token": token}
    wire = mask_frame(1, compact_json(meta).encode()) + b"".join(raw for _op, raw, _n in frames[1:])

    result = await raw_session(server.port, request, wire)

    assert result.status == "HTTP/1.1 101 Switching Protocols"
    assert result.headers["sec-websocket-protocol"] == SUB
    # the same accept value our recorder's server answered FreeSWITCH with
    assert result.headers["sec-websocket-accept"] == "RPZwJFVZhSInmQ0HHDlN9uzVuEQ="
    assert result.close == (1000, "")
    consumer = registry.consumers[CALL_16K]
    audio = (REC / "ws-fork-mono-16k.audio-L16LE-16000Hz-1ch.raw").read_bytes()
    n = len(frames) - 1
    assert [len(f) for f in consumer.frames] == [480] * n
    assert consumer.samples.tobytes() == audio[: n * 960]
    assert consumer.rates == {16000}
    await wait_for(lambda: bool(consumer.closed))
    assert consumer.closed == [(1000, "")]
    assert registry.metadata[CALL_16K].mix == "mono" and registry.metadata[CALL_16K].extra == {}
    stats = server.stats
    assert stats.frames_received == n and stats.frames_dropped == 0 and stats.active == 0


async def test_replayed_recording_without_token_is_refused(
    server: ForkServer, registry: FakeRegistry
) -> None:
    registry.add_call(CALL_16K)
    request = (REC / "ws-fork-mono-16k.upgrade-request.bin").read_bytes()
    wire = (REC / "ws-fork-mono-16k.wire-head.bin").read_bytes()
    wire = b"".join(raw for _op, raw, _n in split_frames(wire))
    result = await raw_session(server.port, request, wire, then_close=False)
    assert result.close == (1008, "metadata has no token")
    assert CALL_16K not in registry.consumers
    assert server.stats.refused["bad_metadata"] == 1


@pytest.mark.parametrize(
    ("run", "raw", "rate", "mix", "frame_bytes"),
    [
        ("ws-fork-mono-8k", "audio-L16LE-8000Hz-1ch.raw", 8000, "mono", 480),
        ("ws-fork-mono-16k", "audio-L16LE-16000Hz-1ch.raw", 16000, "mono", 960),
        ("ws-fork-stereo-16k", "audio-L16LE-16000Hz-2ch.raw", 16000, "stereo", 1920),
    ],
)
async def test_each_recorded_upgrade_request_with_its_audio(
    server: ForkServer,
    registry: FakeRegistry,
    run: str,
    raw: str,
    rate: int,
    mix: str,
    frame_bytes: int,
) -> None:
    """FreeSWITCH's GET of each run, then its 3 s of audio in the frame size it used."""
    request = (REC / f"{run}.upgrade-request.bin").read_bytes()
    path = request.split(b" ")[1].decode()  # /fork/<uuid>?mix=…&rate=…
    call_id = path.split("/")[2].split("?")[0]
    token = registry.add_call(call_id)
    audio = (REC / f"{run}.{raw}").read_bytes()
    meta = {"callId": call_id, "token": token, "rate": rate, "mix": mix}
    wire = mask_frame(1, compact_json(meta).encode()) + b"".join(
        mask_frame(2, audio[i : i + frame_bytes]) for i in range(0, len(audio), frame_bytes)
    )
    result = await raw_session(server.port, request, wire)
    assert result.status.startswith("HTTP/1.1 101") and result.close == (1000, "")
    consumer = registry.consumers[call_id]
    pcm = np.frombuffer(audio, dtype="<i2")
    np.testing.assert_array_equal(consumer.samples, pcm[::2] if mix == "stereo" else pcm)
    assert consumer.rates == {rate}


# --- real client sessions ---------------------------------------------------------------


async def stream(ws: ClientConnection, data: bytes, frame_bytes: int, pace: float = 0.0) -> int:
    sent = 0
    for i in range(0, len(data), frame_bytes):
        await ws.send(data[i : i + frame_bytes])
        sent += 1
        if pace:
            await asyncio.sleep(pace)
    return sent


@pytest.mark.parametrize(
    ("name", "rate", "mix", "frame_bytes"),
    [
        ("ws-fork-mono-16k.audio-L16LE-16000Hz-1ch.raw", 16000, "mono", 960),
        ("ws-fork-mono-8k.audio-L16LE-8000Hz-1ch.raw", 8000, "mono", 480),
        ("ws-fork-stereo-16k.audio-L16LE-16000Hz-2ch.raw", 16000, "stereo", 1920),
    ],
)
async def test_recorded_audio_reaches_the_consumer(
    server: ForkServer, registry: FakeRegistry, name: str, rate: int, mix: str, frame_bytes: int
) -> None:
    token = registry.add_call("call-1")
    data = (REC / name).read_bytes()
    async with connect(url(server, "call-1"), subprotocols=[SUB], compression=None) as ws:
        await ws.send(metadata("call-1", token, rate=rate, mix=mix))
        sent = await stream(ws, data, frame_bytes)
        await wait_for(lambda: frames_of(registry, "call-1") == sent)
    consumer = registry.consumers["call-1"]
    pcm = np.frombuffer(data, dtype="<i2")
    want = pcm.reshape(-1, 2)[:, 0] if mix == "stereo" else pcm
    np.testing.assert_array_equal(consumer.samples, want)
    assert consumer.rates == {rate}
    await wait_for(lambda: bool(consumer.closed))
    assert consumer.closed == [(1000, "")]


async def test_texts_go_to_the_consumer_and_empty_frames_are_a_graceful_shutdown(
    server: ForkServer, registry: FakeRegistry
) -> None:
    token = registry.add_call("c1")
    async with connect(url(server, "c1"), subprotocols=[SUB]) as ws:
        await ws.send(metadata("c1", token))
        await ws.send('{"type":"dtmf","digit":"5"}')
        await ws.send(b"\x00\x00" * 320)
        await ws.send(b"")
        await ws.send('{"reason":"done"}')
        await wait_for(
            lambda: "c1" in registry.consumers and len(registry.consumers["c1"].texts) == 2
        )
    consumer = registry.consumers["c1"]
    assert consumer.texts == ['{"type":"dtmf","digit":"5"}', '{"reason":"done"}']
    assert len(consumer.frames) == 1
    await wait_for(lambda: server.stats.active == 0)
    assert server.stats.frames_received == 1


async def test_the_link_sends_server_messages_to_freeswitch(
    server: ForkServer, registry: FakeRegistry
) -> None:
    token = registry.add_call("c1")
    async with connect(url(server, "c1"), subprotocols=[SUB]) as ws:
        await ws.send(metadata("c1", token))
        await wait_for(lambda: "c1" in registry.consumers)
        link = registry.consumers["c1"].link
        assert link is not None and link.call_id == "c1" and not link.closed
        pcm = np.arange(320, dtype=np.int16).tobytes()
        await link.send_message(PlayAudio(pcm, 16000, text="hi"))  # type: ignore[attr-defined]
        await link.send_message(KillAudio())  # type: ignore[attr-defined]
        play = json.loads(await ws.recv())
        assert play["type"] == "playAudio"
        assert base64.b64decode(play["data"]["audioContent"]) == pcm
        assert json.loads(await ws.recv()) == {"type": "killAudio"}
        await link.close(1000, "bye")
        assert await closed_with(ws) == (1000, "bye")
    assert link.closed
    await link.send_text("after close is ignored")


# --- bad input: only the offending connection is closed ---------------------------------


class GoodCall:
    """A well-behaved fork streaming 20 ms frames in real time beside the bad one."""

    def __init__(self, server: ForkServer, registry: FakeRegistry) -> None:
        self.server, self.registry = server, registry
        self.sent = 0
        self.stop = asyncio.Event()
        self.ws: ClientConnection | None = None

    async def run(self) -> None:
        token = self.registry.add_call("good")
        async with connect(url(self.server, "good"), subprotocols=[SUB]) as ws:
            self.ws = ws
            await ws.send(metadata("good", token))
            frame = (np.arange(320) % 100).astype("<i2").tobytes()
            while not self.stop.is_set():
                await ws.send(frame)
                self.sent += 1
                await asyncio.sleep(0.02)


BadCase = Callable[[ClientConnection, str], Awaitable[None]]


async def _send(ws: ClientConnection, *messages: str | bytes) -> None:
    for m in messages:
        await ws.send(m)


BAD_CASES: list[tuple[str, str, BadCase, int, str, str]] = [
    # (id, call id in the path, what the client does, code, reason, counter key)
    (
        "binary-before-metadata",
        "bad",
        lambda ws, t: _send(ws, b"\x00\x00" * 10),
        1003,
        "binary frame before the metadata text frame",
        "binary_before_metadata",
    ),
    (
        "metadata-not-json",
        "bad",
        lambda ws, t: _send(ws, "hello there"),
        1003,
        "metadata is not JSON",
        "bad_metadata",
    ),
    (
        "metadata-without-token",
        "bad",
        lambda ws, t: _send(ws, '{"callId":"bad"}'),
        1008,
        "metadata has no token",
        "bad_metadata",
    ),
    (
        "wrong-token",
        "bad",
        lambda ws, t: _send(ws, metadata("bad", t + "x")),
        1008,
        "wrong token",
        "bad_token",
    ),
    (
        "unknown-call",
        "nobody",
        lambda ws, t: _send(ws, metadata("nobody", t)),
        1008,
        "unknown call",
        "unknown_call",
    ),
    (
        "callid-mismatch",
        "bad",
        lambda ws, t: _send(ws, metadata("other", t)),
        1008,
        "metadata callId does not match the path",
        "call_mismatch",
    ),
    (
        "odd-length-pcm",
        "bad",
        lambda ws, t: _send(ws, metadata("bad", t), b"\x00" * 961),
        1003,
        "audio frame of 961 bytes is not whole 1-channel L16 samples",
        "bad_audio",
    ),
    (
        "stereo-not-whole-frames",
        "bad",
        lambda ws, t: _send(ws, metadata("bad", t, mix="stereo"), b"\x00" * 962),
        1003,
        "audio frame of 962 bytes is not whole 2-channel L16 samples",
        "bad_audio",
    ),
    (
        "oversized-frame",
        "bad",
        lambda ws, t: _send(ws, metadata("bad", t), b"\x00" * 9000),
        1009,
        "",
        "frame_too_big",
    ),
    (
        "bad-rate",
        "bad",
        lambda ws, t: _send(ws, metadata("bad", t, rate=44100)),
        1003,
        "metadata rate 44100 is not one of (8000, 16000)",
        "bad_metadata",
    ),
    (
        "no-metadata-in-time",
        "bad",
        lambda ws, t: asyncio.sleep(0),
        1008,
        "no metadata text frame within 0.5 s",
        "metadata_timeout",
    ),
]


@pytest.mark.parametrize(
    ("path_call", "act", "code", "reason", "key"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
async def test_bad_input_closes_only_that_connection(
    server: ForkServer,
    registry: FakeRegistry,
    path_call: str,
    act: BadCase,
    code: int,
    reason: str,
    key: str,
) -> None:
    good = GoodCall(server, registry)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(good.run())
        await wait_for(lambda: good.sent >= 3 and "good" in registry.consumers)
        token = registry.add_call("bad")
        async with connect(url(server, path_call), subprotocols=[SUB]) as ws:
            await act(ws, token)
            got_code, got_reason = await closed_with(ws)
        assert got_code == code
        if code != 1009:  # websockets words the 1009 reason itself
            assert got_reason == reason
        # the good call kept streaming through the refusal
        before = good.sent
        await wait_for(lambda: good.sent >= before + 5)
        good.stop.set()
        await task
    consumer = registry.consumers["good"]
    await wait_for(lambda: len(consumer.frames) == good.sent and bool(consumer.closed))
    assert consumer.closed == [(1000, "")]
    assert server.stats.refused[key] == 1
    assert sum(server.stats.refused.values()) == 1
    if "bad" in registry.consumers:  # refused after attach: closed exactly once
        assert len(registry.consumers["bad"].closed) == 1


async def test_wrong_path_and_subprotocol_are_refused_at_the_handshake(
    server: ForkServer, registry: FakeRegistry
) -> None:
    registry.add_call("c1")
    for target, subprotocols, status in [
        (f"ws://127.0.0.1:{server.port}/other/c1", [SUB], 404),
        (f"ws://127.0.0.1:{server.port}/fork/a%20b", [SUB], 404),
        (f"ws://127.0.0.1:{server.port}/fork/", [SUB], 404),
        (url(server, "c1"), list[Subprotocol](), 400),
        (url(server, "c1"), [Subprotocol("something.else")], 400),
    ]:
        with pytest.raises(InvalidStatus) as err:
            async with connect(target, subprotocols=subprotocols or None):
                pass
        assert err.value.response.status_code == status, target
    assert server.stats.refused["bad_path"] == 3
    assert server.stats.refused["handshake"] == 2


async def test_the_subprotocol_name_is_configurable(registry: FakeRegistry) -> None:
    token = registry.add_call("c1")
    settings = ForkSettings(port=0, subprotocol="custom.fork.name")
    async with ForkServer(registry, settings, host="127.0.0.1") as srv:
        async with connect(url(srv, "c1"), subprotocols=[Subprotocol("custom.fork.name")]) as ws:
            assert ws.subprotocol == "custom.fork.name"
            await ws.send(metadata("c1", token))
            await ws.send(b"\x01\x00" * 160)
            await wait_for(lambda: frames_of(registry, "c1") > 0)
        with pytest.raises(InvalidStatus):
            async with connect(url(srv, "c1"), subprotocols=[SUB]):
                pass


async def test_a_consumer_that_raises_loses_frames_not_the_server(
    server: ForkServer, registry: FakeRegistry
) -> None:
    registry.consumer_options["boom"] = {"explode": True}
    bad_token = registry.add_call("boom")
    ok_token = registry.add_call("ok")
    async with (
        connect(url(server, "boom"), subprotocols=[SUB]) as bad,
        connect(url(server, "ok"), subprotocols=[SUB]) as ok,
    ):
        await bad.send(metadata("boom", bad_token))
        await ok.send(metadata("ok", ok_token))
        for _ in range(10):
            await bad.send(b"\x00\x00" * 160)
            await ok.send(b"\x00\x00" * 160)
        await bad.send("some text")
        await wait_for(lambda: frames_of(registry, "ok") == 10)
        await wait_for(lambda: server.stats.frames_received == 20)
    await wait_for(lambda: server.stats.active == 0)
    assert server.stats.frames_dropped == 10
    assert server.stats.consumer_errors == 12  # 10 frames, 1 text, 1 on_close
    assert registry.consumers["boom"].closed == [(1000, "")]


async def test_refused_frames_are_counted_per_call(
    server: ForkServer, registry: FakeRegistry
) -> None:
    registry.consumer_options["full"] = {"accept": False}
    token = registry.add_call("full")
    async with connect(url(server, "full"), subprotocols=[SUB]) as ws:
        await ws.send(metadata("full", token))
        for _ in range(5):
            await ws.send(b"\x00\x00" * 160)
        await wait_for(lambda: server.stats.frames_dropped == 5)
        (session,) = server.stats.sessions.values()
        assert (session.call_id, session.frames_received, session.frames_dropped) == ("full", 5, 5)
        assert session.bytes_received == 5 * 320


@pytest.mark.parametrize(("explode", "code", "reason"), [(True, 1011, "call lookup failed")])
async def test_registry_failures_close_with_1011(
    server: ForkServer, registry: FakeRegistry, explode: bool, code: int, reason: str
) -> None:
    registry.explode = explode
    async with connect(url(server, "c1"), subprotocols=[SUB]) as ws:
        await ws.send(metadata("c1", "t"))
        assert await closed_with(ws) == (code, reason)


async def test_attach_refusal_is_an_unknown_call(
    server: ForkServer, registry: FakeRegistry
) -> None:
    registry.refuse_attach = True
    token = registry.add_call("c1")
    async with connect(url(server, "c1"), subprotocols=[SUB]) as ws:
        await ws.send(metadata("c1", token))
        assert await closed_with(ws) == (1008, "unknown call")


async def test_closing_the_server_closes_sessions_and_tells_consumers(
    registry: FakeRegistry,
) -> None:
    token = registry.add_call("c1")
    srv = ForkServer(registry, ForkSettings(port=0), host="127.0.0.1")
    await srv.start()
    async with connect(url(srv, "c1"), subprotocols=[SUB]) as ws:
        await ws.send(metadata("c1", token))
        await wait_for(lambda: "c1" in registry.consumers)
        await srv.aclose()
        assert await closed_with(ws) == (1001, "")
    assert registry.consumers["c1"].closed == [(1001, "")]


def test_recorded_accept_key_matches_rfc6455() -> None:
    """Sanity check of the constant used above."""
    key = "0wCAqfapQ/Vg/S1PlbBbhA=="
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert base64.b64encode(digest).decode() == "RPZwJFVZhSInmQ0HHDlN9uzVuEQ="
