"""Silero VAD (faster-whisper's v6 ONNX) on real telephone speech, silence and noise."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from callcontrol.errors import ModelNotInstalledError
from callcontrol.media.codecs import read_wav
from callcontrol.media.endpoint import (
    BargeIn,
    EndpointConfig,
    Endpointer,
    EndpointEvent,
    SpeechEnded,
    SpeechStarted,
)
from callcontrol.media.resample import resample
from callcontrol.media.silero import CHUNK_MS, SileroModel, VadStream, silero_model_path
from callcontrol.media.vad import VadWorker

pytestmark = pytest.mark.integration
AUDIO = Path(__file__).parents[2] / "data" / "audio"


@pytest.fixture(scope="module")
def model() -> SileroModel:
    return SileroModel()


def clip16k(name: str) -> np.ndarray:
    audio = read_wav(AUDIO / f"{name}.wav")
    assert audio.sample_rate == 8000
    return resample(audio.mono(), 8000, 16000)


def probs(model: SileroModel, samples: np.ndarray) -> np.ndarray:
    return np.array([p for p, _t in VadStream(model).push(samples)])


def events_for(model: SileroModel, name: str, *, bot_speaking: bool = False) -> list[EndpointEvent]:
    ep = Endpointer(EndpointConfig())
    ep.bot_speaking = bot_speaking
    return [e for p, t in VadStream(model).push(clip16k(name)) for e in ep.feed(p, t)]


def test_model_signature_is_what_the_code_assumes(model: SileroModel) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(silero_model_path()), providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert shapes == {"input": ["seq_len", 576], "h": [1, 1, 128], "c": [1, 1, 128]}
    assert [o.name for o in session.get_outputs()] == ["speech_probs", "hn", "cn"]
    assert model.batched


def test_missing_model_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalledError, match="faster-whisper"):
        silero_model_path()


def test_speech_silence_and_noise(model: SileroModel) -> None:
    speech = probs(model, clip16k("speech_question"))
    assert speech.max() > 0.9
    assert 0.25 < (speech > 0.5).mean() < 0.7  # the clip has silence around the question
    for name in ("silence", "noise"):
        assert probs(model, clip16k(name)).max() < 0.2, name


def test_chunking_of_the_input_does_not_matter(model: SileroModel) -> None:
    x = clip16k("speech_turn")
    whole = probs(model, x)
    stream = VadStream(model)
    framed = [p for i in range(0, len(x), 320) for p, _t in stream.push(x[i : i + 320])]
    np.testing.assert_allclose(framed, whole, atol=1e-6)
    float_input = probs(model, x.astype(np.float32) / 32768)
    np.testing.assert_allclose(float_input, whole, atol=1e-5)


def test_batched_runs_equal_separate_streams(model: SileroModel) -> None:
    names = ["speech_question", "noise", "speech_turn", "backchannel"]
    clips = [clip16k(n) for n in names]
    want = [probs(model, c) for c in clips]
    unbatched = SileroModel(batched=False)
    np.testing.assert_allclose(probs(unbatched, clips[0]), want[0], atol=1e-5)
    # all four advanced together, one row each per run
    streams = [VadStream(model) for _ in clips]
    got: list[list[float]] = [[] for _ in clips]
    for i in range(0, max(len(c) for c in clips), 512):
        for s, c, g in zip(streams, clips, got, strict=True):
            g += [p for p, _t in s.push(c[i : i + 512])]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_a_question_is_one_turn(model: SileroModel) -> None:
    events = events_for(model, "speech_question")
    assert [type(e).__name__ for e in events] == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    start, ended = events[0], events[-1]
    assert isinstance(start, SpeechStarted) and 400 <= start.start_ms <= 700  # 0.5 s of silence
    assert isinstance(ended, SpeechEnded) and ended.end_of_turn
    assert 1200 <= ended.voiced_ms <= 2000


def test_a_short_pause_inside_a_turn_resumes(model: SileroModel) -> None:
    names = [type(e).__name__ for e in events_for(model, "speech_turn")]
    assert names.count("SpeechEnded") == 1
    assert "SpeechResumed" in names


def test_backchannel_does_not_barge_in_but_a_question_does(model: SileroModel) -> None:
    short = events_for(model, "backchannel", bot_speaking=True)
    assert not any(isinstance(e, BargeIn) for e in short)
    assert any(isinstance(e, SpeechEnded) for e in short)  # still a (short) turn
    long = events_for(model, "speech_question", bot_speaking=True)
    assert sum(isinstance(e, BargeIn) for e in long) == 1
    for noise in ("silence", "noise"):
        assert events_for(model, noise, bot_speaking=True) == []


async def test_worker_serves_many_calls_with_the_same_results(model: SileroModel) -> None:
    names = ["speech_question", "speech_turn", "noise", "backchannel"] * 5
    clips = [clip16k(n) for n in names]
    want = [probs(model, c) for c in clips]
    got: list[list[float]] = [[] for _ in clips]
    events: list[list[EndpointEvent]] = [[] for _ in clips]
    async with VadWorker(model, max_batch=8) as worker:
        channels = [
            worker.open(events[i].append, on_prob=lambda p, t, i=i: got[i].append(p))
            for i in range(len(clips))
        ]
        for start in range(0, max(len(c) for c in clips), 320):  # 20 ms frames, interleaved
            for ch, clip in zip(channels, clips, strict=True):
                ch.push(clip[start : start + 320])
            await asyncio.sleep(0)
        for _ in range(200):
            if all(len(g) == len(w) for g, w in zip(got, want, strict=True)):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let the last events reach the loop
        for ch, clip in zip(channels, clips, strict=True):
            assert ch.processed_ms == pytest.approx(len(clip) // 512 * CHUNK_MS)
            ch.close()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)
    for name, evs in zip(names, events, strict=True):
        ended = [e for e in evs if isinstance(e, SpeechEnded)]
        assert len(ended) == (0 if name == "noise" else 1), name
    assert worker.stats.max_batch > 1 and worker.stats.chunks == sum(len(w) for w in want)


async def test_worker_reuses_slots_and_survives_a_bad_callback(model: SileroModel) -> None:
    clip = clip16k("speech_question")
    seen: list[EndpointEvent] = []

    def explode(event: EndpointEvent) -> None:
        raise RuntimeError("consumer bug")

    async with VadWorker(model) as worker:
        bad = worker.open(explode)
        bad.push(clip)
        good = worker.open(seen.append)
        good.push(clip)
        for _ in range(300):
            if any(isinstance(e, SpeechEnded) for e in seen):
                break
            await asyncio.sleep(0.01)
        bad.close()
        good.close()
        await asyncio.sleep(0.05)
        again = worker.open(seen.append)
        assert again.slot in (bad.slot, good.slot)
        assert worker.channels == 1
    assert any(isinstance(e, SpeechEnded) for e in seen)
