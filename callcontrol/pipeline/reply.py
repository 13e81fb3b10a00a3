"""Speak an LLM reply as it is generated: tokens → phrases → audio, overlapped.

:func:`speak` runs the LLM stream in a task it owns, cuts the text into phrases with
:class:`~callcontrol.pipeline.sentences.SentenceSplitter` (the first one early), and
synthesizes each phrase while the model keeps generating the next (the LLM and Piper
each have their own thread, one core each). The caller gets each
:class:`SpokenSegment` as soon as its audio exists, and can stop at any time
(barge-in): leaving the iteration cancels the generation and waits for it to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from callcontrol.language.base import SentenceRules
from callcontrol.pipeline.base import ChatMessage, LanguageModel, TextToSpeech
from callcontrol.pipeline.sentences import ENGLISH_RULES, SentenceSplitter

_END = object()


class FixedText:
    """A :class:`LanguageModel` that "generates" a given text: composed answers go
    through the same phrase splitting and synthesis as generated ones."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 96,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        yield self.text


@dataclass(frozen=True, slots=True)
class SpokenSegment:
    index: int
    text: str
    pcm: bytes  # int16 mono at sample_rate
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


async def speak(
    llm: LanguageModel,
    tts: TextToSpeech,
    messages: Sequence[ChatMessage],
    *,
    sample_rate: int,
    language: str = "en",
    max_tokens: int = 96,
    first_clause_words: int = 5,
    review: Callable[[str], str | None] | None = None,
    sentence_rules: SentenceRules = ENGLISH_RULES,
) -> AsyncGenerator[SpokenSegment, None]:
    """Yield the reply's audio phrase by phrase, the first as early as possible.

    ``review(phrase)`` runs on each phrase before it is synthesized: None lets it
    through; a string is said *instead*, and the reply ends after it (generation
    stops) — e.g. a guard replacing an unsupported claim with the fact itself.
    ``sentence_rules``: where phrases may be cut (the language pack's).
    """
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def generate() -> None:
        splitter = SentenceSplitter(first_clause_words=first_clause_words, rules=sentence_rules)
        try:
            async with contextlib.aclosing(llm.stream(messages, max_tokens=max_tokens)) as it:
                async for piece in it:
                    for segment in splitter.push(piece):
                        queue.put_nowait(segment)
            for segment in splitter.flush():
                queue.put_nowait(segment)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(_END)

    producer = asyncio.create_task(generate(), name="llm-reply")
    index = 0
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, str)
            replacement = review(item) if review is not None else None
            if replacement is not None:
                producer.cancel()
                item = replacement
            pcm = await tts.synthesize(item, sample_rate, language)
            if pcm:
                yield SpokenSegment(index, item, pcm, sample_rate)
                index += 1
            if replacement is not None:
                break
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
