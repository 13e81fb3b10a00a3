"""The SQL side of the knowledge base, as the pipeline needs it.

:class:`DocumentRepo` is what :class:`~callcontrol.pipeline.rag.KnowledgeService`
asks of the ``knowledge_documents`` table (``store.models.KnowledgeDocument``): the
store layer implements it with SQLAlchemy; :class:`InMemoryDocumentRepo` serves tests
and tools. Records travel as :class:`~callcontrol.pipeline.base.DocumentInfo`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from callcontrol.pipeline.base import DocumentInfo, StoredChunk


@runtime_checkable
class DocumentRepo(Protocol):
    async def get(self, doc_id: str) -> DocumentInfo | None: ...

    async def get_by_title(self, owner: str, title: str) -> DocumentInfo | None: ...

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        """Documents (with ``text``), oldest first; all owners when ``owner`` is None."""
        ...

    async def upsert(self, doc: DocumentInfo, chunks: Sequence[StoredChunk] = ()) -> None:
        """Insert, or replace the row with the same ``id``, and replace its chunks
        (one transaction: readers never see a document without its chunks)."""
        ...

    async def delete(self, doc_id: str) -> bool:
        """Delete a document and its chunks."""
        ...

    async def chunks(self, owner: str) -> builtins.list[StoredChunk]:
        """Every chunk of the owner's documents, in document and chunk order."""
        ...

    async def revisions(self) -> dict[str, str]:
        """A token per owner that changes whenever one of its documents changes."""
        ...


class InMemoryDocumentRepo:
    """A :class:`DocumentRepo` in a dict (tests, the CLI without a database)."""

    def __init__(self) -> None:
        self._docs: dict[str, DocumentInfo] = {}
        self._chunks: dict[str, list[StoredChunk]] = {}
        self._version = 0

    async def get(self, doc_id: str) -> DocumentInfo | None:
        return self._docs.get(doc_id)

    async def get_by_title(self, owner: str, title: str) -> DocumentInfo | None:
        for doc in self._docs.values():
            if doc.owner == owner and doc.title == title:
                return doc
        return None

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        docs = [d for d in self._docs.values() if owner is None or d.owner == owner]
        return sorted(docs, key=lambda d: (d.created_at, d.title))

    async def upsert(self, doc: DocumentInfo, chunks: Sequence[StoredChunk] = ()) -> None:
        self._docs[doc.id] = doc
        self._chunks[doc.id] = list(chunks)
        self._version += 1

    async def delete(self, doc_id: str) -> bool:
        self._chunks.pop(doc_id, None)
        self._version += 1
        return self._docs.pop(doc_id, None) is not None

    async def chunks(self, owner: str) -> builtins.list[StoredChunk]:
        docs = await self.list(owner)
        return [c for d in docs for c in self._chunks.get(d.id, [])]

    async def revisions(self) -> dict[str, str]:
        owners = {d.owner for d in self._docs.values()}
        return {owner: str(self._version) for owner in owners}
