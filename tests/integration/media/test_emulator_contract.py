"""The media layer against the FreeSWITCH emulator (an independent oracle of 1.10.12 +
mod_audio_fork): a real ``uuid_audio_fork`` start, the caller's speech through our
server into the VAD, and ForkPlayback's playAudio → play_audio → uuid_broadcast dance
with barge-in, checked against what the emulated caller actually heard."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from callcontrol.config import ForkSettings
from callcontrol.media.base import ForkLink, PlaybackEvent, PlaybackStarted
from callcontrol.media.codecs import Int16Array
from callcontrol.media.endpoint import EndpointEvent, SpeechEnded
from callcontrol.media.fork_esl import (
    EVENT_KILL_AUDIO,
    EVENT_PLAY_AUDIO,
    build_fork_start_command,
    parse_fork_event,
)
from callcontrol.media.fork_server import ForkServer
from callcontrol.media.fork_wire import ForkMetadata, new_fork_token
from callcontrol.media.listen import CallAudioInput
from callcontrol.media.playback import ForkPlayback
from callcontrol.media.silero import SileroModel
from callcontrol.media.vad import VadWorker
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient, event_headers

pytestmark = pytest.mark.integration
AUDIO = Path(__file__).parents[2] / "data" / "audio"


class Esl:
    """PlaybackControl over the emulator's raw ESL test client; one reader at a time."""

    def __init__(self, client: EslTestClient, uuid: str) -> None:
        self.client = client
        self.uuid = uuid
        self.lock = asyncio.Lock()
        self.playback: ForkPlayback | None = None

    async def api(self, command: str) -> str:
        async with self.lock:
            return await self.client.api(command)

    async def broadcast(self, file: str) -> None:
        reply = await self.api(f"uuid_broadcast {self.uuid} {file} aleg")
        assert reply.startswith("+OK"), reply

    async def break_all(self) -> None:
        await self.api(f"uuid_break {self.uuid} all")

    async def pump(self) -> None:
        """Route this channel's events to the playback, as the ESL side will."""
        while True:
            async with self.lock:
                with contextlib.suppress(TimeoutError):
                    self.dispatch(await self.client.next_event(timeout=0.0))
                while self.client.events:  # events read while waiting for api replies
                    self.dispatch(self.client.events.popleft())
            await asyncio.sleep(0.005)

    def dispatch(self, message) -> None:  # type: ignore[no-untyped-def]
        headers = event_headers(message)
        if self.playback is None or headers.get("Unique-ID") != self.uuid:
            return
        name = headers.get("Event-Name")
        if name == "CUSTOM":
            subclass = headers.get("Event-Subclass", "")
            if subclass in (EVENT_PLAY_AUDIO, EVENT_KILL_AUDIO):
                body = (
                    message.body.split(b"\n\n", 1)[1].decode() if b"\n\n" in message.body else None
                )
                self.playback.on_fork_event(parse_fork_event(subclass, body))
        elif name == "PLAYBACK_START":
            self.playback.on_playback_start(headers["Playback-File-Path"])
        elif name == "PLAYBACK_STOP":
            self.playback.on_playback_stop(headers["Playback-File-Path"])


class Call:
    """What the dialog side will do per call: listen, and speak through ForkPlayback."""

    def __init__(self, worker: VadWorker, esl: Esl, link: ForkLink) -> None:
        self.turns: list[EndpointEvent] = []
        self.input = CallAudioInput(worker, self.turns.append)
        self.playback = ForkPlayback(link, esl)
        esl.playback = self.playback
        self.closed = False

    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        return self.input.feed(samples, sample_rate)

    def on_text(self, text: str) -> None:
        pass

    def on_close(self, code: int, reason: str) -> None:
        self.input.close()
        self.closed = True


class Registry:
    def __init__(self, worker: VadWorker) -> None:
        self.worker = worker
        self.tokens: dict[str, str] = {}
        self.esl: dict[str, Esl] = {}
        self.calls: dict[str, Call] = {}

    def expected_token(self, call_id: str) -> str | None:
        return self.tokens.get(call_id)

    def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> Call:
        call = Call(self.worker, self.esl[call_id], link)
        self.calls[call_id] = call
        return call


@pytest.fixture
async def setup(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> AsyncIterator[tuple[FakeFreeSwitch, Esl, Call]]:
    await esl_client.command(
        "event plain PLAYBACK_START PLAYBACK_STOP CUSTOM mod_audio_fork::play_audio "
        "mod_audio_fork::kill_audio"
    )
    uid = await fake_switch.inbound_call(
        answer=True, audio=AUDIO / "speech_question.wav", voice_starts="fork"
    )
    async with VadWorker(SileroModel()) as worker:
        registry = Registry(worker)
        esl = Esl(esl_client, uid)
        registry.esl[uid] = esl
        registry.tokens[uid] = new_fork_token()
        async with ForkServer(registry, ForkSettings(port=0), host="127.0.0.1") as server:
            pump = asyncio.create_task(esl.pump())
            try:
                command = build_fork_start_command(
                    uid,
                    f"ws://127.0.0.1:{server.port}/fork/{uid}",
                    metadata={"callId": uid, "token": registry.tokens[uid], "rate": 16000},
                )
                assert await esl.api(command) == "+OK Success\n"
                async with asyncio.timeout(5):
                    while uid not in registry.calls:
                        await asyncio.sleep(0.01)
                yield fake_switch, esl, registry.calls[uid]
                await registry.calls[uid].playback.aclose()
            finally:
                pump.cancel()
                await asyncio.wait([pump])


def tone(hz: float, seconds: float) -> Int16Array:
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


async def test_caller_speech_becomes_one_turn(setup: tuple[FakeFreeSwitch, Esl, Call]) -> None:
    _sw, _esl, call = setup
    async with asyncio.timeout(10):
        while not any(isinstance(e, SpeechEnded) for e in call.turns):
            await asyncio.sleep(0.05)
    assert [type(e).__name__ for e in call.turns] == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechEnded",
    ]


async def test_sentences_are_heard_in_order_and_whole(
    setup: tuple[FakeFreeSwitch, Esl, Call],
) -> None:
    sw, esl, call = setup
    first, second = tone(440, 0.4), tone(660, 0.3)
    h1 = await call.playback.play(first, 16000, "First.")
    h2 = await call.playback.play(second, 16000, "Second.")
    r1, r2 = await asyncio.wait_for(h1.wait(), 5), await asyncio.wait_for(h2.wait(), 5)
    assert not r1.interrupted and not r2.interrupted
    heard = sw.captured_audio(esl.uuid).playbacks
    assert [p.status for p in heard] == ["done", "done"]
    assert heard[0].pcm == first.tobytes() and heard[1].pcm == second.tobytes()
    assert heard[1].started_at >= heard[0].stopped_at  # never nested


async def test_barge_in_stops_what_the_caller_hears(
    setup: tuple[FakeFreeSwitch, Esl, Call],
) -> None:
    sw, esl, call = setup
    started = asyncio.Event()

    def on_event(event: PlaybackEvent) -> None:
        if isinstance(event, PlaybackStarted):
            started.set()

    call.playback.subscribe(on_event)
    long = await call.playback.play(tone(440, 3.0), 16000, "a long answer that is cut")
    queued = await call.playback.play(tone(660, 1.0), 16000, "never played")
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.6)
    played_ms = await call.playback.clear()
    r1, r2 = await long.wait(), await queued.wait()
    assert r1.interrupted and r2.interrupted and r2.position_ms == 0
    await asyncio.sleep(0.3)
    heard = sw.captured_audio(esl.uuid).playbacks
    assert len(heard) == 1 and heard[0].status == "break"
    # what we report as heard matches what the emulated caller heard
    assert abs(played_ms - heard[0].played_seconds * 1000) < 150
