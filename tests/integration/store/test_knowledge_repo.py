"""The knowledge base's SQL rows and chunks on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from callcontrol.pipeline.base import DocumentInfo, StoredChunk
from callcontrol.store.db import create_engine, migrate, sessionmaker
from callcontrol.store.knowledge_repo import KnowledgeDocumentRepo


def doc(doc_id: str, owner: str, title: str, at: datetime) -> DocumentInfo:
    return DocumentInfo(doc_id, owner, title, None, 2, at, at, text=f"{title} text")


def chunks(d: DocumentInfo, n: int = 2) -> list[StoredChunk]:
    return [
        StoredChunk(d.id, d.title, i, f"fact {i} of {d.title}", "Section", np.full(4, i, "f4"))
        for i in range(n)
    ]


async def _chunks_and_revisions(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
        repo = KnowledgeDocumentRepo(sessionmaker(engine))
        t0 = datetime(2026, 12, 1, tzinfo=UTC)
        a = doc("d-a", "acme", "hours", t0)
        await repo.upsert(a, chunks(a))
        await repo.upsert(doc("d-b", "globex", "parking", t0), [])
        stored = await repo.chunks("acme")
        assert [(c.doc_id, c.index, c.text, c.context) for c in stored] == [
            ("d-a", 0, "fact 0 of hours", "Section"),
            ("d-a", 1, "fact 1 of hours", "Section"),
        ]
        assert stored[1].vector.dtype == np.float32 and stored[1].vector.tolist() == [1.0] * 4
        assert await repo.chunks("globex") == []
        before = await repo.revisions()
        assert set(before) == {"acme", "globex"}

        # Re-writing a document replaces its chunks and moves its owner's revision only.
        a2 = doc("d-a", "acme", "hours", t0 + timedelta(minutes=1))
        await repo.upsert(a2, chunks(a2, 1))
        assert [c.index for c in await repo.chunks("acme")] == [0]
        after = await repo.revisions()
        assert after["acme"] != before["acme"] and after["globex"] == before["globex"]

        assert await repo.delete("d-a")
        assert await repo.chunks("acme") == []
        assert "acme" not in await repo.revisions()
    finally:
        await engine.dispose()


async def test_chunks_and_revisions_on_sqlite(sqlite_url: str) -> None:
    await _chunks_and_revisions(sqlite_url)


@pytest.mark.postgres
async def test_chunks_and_revisions_on_postgres(postgres_url: str) -> None:
    await _chunks_and_revisions(postgres_url)
