"""Knowledge documents and their chunks in SQL: what every worker builds its per-owner index
from (``pipeline/rag.py``), so ``callcontrol kb add`` and the console's edits reach running
workers."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from callcontrol.errors import DuplicateError
from callcontrol.pipeline.base import DocumentInfo, StoredChunk
from callcontrol.store.models import (
    KnowledgeChunk,
    KnowledgeDocument,
    utcnow,
)
from callcontrol.store.repos import Sessions, aware


# -- knowledge documents ------------------------------------------------------------------
def _doc_info(row: KnowledgeDocument) -> DocumentInfo:
    return DocumentInfo(
        id=row.id,
        owner=row.owner,
        title=row.title,
        source=row.source,
        chunk_count=row.chunk_count,
        created_at=aware(row.created_at) or utcnow(),
        updated_at=aware(row.updated_at) or utcnow(),
        text=row.text,
    )


class KnowledgeDocumentRepo:
    """The knowledge base's SQL rows (a :class:`~callcontrol.pipeline.documents.DocumentRepo`)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def get(self, doc_id: str) -> DocumentInfo | None:
        async with self._sessions() as s:
            row = await s.get(KnowledgeDocument, doc_id)
            return _doc_info(row) if row is not None else None

    async def get_by_title(self, owner: str, title: str) -> DocumentInfo | None:
        async with self._sessions() as s:
            row = (
                await s.execute(
                    select(KnowledgeDocument)
                    .where(KnowledgeDocument.owner == owner)
                    .where(KnowledgeDocument.title == title)
                )
            ).scalar_one_or_none()
            return _doc_info(row) if row is not None else None

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        async with self._sessions() as s:
            stmt = select(KnowledgeDocument).order_by(
                KnowledgeDocument.created_at, KnowledgeDocument.title
            )
            if owner is not None:
                stmt = stmt.where(KnowledgeDocument.owner == owner)
            return [_doc_info(r) for r in (await s.execute(stmt)).scalars()]

    async def upsert(self, doc: DocumentInfo, chunks: Sequence[StoredChunk] = ()) -> None:
        """Write the document and replace its chunks, in one transaction."""
        async with self._sessions() as s:
            row = await s.get(KnowledgeDocument, doc.id)
            if row is None:
                row = KnowledgeDocument(id=doc.id, created_at=doc.created_at)
                s.add(row)
            row.owner = doc.owner
            row.title = doc.title
            row.source = doc.source
            row.text = doc.text
            row.chunk_count = doc.chunk_count
            row.updated_at = doc.updated_at
            await s.execute(delete(KnowledgeChunk).where(KnowledgeChunk.doc_id == doc.id))
            s.add_all(
                KnowledgeChunk(
                    id=f"{doc.id}:{c.index}",
                    doc_id=doc.id,
                    owner=doc.owner,
                    idx=c.index,
                    text=c.text,
                    context=c.context,
                    embedding=np.asarray(c.vector, dtype="<f4").tobytes(),
                )
                for c in chunks
            )
            try:
                await s.commit()
            except IntegrityError as exc:
                raise DuplicateError(f"{doc.owner} already has a document {doc.title!r}") from exc

    async def chunks(self, owner: str) -> builtins.list[StoredChunk]:
        """Every chunk of the owner's documents, in document and chunk order."""
        async with self._sessions() as s:
            stmt = (
                select(KnowledgeChunk, KnowledgeDocument.title)
                .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.doc_id)
                .where(KnowledgeChunk.owner == owner)
                .order_by(KnowledgeDocument.created_at, KnowledgeChunk.doc_id, KnowledgeChunk.idx)
            )
            return [
                StoredChunk(
                    doc_id=c.doc_id,
                    title=title,
                    index=c.idx,
                    text=c.text,
                    context=c.context,
                    vector=np.frombuffer(c.embedding, dtype="<f4").astype(np.float32),
                )
                for c, title in (await s.execute(stmt)).all()
            ]

    async def revisions(self) -> dict[str, str]:
        """A token per owner that changes whenever one of its documents does."""
        async with self._sessions() as s:
            stmt = select(
                KnowledgeDocument.owner,
                func.count(KnowledgeDocument.id),
                func.max(KnowledgeDocument.updated_at),
            ).group_by(KnowledgeDocument.owner)
            return {
                owner: f"{count}:{latest}" for owner, count, latest in (await s.execute(stmt)).all()
            }

    async def delete(self, doc_id: str) -> bool:
        async with self._sessions() as s:
            await s.execute(delete(KnowledgeChunk).where(KnowledgeChunk.doc_id == doc_id))
            result = await s.execute(
                delete(KnowledgeDocument).where(KnowledgeDocument.id == doc_id)
            )
            await s.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]
