from __future__ import annotations

import numpy as np
import pytest

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import (
    Embedder,
    KnowledgeBase,
    LanguageModel,
    SpeechToText,
    TextToSpeech,
)
from tests.fakes.pipeline import FakeEmbedder, FakeKnowledgeBase, FakeLLM, FakeSTT, FakeTTS


def test_fakes_satisfy_the_protocols() -> None:
    assert isinstance(FakeSTT(), SpeechToText)
    assert isinstance(FakeEmbedder(), Embedder)
    assert isinstance(FakeKnowledgeBase(), KnowledgeBase)
    assert isinstance(FakeLLM(), LanguageModel)
    assert isinstance(FakeTTS(), TextToSpeech)


async def test_fake_stt_scripts_and_records() -> None:
    stt = FakeSTT(["hello", ""], language="es")
    audio = np.zeros(16000, dtype=np.float32)
    first = await stt.transcribe(audio, "auto")
    assert first.text == "hello" and first.language == "es" and first.duration == 1.0
    second = await stt.transcribe(audio, "en")
    assert second.is_empty and second.language == "en"
    assert stt.calls == [(16000, "auto"), (16000, "en")]


async def test_fake_kb_isolates_owners() -> None:
    kb = FakeKnowledgeBase()
    doc = await kb.add("A", "m", "The weekly meeting is on Monday.")
    assert (await kb.search("A", "weekly meeting"))[0].doc_id == doc.id
    assert await kb.search("B", "weekly meeting") == []
    assert not await kb.delete("B", doc.id)
    assert await kb.delete("A", doc.id)


async def test_fake_kb_updates_a_document() -> None:
    kb = FakeKnowledgeBase()
    doc = await kb.add("A", "m", "The weekly meeting is on Monday.")
    edited = await kb.update(doc.id, text="The weekly meeting is on Tuesday.")
    assert edited.id == doc.id and edited.title == "m"
    assert "Tuesday" in (await kb.search("A", "weekly meeting"))[0].text
    with pytest.raises(PipelineError):
        await kb.update("no-such-doc", title="x")


async def test_fake_embedder_similarity() -> None:
    emb = FakeEmbedder()
    q = np.array(await emb.embed_query("weekly meeting monday"))
    a, b = (np.array(v) for v in await emb.embed_passages(["the weekly meeting", "free parking"]))
    assert q @ a > q @ b
