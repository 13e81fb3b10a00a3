"""A knowledge base for console tests: real bookkeeping, a crude word-overlap score."""

from __future__ import annotations

import builtins
import re
import uuid
from datetime import UTC, datetime

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import DocumentInfo, Passage

_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


class FakeKnowledge:
    """Satisfies ``console.kb.KnowledgeAdmin``."""

    def __init__(self) -> None:
        self.docs: dict[str, DocumentInfo] = {}

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        docs = [d for d in self.docs.values() if owner is None or d.owner == owner]
        return sorted(docs, key=lambda d: (d.created_at, d.title))

    async def search(self, owner: str, query: str, k: int = 3) -> builtins.list[Passage]:
        q = _words(query)
        scored = []
        for d in self.docs.values():
            if d.owner != owner or not q:
                continue
            score = len(q & _words(d.text + " " + d.title)) / len(q)
            scored.append(Passage(d.text, score, d.id, d.title))
        return sorted(scored, key=lambda p: -p.score)[:k]

    async def add(
        self, owner: str, title: str, text: str, source: str | None = None
    ) -> DocumentInfo:
        if not text.strip():
            raise PipelineError(f"{title!r} has no text to index")
        now = datetime.now(UTC)
        existing = next(
            (d for d in self.docs.values() if d.owner == owner and d.title == title), None
        )
        doc = DocumentInfo(
            id=existing.id if existing else str(uuid.uuid4()),
            owner=owner,
            title=title,
            source=source,
            chunk_count=1,
            created_at=existing.created_at if existing else now,
            updated_at=now,
            text=text,
        )
        self.docs[doc.id] = doc
        return doc

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
        new = DocumentInfo(
            id=old.id,
            owner=old.owner,
            title=title or old.title,
            source=source or old.source,
            chunk_count=1,
            created_at=old.created_at,
            updated_at=datetime.now(UTC),
            text=old.text if text is None else text,
        )
        self.docs[doc_id] = new
        return new

    async def delete(self, owner: str | None, doc_id: str) -> bool:
        doc = self.docs.get(doc_id)
        if doc is None or (owner is not None and doc.owner != owner):
            return False
        del self.docs[doc_id]
        return True
