"""What the console needs of the knowledge base (``pipeline.rag.KnowledgeService`` fits).

The console is given one through ``Service.kb``; without it the knowledge pages say
the knowledge base is not configured and its API answers 503.
"""

from __future__ import annotations

import builtins
from typing import Protocol, runtime_checkable

from callcontrol.pipeline.base import DocumentInfo, Passage


@runtime_checkable
class KnowledgeAdmin(Protocol):
    async def list(self, owner: str | None = None) -> list[DocumentInfo]: ...

    async def search(self, owner: str, query: str, k: int = 3) -> builtins.list[Passage]: ...

    async def add(
        self, owner: str, title: str, text: str, source: str | None = None
    ) -> DocumentInfo:
        """Add a document, or replace the owner's document with the same title."""
        ...

    async def update(
        self,
        doc_id: str,
        *,
        text: str | None = None,
        title: str | None = None,
        source: str | None = None,
    ) -> DocumentInfo:
        """Edit a document; raises ``PipelineError`` when it is unknown or the title clashes."""
        ...

    async def delete(self, owner: str | None, doc_id: str) -> bool: ...
