"""Fakes of the pipeline seams, for unit tests of the layers above (dialog, console).

Each satisfies its Protocol in ``callcontrol.pipeline.base`` and records what it was
asked, so a test can script the pipeline and check the calls:

    stt = FakeSTT(["When is the meeting?"])
    llm = FakeLLM(["It is on Monday at 10. ", "See you there."])
    tts = FakeTTS()
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import re
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import (
    AudioF32,
    ChatMessage,
    DocumentInfo,
    Embedder,
    KnowledgeBase,
    LanguageModel,
    Passage,
    SpeechToText,
    TextToSpeech,
    Transcript,
)


class FakeSTT:
    """Returns scripted texts in order ("" = nothing heard); then empty transcripts."""

    def __init__(self, texts: Iterable[str] = (), language: str = "en", delay: float = 0.0):
        self.texts = list(texts)
        self.language = language
        self.delay = delay
        self.calls: list[tuple[int, str | None]] = []  # (samples, language asked)
        self.prompts: list[str | None] = []  # the glossary each call was given

    async def transcribe(
        self,
        audio: AudioF32,
        language: str | None = None,
        *,
        speech_ms: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        self.calls.append((len(audio), language))
        self.prompts.append(prompt)
        if self.delay:
            await asyncio.sleep(self.delay)
        text = self.texts.pop(0) if self.texts else ""
        lang = self.language if language in (None, "auto") else language
        return Transcript(
            text=text,
            language=lang or "en",
            no_speech_prob=0.0 if text else 1.0,
            avg_logprob=-0.2,
            duration=len(audio) / 16000,
            dropped=None if text else "silence",
        )


_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Bag-of-words hashed into ``dim`` buckets, L2-normalized: shared words ⇒ high cosine."""

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim
        self.queries: list[str] = []

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, text: str) -> list[float]:
        v = np.zeros(self._dim, dtype=np.float64)
        for word in _WORD.findall(text.lower()):
            bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dim
            v[bucket] += 1.0
        norm = float(np.linalg.norm(v)) or 1.0
        return [float(x) / norm for x in v]

    async def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self._vector(text)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]


class FakeKnowledgeBase:
    """Per-owner documents scored by word overlap (Jaccard); no vectors involved."""

    def __init__(self) -> None:
        self.docs: dict[str, DocumentInfo] = {}

    async def add(
        self, owner: str, title: str, text: str, source: str | None = None
    ) -> DocumentInfo:
        now = datetime.now(UTC)
        old = next((d for d in self.docs.values() if d.owner == owner and d.title == title), None)
        doc = DocumentInfo(
            id=old.id if old else f"doc-{len(self.docs) + 1}",
            owner=owner,
            title=title,
            source=source,
            chunk_count=1,
            created_at=old.created_at if old else now,
            updated_at=now,
            text=text,
        )
        self.docs[doc.id] = doc
        return doc

    async def search(self, owner: str, query: str, k: int = 3) -> list[Passage]:
        """Fact chunks as the real one cuts them, scored by word overlap."""
        from callcontrol.pipeline.chunking import chunk_text

        q = set(_WORD.findall(query.lower()))
        scored = []
        for doc in self.docs.values():
            if doc.owner != owner:
                continue
            for chunk in chunk_text(doc.text, doc.title):
                words = set(_WORD.findall(chunk.passage.lower()))
                score = len(q & words) / math.sqrt(max(1, len(q)) * max(1, len(words)))
                scored.append(
                    Passage(chunk.text, score, doc.id, doc.title, chunk.index, chunk.context)
                )
        return sorted(scored, key=lambda p: p.score, reverse=True)[:k]

    async def glossary(self, owner: str) -> str:
        from callcontrol.pipeline.lexical import glossary

        return glossary("\n".join(d.text for d in self.docs.values() if d.owner == owner))

    async def update(
        self,
        doc_id: str,
        *,
        text: str | None = None,
        title: str | None = None,
        source: str | None = None,
    ) -> DocumentInfo:
        old = self.docs.get(doc_id)
        if old is None:
            raise PipelineError(f"no knowledge document {doc_id}")
        doc = dataclasses.replace(
            old,
            title=old.title if title is None else title,
            text=old.text if text is None else text,
            source=old.source if source is None else source,
            updated_at=datetime.now(UTC),
        )
        self.docs[doc_id] = doc
        return doc

    async def delete(self, owner: str | None, doc_id: str) -> bool:
        doc = self.docs.get(doc_id)
        if doc is None or (owner is not None and doc.owner != owner):
            return False
        del self.docs[doc_id]
        return True

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        return [d for d in self.docs.values() if owner is None or d.owner == owner]


@dataclass
class FakeLLM:
    """Streams scripted pieces; ``replies`` is consumed one reply per call.

    ``token_delay`` spaces the pieces out, so barge-in (cancelling mid-reply) can be
    tested; ``cancelled`` counts streams that were stopped before their end.
    """

    replies: list[list[str]] = field(default_factory=list)
    token_delay: float = 0.0
    calls: list[list[ChatMessage]] = field(default_factory=list)
    cancelled: int = 0
    default: tuple[str, ...] = ("I will pass your question to a colleague.",)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 96,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        self.calls.append(list(messages))
        pieces = self.replies.pop(0) if self.replies else list(self.default)
        finished = False
        try:
            for piece in pieces:
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                yield piece
            finished = True
        finally:
            if not finished:
                self.cancelled += 1


class FakeTTS:
    """``ms_per_char`` milliseconds of a quiet tone per character; records what it said."""

    def __init__(
        self, ms_per_char: float = 60.0, delay: float = 0.0, fail_on: str | None = None
    ) -> None:
        self.ms_per_char = ms_per_char
        self.delay = delay
        self.fail_on = fail_on  # raise PipelineError for a text containing this
        self.spoken: list[tuple[str, int]] = []
        self.phrases: list[tuple[str, int]] = []

    def _pcm(self, text: str, sample_rate: int) -> bytes:
        n = int(len(text) * self.ms_per_char * sample_rate / 1000)
        t = np.arange(n) / sample_rate
        return (np.sin(2 * np.pi * 220 * t) * 3000).astype(np.int16).tobytes()

    async def synthesize(self, text: str, sample_rate: int, language: str = "en") -> bytes:
        self.spoken.append((text, sample_rate))
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._pcm(text, sample_rate)

    async def phrase(self, text: str, sample_rate: int, language: str = "en") -> bytes:
        if self.fail_on is not None and self.fail_on in text:
            raise PipelineError(f"cannot synthesize {text!r}")
        self.phrases.append((text, sample_rate))
        return self._pcm(text, sample_rate)


# Checked by mypy (``mypy tests/unit/pipeline/fakes.py``): each fake fits its Protocol
# as the dialog sees it, so a fake can stand in wherever a real stage goes.
_stt: SpeechToText = FakeSTT()
_embedder: Embedder = FakeEmbedder()
_kb: KnowledgeBase = FakeKnowledgeBase()
_llm: LanguageModel = FakeLLM()
_tts: TextToSpeech = FakeTTS()
