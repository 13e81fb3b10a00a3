"""KnowledgeService logic on a fake embedder and Qdrant's in-memory local mode."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import DocumentInfo, KnowledgeBase
from callcontrol.pipeline.documents import InMemoryDocumentRepo
from callcontrol.pipeline.rag import KnowledgeService, VectorIndex, is_confident, point_id
from tests.unit.pipeline.fakes import FakeEmbedder

MEETING = "The weekly meeting is on Monday at 10 am in room 3."
PARKING = "Visitors park for free in the underground garage."


@pytest.fixture
async def index() -> AsyncIterator[VectorIndex]:
    idx = VectorIndex(path=":memory:", dim=64)
    yield idx
    idx.close()


@pytest.fixture
def repo() -> InMemoryDocumentRepo:
    return InMemoryDocumentRepo()


@pytest.fixture
def kb(repo: InMemoryDocumentRepo, index: VectorIndex) -> KnowledgeService:
    return KnowledgeService(repo, index, FakeEmbedder(64), chunk_words=12, overlap_words=3)


def test_it_is_a_knowledge_base(kb: KnowledgeService) -> None:
    assert isinstance(kb, KnowledgeBase)


async def test_one_owner_never_sees_another_owners_knowledge(kb: KnowledgeService) -> None:
    await kb.add("A", "meeting", MEETING)
    await kb.add("B", "parking", PARKING)
    a = await kb.search("A", "When is the weekly meeting?", 5)
    assert [p.title for p in a] == ["meeting"]
    assert a[0].score > 0.3
    b = await kb.search("B", "When is the weekly meeting?", 5)
    assert [p.title for p in b] == ["parking"]
    assert await kb.search("C", "When is the weekly meeting?", 5) == []


async def test_search_without_owner_is_refused(index: VectorIndex) -> None:
    with pytest.raises(PipelineError, match="owner"):
        await index.search("", [0.0] * 64, 3)


async def test_re_adding_replaces_text_and_drops_stale_chunks(
    kb: KnowledgeService, index: VectorIndex, repo: InMemoryDocumentRepo
) -> None:
    long_text = " ".join(f"Fact {i} about the office is here." for i in range(10))
    first = await kb.add("A", "office", long_text)
    assert first.chunk_count > 2
    assert await index.count("A") == first.chunk_count
    second = await kb.add("A", "office", MEETING)
    assert second.id == first.id and second.created_at == first.created_at
    assert second.chunk_count == 1
    assert await index.count("A") == 1
    hits = await kb.search("A", "Fact 7 about the office", 5)
    assert all("Fact" not in h.text for h in hits)
    assert (await repo.get(first.id)) == second


async def test_update_and_rename(kb: KnowledgeService) -> None:
    doc = await kb.add("A", "meeting", MEETING)
    await kb.add("A", "parking", PARKING)
    renamed = await kb.update(doc.id, title="meetings", text=MEETING.replace("3", "4"))
    assert renamed.id == doc.id and renamed.title == "meetings"
    hits = await kb.search("A", "weekly meeting room", 1)
    assert hits[0].title == "meetings" and "room 4" in hits[0].text
    with pytest.raises(PipelineError, match="already has"):
        await kb.update(doc.id, title="parking")
    with pytest.raises(PipelineError, match="no knowledge document"):
        await kb.update("nope", text="x")


async def test_delete_checks_the_owner(kb: KnowledgeService, index: VectorIndex) -> None:
    doc = await kb.add("A", "meeting", MEETING)
    assert await kb.delete("B", doc.id) is False
    assert await index.count("A") == 1
    assert await kb.delete("A", doc.id) is True
    assert await index.count("A") == 0
    assert await kb.list("A") == []
    assert await kb.delete(None, doc.id) is False


async def test_list_by_owner(kb: KnowledgeService) -> None:
    await kb.add("A", "meeting", MEETING, source="/docs/m.md")
    await kb.add("B", "parking", PARKING)
    assert [d.title for d in await kb.list("A")] == ["meeting"]
    assert sorted(d.title for d in await kb.list()) == ["meeting", "parking"]
    assert (await kb.list("A"))[0].source == "/docs/m.md"


async def test_empty_document_or_query(kb: KnowledgeService) -> None:
    with pytest.raises(PipelineError, match="no text"):
        await kb.add("A", "empty", "   \n")
    with pytest.raises(PipelineError, match="owner and a title"):
        await kb.add("", "x", MEETING)
    assert await kb.search("A", "  ", 3) == []


class FailingRepo(InMemoryDocumentRepo):
    async def upsert(self, doc: DocumentInfo) -> None:
        raise RuntimeError("database down")


async def test_vectors_are_removed_when_the_row_cannot_be_written(index: VectorIndex) -> None:
    kb = KnowledgeService(FailingRepo(), index, FakeEmbedder(64))
    with pytest.raises(RuntimeError):
        await kb.add("A", "meeting", MEETING)
    assert await index.count("A") == 0


async def test_reindex_rebuilds_vectors_from_rows(kb: KnowledgeService, index: VectorIndex) -> None:
    doc = await kb.add("A", "meeting", MEETING)
    await index.delete_document(doc.id)
    assert await kb.search("A", "weekly meeting", 3) == []
    assert await kb.reindex("A") == 1
    assert [p.doc_id for p in await kb.search("A", "weekly meeting", 3)] == [doc.id]


def test_point_ids_are_stable() -> None:
    assert point_id("doc", 0) == point_id("doc", 0) != point_id("doc", 1)


def test_is_confident() -> None:
    from callcontrol.pipeline.base import Passage

    assert not is_confident([], 0.8)
    assert is_confident([Passage("x", 0.85, "d", "t")], 0.83)
    assert not is_confident([Passage("x", 0.80, "d", "t")], 0.83)
