from __future__ import annotations

import numpy as np
import pytest

from callcontrol.pipeline.piper import PiperTTS
from callcontrol.pipeline.whisper import WhisperSTT
from tests.integration.pipeline.clips import phone_line, to_16k

pytestmark = pytest.mark.integration

TEXT = "The weekly meeting is on Monday at 10 am in room 3."


async def test_piper_speech_is_understood_over_a_phone_line(tts: PiperTTS, stt: WhisperSTT) -> None:
    pcm = await tts.synthesize(TEXT, 8000)
    seconds = len(pcm) / 2 / 8000
    assert 2.0 < seconds < 6.0
    heard = (await stt.transcribe(phone_line(pcm), "en")).text.lower()
    assert "weekly meeting" in heard and "monday" in heard, heard


async def test_16k_output(tts: PiperTTS, stt: WhisperSTT) -> None:
    pcm = await tts.synthesize("Where can I park my car?", 16000)
    heard = await stt.transcribe(to_16k(np.frombuffer(pcm, dtype=np.int16), 16000), "en")
    assert "park" in heard.text.lower()


async def test_stream_gives_one_chunk_per_sentence(tts: PiperTTS) -> None:
    chunks = [c async for c in tts.stream("Hello there. The meeting is on Monday.", 8000)]
    assert len(chunks) == 2 and all(len(c) > 1600 for c in chunks)


async def test_fixed_phrases_are_cached_on_disk(tts: PiperTTS, model_cache) -> None:  # type: ignore[no-untyped-def]
    first = await tts.phrase("Thank you for calling. Goodbye.", 8000)
    files = list((model_cache / "tts").glob("*.pcm"))
    assert any(f.read_bytes() == first for f in files)
    assert await tts.phrase("Thank you for calling. Goodbye.", 8000) is first  # memory
