"""The direct transport: hello parsing, the /direct endpoint and paced playback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callcontrol.config import ForkSettings
from callcontrol.errors import MediaError
from callcontrol.media.base import AudioOutput, PlaybackEvent, PlaybackFinished
from callcontrol.media.direct import DirectPlayback
from callcontrol.media.direct_auth import SIGNED_TTL_S, DirectAuth
from callcontrol.media.direct_client import call_direct
from callcontrol.media.direct_wire import DirectHello, parse_direct_event, ready_event
from callcontrol.media.fork_server import ForkServer
from callcontrol.media.fork_wire import ForkWireError
from tests.fakes.media import FakeRegistry

# --- wire ------------------------------------------------------------------------------


def test_hello_roundtrip() -> None:
    hello = DirectHello.parse('{"owner":"cli:alice","sampleRate":8000,"token":"t","lang":"es"}')
    assert (hello.owner, hello.sample_rate, hello.token, dict(hello.extra)) == (
        "cli:alice",
        8000,
        "t",
        {"lang": "es"},
    )
    assert DirectHello.parse(hello.to_json()) == hello
    assert DirectHello.parse('{"owner":"x"}').sample_rate == 16000


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope", 1003),
        ("{}", 1008),
        ('{"owner":"  "}', 1008),
        ('{"owner":"x","sampleRate":4000}', 1003),
        ('{"owner":"x","sampleRate":"16000"}', 1003),
        ('{"owner":"x","token":1}', 1008),
    ],
)
def test_bad_hellos(text: str, code: int) -> None:
    with pytest.raises(ForkWireError) as err:
        DirectHello.parse(text)
    assert err.value.close_code == code


def test_events() -> None:
    assert parse_direct_event(ready_event("direct-1", 16000, 20)) == {
        "type": "ready",
        "callId": "direct-1",
        "sampleRate": 16000,
        "frameMs": 20,
    }
    with pytest.raises(ForkWireError):
        parse_direct_event('{"no":"type"}')


# --- endpoint ---------------------------------------------------------------------------


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


SECRET = "test-direct-secret"


def settings(**kw: object) -> ForkSettings:
    kw.setdefault("direct_token", SecretStr(SECRET))
    return ForkSettings.model_validate(
        {"port": 0, "metadata_timeout": 0.5, "direct_lead_ms": 60, **kw}
    )


@pytest.fixture
async def server(registry: FakeRegistry) -> AsyncIterator[ForkServer]:
    async with ForkServer(registry, settings(), direct=registry, host="127.0.0.1") as srv:
        yield srv


async def hello(ws: ClientConnection, rate: int = 16000, **extra: object) -> dict[str, object]:
    extra.setdefault("token", SECRET)
    await ws.send(json.dumps({"owner": "test", "sampleRate": rate, **extra}))
    return parse_direct_event(await ws.recv())


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    await ws.wait_closed()
    return ws.close_code, ws.close_reason


async def test_audio_in_and_bot_audio_out(server: ForkServer, registry: FakeRegistry) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/direct") as ws:
        assert ws.subprotocol is None
        ready = await hello(ws, 8000)
        call_id = ready["callId"]
        assert isinstance(call_id, str) and call_id.startswith("direct-")
        assert ready["sampleRate"] == 8000 and ready["frameMs"] == 20
        # caller audio in
        pcm = (np.arange(8000) % 50).astype("<i2")
        for i in range(0, len(pcm), 160):
            await ws.send(pcm[i : i + 160].tobytes())
        await ws.send('{"type":"hangup"}')
        consumer = registry.consumers[call_id]
        async with asyncio.timeout(5):
            while len(consumer.texts) < 1:
                await asyncio.sleep(0.01)
        np.testing.assert_array_equal(consumer.samples, pcm)
        assert consumer.rates == {8000}
        assert registry.hellos[call_id].owner == "test"

        # bot audio out: 0.5 s at 16 kHz arrives as 20 ms frames at the client's 8 kHz
        output = registry.outputs[call_id]
        t0 = time.monotonic()
        handle = await output.play(np.full(8000, 1000, np.int16), 16000, "hi there")
        got = bytearray()
        texts = []
        while True:
            msg = await ws.recv()
            if isinstance(msg, bytes):
                assert len(msg) <= 320
                got += msg
            else:
                texts.append(parse_direct_event(msg))
                if texts[-1].get("event") == "finished":
                    break
        elapsed = time.monotonic() - t0
        assert len(got) == pytest.approx(8000, abs=4)  # 0.5 s at 8 kHz, 2 bytes a sample
        assert 0.4 <= elapsed <= 1.5  # paced in real time, not dumped
        assert [t["event"] for t in texts] == ["started", "finished"]
        assert texts[0]["text"] == "hi there"
        result = await handle.wait()
        assert not result.interrupted and result.position_ms == pytest.approx(500, abs=1)


async def test_clear_stops_the_audio_and_tells_the_client(
    server: ForkServer, registry: FakeRegistry
) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/direct") as ws:
        call_id = (await hello(ws))["callId"]
        output = registry.outputs[str(call_id)]
        events: list[PlaybackEvent] = []
        output.subscribe(events.append)
        first = await output.play(np.ones(32000, np.int16), 16000, "a long answer here")
        second = await output.play(np.ones(16000, np.int16), 16000, "queued")
        received = 0
        while received < 16000:  # ~0.5 s of audio
            msg = await ws.recv()
            if isinstance(msg, bytes):
                received += len(msg)
        assert output.playing
        played = await output.clear()
        assert 350 <= played <= 900
        r1, r2 = await first.wait(), await second.wait()
        assert r1.interrupted and r1.position_ms == pytest.approx(played, abs=1)
        assert r2.interrupted and r2.position_ms == 0
        # the client is told to drop its buffer; no more audio follows
        tail = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.3):
                while True:
                    tail.append(await ws.recv())
        clears = [parse_direct_event(m) for m in tail if isinstance(m, str)]
        assert {"type": "clear", "playedMs": played} in clears
        after_clear = tail[
            [i for i, m in enumerate(tail) if isinstance(m, str) and "clear" in m][0] :
        ]
        assert not any(isinstance(m, bytes) for m in after_clear)
        assert [type(e).__name__ for e in events] == [
            "PlaybackStarted",
            "PlaybackFinished",
            "PlaybackFinished",
        ]
        assert not output.playing
        # and it plays again afterwards
        again = await output.play(np.ones(1600, np.int16), 16000, "ok")
        assert not (await asyncio.wait_for(again.wait(), 3)).interrupted


async def test_closing_the_client_interrupts_playback(
    server: ForkServer, registry: FakeRegistry
) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/direct") as ws:
        call_id = str((await hello(ws))["callId"])
        output = registry.outputs[call_id]
        handle = await output.play(np.ones(48000, np.int16), 16000, "long")
        await ws.recv()
    result = await asyncio.wait_for(handle.wait(), 5)
    assert isinstance(result, PlaybackFinished) and result.interrupted
    consumer = registry.consumers[call_id]
    async with asyncio.timeout(5):
        while not consumer.closed:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("first", "code", "reason"),
    [
        (b"\x00\x00", 1003, "binary frame before the hello text frame"),
        ('{"sampleRate":16000}', 1008, "hello has no owner"),
        ("not json", 1003, "hello is not JSON"),
    ],
)
async def test_bad_hello_is_refused(
    server: ForkServer, first: str | bytes, code: int, reason: str
) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/direct") as ws:
        await ws.send(first)
        assert await closed_with(ws) == (code, reason)


async def test_token_refusal_and_registry_outcomes(registry: FakeRegistry) -> None:
    s = settings(direct_token=SecretStr("s3cret"))
    async with ForkServer(registry, s, direct=registry, host="127.0.0.1") as srv:
        target = f"ws://127.0.0.1:{srv.port}/direct"
        async with connect(target) as ws:
            await ws.send('{"owner":"x","token":"wrong"}')
            assert await closed_with(ws) == (1008, "a valid token is required")
        async with connect(target) as ws:
            assert (await hello(ws, token="s3cret"))["type"] == "ready"
        registry.refuse_attach = True
        async with connect(target) as ws:
            await ws.send('{"owner":"x","token":"s3cret"}')
            assert await closed_with(ws) == (1008, "session refused")
        registry.refuse_attach, registry.explode = False, True
        async with connect(target) as ws:
            await ws.send('{"owner":"x","token":"s3cret"}')
            assert await closed_with(ws) == (1011, "opening the session failed")
    assert srv.stats.refused["bad_token"] == 1


async def test_direct_can_be_switched_off(registry: FakeRegistry) -> None:
    async with ForkServer(
        registry, settings(direct_enabled=False), direct=registry, host="127.0.0.1"
    ) as srv:
        with pytest.raises(InvalidStatus) as err:
            async with connect(f"ws://127.0.0.1:{srv.port}/direct"):
                pass
        assert err.value.response.status_code == 404


class ListLink:
    call_id = "direct-x"

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.closed = False

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True


async def test_playback_resamples_and_frames() -> None:
    link = ListLink()
    out = DirectPlayback(link, 8000, frame_ms=20, lead_ms=1000)
    handle = await out.play(np.ones(22050, np.int16) * 100, 22050, "one second")
    assert handle.duration_ms == pytest.approx(1000, abs=1)
    result = await asyncio.wait_for(handle.wait(), 3)
    frames = [m for m in link.sent if isinstance(m, bytes)]
    assert len(frames) == 50 and all(len(f) == 320 for f in frames)
    assert not result.interrupted
    await out.aclose()
    assert await out.clear() == 0


class AnsweringConsumer:
    """Answers with a 0.3 s tone once it has heard 0.2 s of the caller."""

    def __init__(self, output: AudioOutput) -> None:
        self.output = output
        self.received = 0
        self.texts: list[str] = []
        self.task: asyncio.Task[None] | None = None

    def on_audio(self, samples: np.ndarray, sample_rate: int) -> bool:
        self.received += len(samples)
        if self.task is None and self.received >= sample_rate // 5:
            self.task = asyncio.get_running_loop().create_task(self._answer())
        return True

    async def _answer(self) -> None:
        await self.output.play(np.full(4800, 500, np.int16), 16000, "the answer")

    def on_text(self, text: str) -> None:
        self.texts.append(text)

    def on_close(self, code: int, reason: str) -> None:
        if self.task is not None:
            self.task.cancel()


class AnsweringRegistry(FakeRegistry):
    def open_direct(self, call_id, hello, link, output):  # type: ignore[no-untyped-def]
        consumer = AnsweringConsumer(output)
        self.consumers[call_id] = consumer  # type: ignore[assignment]
        return consumer


async def test_call_direct_client() -> None:
    registry = AnsweringRegistry()
    async with ForkServer(registry, settings(), direct=registry, host="127.0.0.1") as srv:
        events: list[dict[str, object]] = []
        question = np.full(8000, 300, np.int16)  # 1 s at 8 kHz
        result = await call_direct(
            f"ws://127.0.0.1:{srv.port}/direct",
            question,
            8000,
            owner="test-cli",
            token=SECRET,
            linger_s=0.3,
            realtime=False,
            on_event=events.append,
        )
    assert result.call_id.startswith("direct-") and result.sample_rate == 8000
    assert [(e["type"], e.get("event")) for e in events] == [
        ("playback", "started"),
        ("playback", "finished"),
    ]
    assert len(result.bot_audio) == pytest.approx(2400, abs=2)  # 0.3 s at the client's 8 kHz
    consumer = registry.consumers[result.call_id]
    assert consumer.received >= 8000  # type: ignore[attr-defined]
    assert consumer.texts == ['{"type":"hangup"}']
    assert result.close_code == 1000


async def test_call_direct_errors() -> None:
    with pytest.raises(MediaError, match="failed"):
        await call_direct("ws://127.0.0.1:9/direct", np.zeros(10, np.int16), 8000, owner="x")


async def test_direct_needs_a_token_even_when_none_is_configured(registry: FakeRegistry) -> None:
    """/direct was open by default: anyone reaching the port spoke as any owner."""
    s = ForkSettings(port=0, metadata_timeout=0.5)  # no direct_token configured
    async with ForkServer(registry, s, direct=registry, host="127.0.0.1") as srv:
        async with connect(f"ws://127.0.0.1:{srv.port}/direct") as ws:
            await ws.send('{"owner":"acme"}')
            assert await closed_with(ws) == (1008, "a valid token is required")
    assert registry.hellos == {}


async def test_a_credential_speaks_only_as_its_owners(registry: FakeRegistry) -> None:
    s = settings(direct_owners=["acme"])
    auth = DirectAuth(SECRET, s)
    async with ForkServer(registry, s, direct=registry, direct_auth=auth, host="127.0.0.1") as srv:
        target = f"ws://127.0.0.1:{srv.port}/direct"
        async with connect(target) as ws:  # the shared secret: only the listed owners
            await ws.send(json.dumps({"owner": "globex", "token": SECRET}))
            assert await closed_with(ws) == (1008, "this token may not use that owner")
        async with connect(target) as ws:
            await ws.send(json.dumps({"owner": "acme", "token": SECRET}))
            assert parse_direct_event(await ws.recv())["type"] == "ready"
        minted = auth.mint("globex")  # a console-minted token: its own owner only
        async with connect(target) as ws:
            await ws.send(json.dumps({"owner": "globex", "token": minted}))
            assert parse_direct_event(await ws.recv())["type"] == "ready"
        async with connect(target) as ws:
            await ws.send(json.dumps({"owner": "acme", "token": minted}))
            assert await closed_with(ws) == (1008, "this token may not use that owner")
        forged = DirectAuth("another-secret", s).mint("acme")
        async with connect(target) as ws:
            await ws.send(json.dumps({"owner": "acme", "token": forged}))
            assert await closed_with(ws) == (1008, "a valid token is required")


def test_a_minted_token_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as time_module

    auth = DirectAuth(SECRET, settings())
    token = auth.mint("acme")
    assert auth.check(token) is not None
    later = time_module.time() + SIGNED_TTL_S + 5
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    assert auth.check(token) is None


async def test_direct_sessions_are_capped_per_worker_and_per_credential(
    registry: FakeRegistry,
) -> None:
    """Ten parallel sessions stretched every reply from 3.5 s to 7.8 s."""
    s = settings(direct_max_sessions=3, direct_max_per_credential=2)
    auth = DirectAuth(SECRET, s)
    async with ForkServer(registry, s, direct=registry, direct_auth=auth, host="127.0.0.1") as srv:
        target = f"ws://127.0.0.1:{srv.port}/direct"
        async with connect(target) as a, connect(target) as b, connect(target) as c:
            assert (await hello(a))["type"] == "ready"
            assert (await hello(b))["type"] == "ready"
            await c.send(json.dumps({"owner": "test", "token": SECRET}))
            assert await closed_with(c) == (
                1013,
                "this credential already has 2 direct sessions",
            )
            async with connect(target) as d, connect(target) as e:
                assert (await hello(d, token=auth.mint("test")))["type"] == "ready"
                await e.send(json.dumps({"owner": "test", "token": auth.mint("test")}))
                assert await closed_with(e) == (1013, "this worker already runs 3 direct sessions")
        # closed sessions are released
        await asyncio.wait_for(_until(lambda: auth.open_sessions == 0), 5)
        async with connect(target) as f:
            assert (await hello(f))["type"] == "ready"


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.01)
