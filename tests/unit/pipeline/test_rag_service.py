"""KnowledgeService logic on a fake embedder (and Qdrant's in-memory local mode as the
vector store a server would be)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import DocumentInfo, KnowledgeBase, StoredChunk
from callcontrol.pipeline.documents import InMemoryDocumentRepo
from callcontrol.pipeline.qdrant import VectorIndex, point_id
from callcontrol.pipeline.rag import KnowledgeService, is_confident
from tests.fakes.pipeline import FakeEmbedder

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
async def kb(repo: InMemoryDocumentRepo, index: VectorIndex) -> AsyncIterator[KnowledgeService]:
    service = KnowledgeService(repo, FakeEmbedder(64), vectors=index)
    yield service
    service.close()


def test_it_is_a_knowledge_base(kb: KnowledgeService) -> None:
    assert isinstance(kb, KnowledgeBase)


async def test_one_owner_never_sees_another_owners_knowledge(kb: KnowledgeService) -> None:
    await kb.add("A", "meeting", MEETING)
    await kb.add("B", "parking", PARKING)
    a = await kb.search("A", "When is the weekly meeting?", 5)
    assert [p.title for p in a] == ["meeting"]
    assert a[0].dense > 0.3 and 0 <= a[0].score <= 1
    b = await kb.search("B", "When is the weekly meeting?", 5)
    assert [p.title for p in b] == ["parking"]
    assert await kb.search("C", "When is the weekly meeting?", 5) == []


async def test_search_without_owner_is_refused(index: VectorIndex) -> None:
    with pytest.raises(PipelineError, match="owner"):
        await index.search("", [0.0] * 64, 3)


async def test_re_adding_replaces_text_and_drops_stale_chunks(
    kb: KnowledgeService, index: VectorIndex, repo: InMemoryDocumentRepo
) -> None:
    long_text = " ".join(f"Fact {i} about the office is written here." for i in range(10))
    first = await kb.add("A", "office", long_text)
    assert first.chunk_count == 10  # one fact a chunk
    assert await index.count("A") == first.chunk_count
    assert len(await repo.chunks("A")) == 10
    second = await kb.add("A", "office", MEETING)
    assert second.id == first.id and second.created_at == first.created_at
    assert second.chunk_count == 1
    assert await index.count("A") == 1
    assert [c.text for c in await repo.chunks("A")] == [MEETING]
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
    async def upsert(self, doc: DocumentInfo, chunks: Sequence[StoredChunk] = ()) -> None:
        raise RuntimeError("database down")


async def test_vectors_are_removed_when_the_row_cannot_be_written(index: VectorIndex) -> None:
    kb = KnowledgeService(FailingRepo(), FakeEmbedder(64), vectors=index)
    with pytest.raises(RuntimeError):
        await kb.add("A", "meeting", MEETING)
    assert await index.count("A") == 0
    kb.close()


async def test_documents_stored_without_chunks_are_indexed_at_start(
    repo: InMemoryDocumentRepo,
) -> None:
    """A database from before chunks were stored: the first worker indexes it."""
    kb = KnowledgeService(repo, FakeEmbedder(64))
    doc = await kb.add("A", "meeting", MEETING)
    await repo.upsert(doc, [])  # as migration 0003 leaves an older document
    assert await repo.chunks("A") == []
    assert await kb.ensure_chunks() == 1
    assert [c.text for c in await repo.chunks("A")] == [MEETING]
    assert await kb.ensure_chunks() == 0
    kb.close()


async def test_reindex_rebuilds_chunks_from_rows(
    kb: KnowledgeService, repo: InMemoryDocumentRepo
) -> None:
    doc = await kb.add("A", "meeting", MEETING)
    assert await kb.reindex("A") == 1
    assert [p.doc_id for p in await kb.search("A", "weekly meeting", 3)] == [doc.id]
    assert len(await repo.chunks("A")) == 1


async def test_refresh_reports_owners_changed_by_another_writer(
    repo: InMemoryDocumentRepo,
) -> None:
    worker, other = (
        KnowledgeService(repo, FakeEmbedder(64)),
        KnowledgeService(repo, FakeEmbedder(64)),
    )
    assert await worker.refresh() == []
    await other.add("A", "meeting", MEETING)
    assert await worker.refresh() == ["A"]
    assert [p.text for p in await worker.search("A", "weekly meeting", 1)] == [MEETING]
    assert await worker.refresh() == []
    await other.add("A", "parking", PARKING)
    assert await worker.refresh() == ["A"]
    assert {p.title for p in await worker.search("A", "park garage visitors", 2)} >= {"parking"}
    worker.close()
    other.close()


async def test_glossary_lists_the_owners_names_and_long_words(kb: KnowledgeService) -> None:
    await kb.add(
        "A", "team", "Our periodontist is Dr. Anna Brooks. Anna Brooks sees patients on Friday."
    )
    glossary = await kb.glossary("A")
    assert glossary.startswith("Anna Brooks, ")
    assert "periodontist" in glossary and "Our" not in glossary.split(", ")


def test_point_ids_are_stable() -> None:
    assert point_id("doc", 0) == point_id("doc", 0) != point_id("doc", 1)


def test_is_confident() -> None:
    from callcontrol.pipeline.base import Passage

    assert not is_confident([], 0.5)
    assert is_confident([Passage("x", 0.55, "d", "t")], 0.5)
    assert not is_confident([Passage("x", 0.45, "d", "t")], 0.5)


class SlowRepo(InMemoryDocumentRepo):
    """Holds chunk reads until released: an index load in progress."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.reads = 0

    async def chunks(self, owner: str) -> list[StoredChunk]:
        self.reads += 1
        await self.release.wait()
        return await super().chunks(owner)


async def test_an_edit_while_a_search_loads_the_index_does_not_lose_the_search() -> None:
    repo = SlowRepo()
    kb = KnowledgeService(repo, FakeEmbedder(64))
    repo.release.set()
    await kb.add("A", "meeting", MEETING)
    repo.release.clear()
    search = asyncio.ensure_future(kb.search("A", "When is the weekly meeting?", 1))
    while repo.reads == 0:
        await asyncio.sleep(0)
    await kb.add("A", "parking", PARKING)  # invalidates the load in progress
    repo.release.set()
    hits = await search  # reloaded, not cancelled
    assert [h.title for h in hits] == ["meeting"]
    assert repo.reads >= 2
    kb.close()
