from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest

from callcontrol.config import Settings
from callcontrol.pipeline.base import ChatMessage, Passage
from callcontrol.pipeline.llamacpp import LlamaCppLLM
from callcontrol.pipeline.prompt import build_messages
from callcontrol.pipeline.sentences import SentenceSplitter

pytestmark = pytest.mark.integration

MEETING = Passage("The weekly meeting is on Monday at 10 am in room 3.", 0.87, "d1", "meeting")


async def test_answers_from_the_passage_streaming(
    llm: LlamaCppLLM, pipeline_settings: Settings
) -> None:
    messages = build_messages(
        pipeline_settings.pipeline.system_prompt, "When is the weekly meeting?", [MEETING]
    )
    splitter = SentenceSplitter(first_clause_words=5)
    pieces: list[str] = []
    first_segment_at: int | None = None
    async with aclosing(llm.stream(messages, max_tokens=64)) as tokens:
        async for piece in tokens:
            pieces.append(piece)
            if splitter.push(piece) and first_segment_at is None:
                first_segment_at = len(pieces)
    answer = "".join(pieces)
    assert "Monday" in answer and "10" in answer, answer
    assert len(pieces) > 3  # streamed piece by piece, not in one block
    # The first phrase was ready for TTS while the model was still generating.
    assert first_segment_at is not None and first_segment_at < len(pieces), answer


async def test_history_is_used(llm: LlamaCppLLM, pipeline_settings: Settings) -> None:
    history = [
        ChatMessage("user", "When is the weekly meeting?"),
        ChatMessage("assistant", "The weekly meeting is on Monday at 10 am in room 3."),
    ]
    messages = build_messages(
        pipeline_settings.pipeline.system_prompt, "Which room was that?", [MEETING], history
    )
    answer = "".join([p async for p in llm.stream(messages, max_tokens=48)])
    assert "3" in answer, answer


async def test_barge_in_stops_generation_promptly(
    llm: LlamaCppLLM, pipeline_settings: Settings
) -> None:
    messages = build_messages(
        pipeline_settings.pipeline.system_prompt, "Tell me a long story about our office.", []
    )
    pieces: list[str] = []

    async def speak() -> None:
        async for piece in llm.stream(messages, max_tokens=300):
            pieces.append(piece)

    task = asyncio.create_task(speak())
    while len(pieces) < 3:
        await asyncio.sleep(0.005)
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - started < 0.5
    # The model is free again at once for the next turn.
    answer = "".join(
        [
            p
            async for p in llm.stream(
                build_messages(
                    pipeline_settings.pipeline.system_prompt,
                    "When is the weekly meeting?",
                    [MEETING],
                ),
                max_tokens=40,
            )
        ]
    )
    assert "Monday" in answer


async def test_concurrent_turns_are_serialized(
    llm: LlamaCppLLM, pipeline_settings: Settings
) -> None:
    messages = build_messages(
        pipeline_settings.pipeline.system_prompt, "When is the weekly meeting?", [MEETING]
    )

    async def turn() -> str:
        return "".join([p async for p in llm.stream(messages, max_tokens=40)])

    a, b = await asyncio.gather(turn(), turn())
    assert a == b and "Monday" in a  # greedy decoding, no interleaving of the two
