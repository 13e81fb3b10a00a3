"""The SQL side of the knowledge base, as the pipeline needs it.

:class:`DocumentRepo` is what :class:`~callcontrol.pipeline.rag.KnowledgeService`
asks of the ``knowledge_documents`` table (``store.models.KnowledgeDocument``): the
store layer implements it with SQLAlchemy; :class:`InMemoryDocumentRepo` serves tests
and tools. Records travel as :class:`~callcontrol.pipeline.base.DocumentInfo`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from callcontrol.pipeline.base import DocumentInfo


@runtime_checkable
class DocumentRepo(Protocol):
    async def get(self, doc_id: str) -> DocumentInfo | None: ...

    async def get_by_title(self, owner: str, title: str) -> DocumentInfo | None: ...

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        """Documents (with ``text``), oldest first; all owners when ``owner`` is None."""
        ...

    async def upsert(self, doc: DocumentInfo) -> None:
        """Insert, or replace the row with the same ``id``."""
        ...

    async def delete(self, doc_id: str) -> bool: ...


class InMemoryDocumentRepo:
    """A :class:`DocumentRepo` in a dict (tests, the CLI without a database)."""

    def __init__(self) -> None:
        self._docs: dict[str, DocumentInfo] = {}

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

    async def upsert(self, doc: DocumentInfo) -> None:
        self._docs[doc.id] = doc

    async def delete(self, doc_id: str) -> bool:
        return self._docs.pop(doc_id, None) is not None
