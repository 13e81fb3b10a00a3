"""Caller audio → VAD → turns, through the real fork server and the real Silero model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect

from callcontrol.config import ForkSettings
from callcontrol.media.base import ForkLink
from callcontrol.media.codecs import Int16Array, read_wav
from callcontrol.media.endpoint import (
    BargeIn,
    EndpointEvent,
    SpeechEnded,
    SpeechPaused,
    SpeechStarted,
)
from callcontrol.media.fork_server import ForkServer
from callcontrol.media.fork_wire import ForkMetadata, new_fork_token
from callcontrol.media.listen import CallAudioInput
from callcontrol.media.resample import resample
from callcontrol.media.silero import SileroModel
from callcontrol.media.vad import VadWorker

pytestmark = pytest.mark.integration
AUDIO = Path(__file__).parents[2] / "data" / "audio"


@pytest.fixture(scope="module")
def model() -> SileroModel:
    return SileroModel()


@pytest.fixture
async def worker(model: SileroModel) -> AsyncIterator[VadWorker]:
    async with VadWorker(model) as w:
        yield w


def clip(name: str) -> Int16Array:
    audio = read_wav(AUDIO / f"{name}.wav")
    return audio.mono()


async def until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_turn_audio_can_be_cut_for_stt(worker: VadWorker) -> None:
    events: list[EndpointEvent] = []
    listener = CallAudioInput(worker, events.append, max_backlog_ms=10_000)  # faster than real time
    x8 = clip("speech_question")
    for i in range(0, len(x8), 160):  # 20 ms frames of an 8 kHz fork
        assert listener.feed(x8[i : i + 160], 8000)
        await asyncio.sleep(0)
    await until(lambda: any(isinstance(e, SpeechEnded) for e in events))
    assert listener.received_ms == pytest.approx(len(x8) / 8, abs=80)  # soxr holds a tail
    paused = next(e for e in events if isinstance(e, SpeechPaused))
    ended = next(e for e in events if isinstance(e, SpeechEnded))
    assert paused.end_ms == ended.end_ms  # the speculative cut is the final one here
    cut = listener.audio(ended.start_ms - 100, ended.end_ms + 100)
    assert cut.dtype == np.float32 and len(cut) == pytest.approx(
        (ended.end_ms - ended.start_ms + 200) * 16, abs=16
    )
    # it is the question: aligned with a one-shot resample of the clip
    reference = resample(x8, 8000, 16000, quality="LQ").astype(np.float32) / 32768
    start = int((ended.start_ms - 100) * 16)
    ref = reference[start : start + len(cut)]
    corr = float(np.dot(cut, ref) / np.sqrt(np.dot(cut, cut) * np.dot(ref, ref)))
    assert corr > 0.98
    # everything outside the turn is (near) silence
    assert np.abs(listener.audio(0, ended.start_ms - 200)).max() < 0.02
    listener.close()
    assert not listener.feed(x8[:160], 8000)


def test_ring_buffer_keeps_the_last_seconds(model: SileroModel) -> None:
    worker = VadWorker(model)  # not started: nothing is processed
    listener = CallAudioInput(worker, lambda e: None, keep_seconds=1.0, max_backlog_ms=10_000)
    ramp = (np.arange(48000) % 30000).astype(np.int16)
    for i in range(0, len(ramp), 320):
        listener.feed(ramp[i : i + 320], 16000)
    assert listener.received_ms == 3000
    tail = listener.audio(0)
    assert len(tail) == 16000
    np.testing.assert_array_equal(np.rint(tail * 32768).astype(np.int16), ramp[-16000:])
    assert len(listener.audio(2500, 2600)) == 1600
    assert listener.audio(100, 200).size == 0  # long gone


def test_frames_are_dropped_when_the_vad_falls_behind(model: SileroModel) -> None:
    worker = VadWorker(model)  # not started: the backlog only grows
    listener = CallAudioInput(worker, lambda e: None, max_backlog_ms=200)
    results = [listener.feed(np.zeros(320, np.int16), 16000) for _ in range(20)]
    assert results.count(True) == 11  # 11 × 20 ms queued, then over 200 ms of backlog
    assert listener.frames_dropped == 9 and listener.backlog_ms == 220


class TurnConsumer:
    def __init__(self, worker: VadWorker) -> None:
        self.events: list[EndpointEvent] = []
        self.input = CallAudioInput(worker, self.events.append)
        self.closed = False

    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        return self.input.feed(samples, sample_rate)

    def on_text(self, text: str) -> None:
        pass

    def on_close(self, code: int, reason: str) -> None:
        self.input.close()
        self.closed = True


class TurnRegistry:
    def __init__(self, worker: VadWorker) -> None:
        self.worker = worker
        self.tokens: dict[str, str] = {}
        self.consumers: dict[str, TurnConsumer] = {}

    def expected_token(self, call_id: str) -> str | None:
        return self.tokens.get(call_id)

    def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> TurnConsumer:
        consumer = TurnConsumer(self.worker)
        consumer.input.bot_speaking = bool(metadata.extra.get("botSpeaking"))
        self.consumers[call_id] = consumer
        return consumer


async def _fork(port: int, call_id: str, token: str, audio: Int16Array, **extra: object) -> None:
    async with connect(
        f"ws://127.0.0.1:{port}/fork/{call_id}", subprotocols=["audio.drachtio.org"]
    ) as ws:
        meta = {"callId": call_id, "token": token, "rate": 8000, "mix": "mono", **extra}
        await ws.send(json.dumps(meta))
        data = audio.astype("<i2").tobytes()
        for i in range(0, len(data), 480):  # 30 ms frames, as FreeSWITCH sent them
            await ws.send(data[i : i + 480])
            await asyncio.sleep(0.002)


async def test_forks_through_the_server_into_turns(worker: VadWorker) -> None:
    registry = TurnRegistry(worker)
    calls = {
        "speech": ("speech_question", {}),
        "noise": ("noise", {}),
        "barge": ("speech_question", {"botSpeaking": True}),
        "backchannel": ("backchannel", {"botSpeaking": True}),
    }
    for call_id in calls:
        registry.tokens[call_id] = new_fork_token()
    settings = ForkSettings(port=0)
    async with ForkServer(registry, settings, host="127.0.0.1") as server:
        async with asyncio.TaskGroup() as tg:
            for call_id, (name, extra) in calls.items():
                tg.create_task(
                    _fork(server.port, call_id, registry.tokens[call_id], clip(name), **extra)
                )
        await until(lambda: all(c.closed for c in registry.consumers.values()))
        await asyncio.sleep(0.1)

    def names(call_id: str) -> list[str]:
        return [type(e).__name__ for e in registry.consumers[call_id].events]

    assert names("speech") == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    assert names("noise") == []
    assert names("barge") == ["SpeechStarted", "BargeIn", "SpeechPaused", "SpeechEnded"]
    assert "BargeIn" not in names("backchannel")
    started = registry.consumers["speech"].events[0]
    assert isinstance(started, SpeechStarted) and 350 <= started.start_ms <= 700
    barge = registry.consumers["barge"].events[1]
    assert isinstance(barge, BargeIn) and barge.voiced_ms >= 600
    assert server.stats.frames_dropped == 0 and server.stats.consumer_errors == 0


async def test_utterances_at_8k_are_cut_from_the_callers_own_audio(worker: VadWorker) -> None:
    """Speech recognition hears an 8 kHz caller resampled whole in high quality, not the
    VAD's low-latency stream (docs in media/resample.py)."""
    samples = clip("speech_question")
    assert read_wav(AUDIO / "speech_question.wav").sample_rate == 8000
    listen = CallAudioInput(worker, lambda _event: None, max_backlog_ms=1e9)
    try:
        for i in range(0, len(samples), 160):
            assert listen.feed(samples[i : i + 160], 8000)
        cut = listen.audio(500.0, 1500.0)
        expected = resample(samples[4000:12000], 8000, 16000, quality="HQ")
        assert len(cut) == len(expected) == 16000
        assert np.allclose(cut, expected.astype(np.float32) / 32768, atol=1e-6)
        # Clipped to what was received, on the same clock as the VAD's events.
        assert len(listen.audio(0.0)) == pytest.approx(listen.received_ms * 16, abs=32)
    finally:
        listen.close()
