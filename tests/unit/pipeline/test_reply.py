from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

import pytest

from callcontrol.pipeline.base import ChatMessage
from callcontrol.pipeline.reply import speak
from tests.fakes.pipeline import FakeLLM, FakeTTS

MESSAGES = [ChatMessage("user", "When is the meeting?")]


async def test_phrases_are_spoken_in_order_first_one_early() -> None:
    llm = FakeLLM(
        replies=[["The", " weekly", " meeting", " is", " on", " Monday", " at", " 10", " am", "."]]
    )
    tts = FakeTTS(ms_per_char=10)
    segments = [s async for s in speak(llm, tts, MESSAGES, sample_rate=8000)]
    assert [s.text for s in segments] == ["The weekly meeting is on Monday", "at 10 am."]
    assert [s.index for s in segments] == [0, 1]
    assert all(s.sample_rate == 8000 and s.seconds > 0 for s in segments)
    assert [t for t, _ in tts.spoken] == ["The weekly meeting is on Monday", "at 10 am."]


async def test_first_audio_comes_before_generation_ends() -> None:
    tokens = ["It", " is", " on", " Monday", " at", " ten", ".", " See", " you", " then", "."]
    llm = FakeLLM(replies=[tokens], token_delay=0.02)
    tts = FakeTTS()
    loop = asyncio.get_running_loop()
    started = loop.time()
    first_at = None
    async for _ in speak(llm, tts, MESSAGES, sample_rate=8000, first_clause_words=3):
        first_at = first_at or loop.time() - started
    total = loop.time() - started
    assert first_at is not None and first_at < total * 0.6


async def test_stopping_early_cancels_generation() -> None:
    llm = FakeLLM(replies=[[f"Sentence {i}. " for i in range(100)]], token_delay=0.01)
    tts = FakeTTS()
    async with aclosing(speak(llm, tts, MESSAGES, sample_rate=8000)) as spoken:
        async for _ in spoken:
            break
    await asyncio.sleep(0.05)
    assert llm.cancelled == 1
    assert len(tts.spoken) == 1


async def test_llm_errors_reach_the_caller() -> None:
    class Broken(FakeLLM):
        async def stream(
            self,
            messages: Sequence[ChatMessage],
            *,
            max_tokens: int = 96,
            stop: Sequence[str] = (),
        ) -> AsyncGenerator[str, None]:
            yield "Hello. "
            raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        async for _ in speak(Broken(), FakeTTS(), MESSAGES, sample_rate=8000):
            pass
