from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from callcontrol.config import ModelsSettings, PipelineSettings
from callcontrol.pipeline.base import TextToSpeech
from callcontrol.pipeline.piper import PiperTTS
from callcontrol.pipeline.tts import fixed_phrases, resample_int16
from tests.fakes.pipeline import FakeTTS


class FakeVoice:
    """Stands in for a loaded Piper voice: 22.05 kHz, 0.1 s of tone per sentence."""

    rate = 22050
    key = "fake.onnx:1"

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def sentences(self, text: str) -> Iterable[bytes]:
        self.rendered.append(text)
        for _ in text.split(". "):
            yield (np.ones(2205, dtype=np.int16) * 1000).tobytes()


@pytest.fixture
def voice() -> FakeVoice:
    return FakeVoice()


@pytest.fixture
def tts(tmp_path: Path, voice: FakeVoice) -> Iterator[PiperTTS]:
    engine = PiperTTS(ModelsSettings(), tmp_path, languages=())
    engine._voices["en"] = voice  # type: ignore[assignment]
    yield engine
    engine.close()


def test_resample_lengths() -> None:
    pcm = np.zeros(22050, dtype=np.int16).tobytes()
    assert len(resample_int16(pcm, 22050, 8000)) == 8000 * 2
    assert len(resample_int16(pcm, 22050, 16000)) == 16000 * 2
    assert resample_int16(pcm, 16000, 16000) is pcm
    assert resample_int16(b"", 22050, 8000) == b""


async def test_synthesize_at_the_call_rate(tts: PiperTTS) -> None:
    assert isinstance(tts, TextToSpeech)
    pcm = await tts.synthesize("**Hello** there. How are you?", 8000)
    assert len(pcm) == 2 * 2 * 800  # two sentences of 0.1 s at 8 kHz, 16-bit
    assert await tts.synthesize("  ", 8000) == b""


async def test_stream_yields_sentence_by_sentence(tts: PiperTTS) -> None:
    chunks = [c async for c in tts.stream("One. Two. Three.", 16000)]
    assert [len(c) for c in chunks] == [3200, 3200, 3200]


async def test_phrases_are_cached_in_memory_and_on_disk(
    tts: PiperTTS, voice: FakeVoice, tmp_path: Path
) -> None:
    first = await tts.phrase("Hello, thanks for calling.", 8000)
    again = await tts.phrase("Hello, thanks for calling.", 8000)
    assert first == again and voice.rendered == ["Hello, thanks for calling."]
    files = list((tmp_path / "tts").glob("*.pcm"))
    assert len(files) == 1 and files[0].read_bytes() == first
    await tts.phrase("Hello, thanks for calling.", 16000)  # another rate, another entry
    assert len(list((tmp_path / "tts").glob("*.pcm"))) == 2

    restarted = PiperTTS(ModelsSettings(), tmp_path, languages=())
    other_voice = FakeVoice()
    restarted._voices["en"] = other_voice  # type: ignore[assignment]
    assert await restarted.phrase("Hello, thanks for calling.", 8000) == first
    assert other_voice.rendered == []  # read from disk, not rendered again
    restarted.close()


async def test_warm_renders_every_fixed_phrase(tts: PiperTTS, voice: FakeVoice) -> None:
    phrases = fixed_phrases(PipelineSettings())
    await tts.warm(phrases, sample_rates=(8000,))
    assert sorted(voice.rendered) == sorted(phrases)


async def test_unknown_language_falls_back_to_english(tts: PiperTTS, voice: FakeVoice) -> None:
    pcm = await tts.synthesize("Hola.", 8000, language="es")
    assert pcm and voice.rendered == ["Hola."]


async def test_fake_tts_records() -> None:
    fake = FakeTTS(ms_per_char=10)
    pcm = await fake.synthesize("abc", 8000)
    assert len(pcm) == 2 * 240 and fake.spoken == [("abc", 8000)]


async def test_recent_answers_are_kept_in_memory_up_to_a_bound(
    tts: PiperTTS, voice: FakeVoice, monkeypatch: pytest.MonkeyPatch
) -> None:
    import callcontrol.pipeline.piper as piper_module

    monkeypatch.setattr(piper_module, "RECENT", 2)
    first = await tts.synthesize("Parking is free.", 8000)
    assert await tts.synthesize("Parking is free.", 8000) == first
    assert voice.rendered == ["Parking is free."]  # the second time from memory
    await tts.synthesize("We open at 9 am.", 8000)
    await tts.synthesize("Parking is free.", 8000)  # used again: now the most recent
    await tts.synthesize("Keys are cut here.", 8000)  # evicts "We open at 9 am."
    await tts.synthesize("We open at 9 am.", 8000)
    await tts.synthesize("Parking is free.", 8000)  # evicted meanwhile: rendered again
    assert voice.rendered == [
        "Parking is free.",
        "We open at 9 am.",
        "Keys are cut here.",
        "We open at 9 am.",
        "Parking is free.",
    ]
