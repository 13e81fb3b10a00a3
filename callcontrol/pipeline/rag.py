"""The knowledge base: documents → fact chunks → embeddings → hybrid search.

**Where things live.** The SQL database is the one truth: a document row and its
fact-sized chunks (``chunking.py``) with their e5 embeddings are written in one
transaction (``knowledge_documents`` + ``knowledge_chunks``). Each process keeps,
per owner, an in-memory :class:`~callcontrol.pipeline.retrieval.OwnerIndex` built
from those rows (vectors as one matrix, BM25 over stems) and rebuilds it when the
owner's revision changes: at once for its own writes, within
``PipelineSettings.kb_refresh_s`` for another process's (``callcontrol kb add``
while ``serve`` runs, another worker's console). Nothing is locked to one process.

**Vendors.** The service depends on the Protocols of ``base.py`` only: an
:class:`~callcontrol.pipeline.base.Embedder` (``e5.py``: multilingual-e5-small) and,
optionally, a :class:`~callcontrol.pipeline.base.VectorStore` (``qdrant.py``) for
the dense half of the search; :func:`open_knowledge_service` has ``factory.py``
build them from settings.

**Scores.** A :class:`~callcontrol.pipeline.base.Passage`'s ``score`` is retrieval's
calibrated confidence (``retrieval.py``), not a raw cosine: e5's cosines sit in a
narrow band where one absolute threshold cannot separate answered from unanswered.

**A Qdrant server** (``QDRANT_URL``) takes the dense half of the search for large
knowledge bases, every search filtered on the owner (``qdrant.py``); the lexical
half and the confidence stay in process.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from callcontrol.aio import cancel_and_wait
from callcontrol.errors import PipelineError
from callcontrol.pipeline.background import BACKGROUND
from callcontrol.pipeline.base import DocumentInfo, Embedder, Passage, StoredChunk, VectorStore
from callcontrol.pipeline.chunking import Chunk, chunk_text
from callcontrol.pipeline.documents import DocumentRepo
from callcontrol.pipeline.factory import build_embedder, build_vector_store, open_stage
from callcontrol.pipeline.lexical import content_tokens, words
from callcontrol.pipeline.models import cache_dir
from callcontrol.pipeline.retrieval import OwnerIndex

if TYPE_CHECKING:
    from callcontrol.config import Settings

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class KnowledgeService:
    """:class:`~callcontrol.pipeline.base.KnowledgeBase`: SQL rows, chunks and indexes in step.

    A document is identified by ``(owner, title)``: adding it again replaces its text
    and its chunks (same id). The row and its chunks are one transaction; the Qdrant
    server's points (when configured) are written first and removed again if the
    row cannot be written.
    """

    def __init__(
        self,
        repo: DocumentRepo,
        embedder: Embedder,
        *,
        vectors: VectorStore | None = None,
    ) -> None:
        self._repo = repo
        self._embedder = embedder
        self._vectors = vectors
        self._lock = asyncio.Lock()  # one writer at a time keeps rows and vectors paired
        self._indexes: dict[str, OwnerIndex] = {}
        self._revisions: dict[str, str] = {}  # as last seen by refresh()
        self._loads: dict[str, asyncio.Task[OwnerIndex]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-search")
        self._background: np.ndarray[Any, np.dtype[np.float32]] | None = None

    @property
    def embedder(self) -> Embedder:
        """The loaded embedding model (the post-call gate reads sentences with it too)."""
        return self._embedder

    def chunk(self, text: str, title: str = "") -> list[Chunk]:
        return chunk_text(text, title)

    async def add(
        self, owner: str, title: str, text: str, source: str | None = None
    ) -> DocumentInfo:
        owner, title = owner.strip(), title.strip()
        if not owner or not title:
            raise PipelineError("a document needs an owner and a title")
        async with self._lock:
            existing = await self._repo.get_by_title(owner, title)
            return await self._write(existing, owner, title, text, source)

    async def update(
        self,
        doc_id: str,
        *,
        text: str | None = None,
        title: str | None = None,
        source: str | None = None,
    ) -> DocumentInfo:
        """Edit a document's text and/or title (its chunks are rebuilt)."""
        async with self._lock:
            existing = await self._repo.get(doc_id)
            if existing is None:
                raise PipelineError(f"no knowledge document {doc_id}")
            new_title = (title or existing.title).strip()
            clash = await self._repo.get_by_title(existing.owner, new_title)
            if clash is not None and clash.id != doc_id:
                raise PipelineError(f"{existing.owner} already has a document titled {new_title!r}")
            return await self._write(
                existing,
                existing.owner,
                new_title,
                existing.text if text is None else text,
                existing.source if source is None else source,
            )

    async def _write(
        self,
        existing: DocumentInfo | None,
        owner: str,
        title: str,
        text: str,
        source: str | None,
    ) -> DocumentInfo:
        chunks = self.chunk(text, title)
        if not chunks:
            raise PipelineError(f"{title!r} has no text to index")
        vectors = await self._embedder.embed_passages([c.passage for c in chunks])
        now = _now()
        doc = DocumentInfo(
            id=existing.id if existing else str(uuid.uuid4()),
            owner=owner,
            title=title,
            source=source,
            chunk_count=len(chunks),
            created_at=existing.created_at if existing else now,
            updated_at=now,
            text=text,
        )
        stored = [
            StoredChunk(doc.id, title, c.index, c.text, c.context, np.asarray(v, np.float32))
            for c, v in zip(chunks, vectors, strict=True)
        ]
        if self._vectors is not None:
            await self._vectors.replace_document(owner, doc.id, title, chunks, vectors)
        try:
            await self._repo.upsert(doc, stored)
        except BaseException:
            if existing is None and self._vectors is not None:
                await self._vectors.delete_document(doc.id)
            raise
        self._invalidate(owner)
        log.info("knowledge document indexed", owner=owner, title=title, chunks=len(chunks))
        return doc

    async def delete(self, owner: str | None, doc_id: str) -> bool:
        async with self._lock:
            doc = await self._repo.get(doc_id)
            if doc is None or (owner is not None and doc.owner != owner):
                return False
            if self._vectors is not None:
                await self._vectors.delete_document(doc_id)
            await self._repo.delete(doc_id)
            self._invalidate(doc.owner)
            log.info("knowledge document deleted", owner=doc.owner, title=doc.title)
            return True

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        return await self._repo.list(owner)

    async def reindex(self, owner: str | None = None) -> int:
        """Rebuild the chunks and vectors of every (owner's) document from the SQL rows."""
        docs = await self._repo.list(owner)
        for doc in docs:
            async with self._lock:
                await self._write(doc, doc.owner, doc.title, doc.text, doc.source)
        return len(docs)

    async def ensure_chunks(self) -> int:
        """Index documents stored before chunks were (databases older than 0003)."""
        missing = 0
        docs = await self._repo.list()
        for owner in sorted({d.owner for d in docs}):
            indexed = {c.doc_id for c in await self._repo.chunks(owner)}
            for doc in docs:
                if doc.owner == owner and doc.id not in indexed:
                    log.info("indexing a document stored without chunks", title=doc.title)
                    async with self._lock:
                        await self._write(doc, doc.owner, doc.title, doc.text, doc.source)
                    missing += 1
        return missing

    # -- the in-memory indexes ----------------------------------------------------------
    def _invalidate(self, owner: str) -> None:
        self._indexes.pop(owner, None)
        task = self._loads.pop(owner, None)
        if task is not None:
            task.cancel()

    async def _index(self, owner: str) -> OwnerIndex:
        while True:
            cached = self._indexes.get(owner)
            if cached is not None:
                return cached
            task = self._loads.get(owner)
            if task is None:
                task = asyncio.ensure_future(self._load(owner))
                self._loads[owner] = task
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if task.cancelled() and not (current is not None and current.cancelling()):
                    continue  # the knowledge changed while it loaded: load it again
                raise

    async def _load(self, owner: str) -> OwnerIndex:
        if self._background is None:
            vectors = await self._embedder.embed_passages(BACKGROUND)
            self._background = np.asarray(vectors, dtype=np.float32)
        background = self._background
        chunks = await self._repo.chunks(owner)
        index = await asyncio.get_running_loop().run_in_executor(
            self._executor,
            lambda: OwnerIndex(chunks, self._embedder.dim, background=background),
        )
        if self._loads.get(owner) is asyncio.current_task():
            self._loads.pop(owner, None)
            self._indexes[owner] = index
        log.debug("knowledge index loaded", owner=owner, chunks=len(index))
        return index

    async def refresh(self) -> builtins.list[str]:
        """Drop the indexes of owners whose documents changed elsewhere; returns them."""
        revisions = await self._repo.revisions()
        changed = [
            owner
            for owner in set(self._revisions) | set(revisions)
            if self._revisions.get(owner) != revisions.get(owner)
        ]
        self._revisions = revisions
        for owner in changed:
            if owner in self._indexes or owner in self._loads:
                self._invalidate(owner)
                if owner in revisions:  # rebuild now, not on a caller's turn
                    self._loads[owner] = asyncio.ensure_future(self._load(owner))
        return changed

    async def watch(self, interval: float) -> None:
        """Refresh forever (a task owned by :func:`open_knowledge_service`)."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the database may be down for a while
                log.warning("knowledge refresh failed", error=str(exc))
            await asyncio.sleep(interval)

    async def glossary(self, owner: str) -> str:
        """The owner's names and long words, for biasing speech recognition."""
        return (await self._index(owner)).glossary

    async def search(self, owner: str, query: str, k: int = 3) -> builtins.list[Passage]:
        if not owner:
            raise PipelineError("a knowledge search needs an owner")
        if not query.strip() or not content_tokens(query) and not words(query):
            return []
        index = await self._index(owner)
        if not len(index):
            return []
        vector = np.asarray(await self._embedder.embed_query(query), dtype=np.float32)
        dense_hits: list[int] = []
        if self._vectors is not None:
            positions = {(c.doc_id, c.index): i for i, c in enumerate(index.chunks)}
            found = await self._vectors.search(owner, vector.tolist(), 20)
            dense_hits = [
                positions[(p.doc_id, p.chunk)] for p in found if (p.doc_id, p.chunk) in positions
            ]
        loop = asyncio.get_running_loop()
        hits = await loop.run_in_executor(
            self._executor,
            lambda: index.search(query, vector, k, dense_hits=dense_hits),
        )
        return [
            Passage(
                text=h.chunk.text,
                score=round(h.confidence, 4),
                doc_id=h.chunk.doc_id,
                title=h.chunk.title,
                chunk=h.chunk.index,
                context=h.chunk.context,
                dense=round(h.dense, 4),
                coverage=round(h.coverage, 4),
                lexical=round(h.lexical, 4),
            )
            for h in hits
        ]

    def close(self) -> None:
        for task in self._loads.values():
            task.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)


def is_confident(passages: Sequence[Passage], min_confidence: float) -> bool:
    """Whether the best passage is good enough to answer from."""
    return bool(passages) and passages[0].score >= min_confidence


@asynccontextmanager
async def open_knowledge_service(
    settings: Settings, repo: DocumentRepo, *, watch: bool = True
) -> AsyncIterator[KnowledgeService]:
    """Build the knowledge base from settings (loads the embedder); close at exit.

    ``watch``: follow other processes' changes (a worker); off for one-shot tools.
    """
    cache = cache_dir(settings)
    async with AsyncExitStack() as stack:
        embedder = await stack.enter_async_context(
            open_stage(lambda: build_embedder(settings, cache))
        )
        vectors = await asyncio.to_thread(build_vector_store, settings, embedder.dim)
        if vectors is not None:
            stack.push_async_callback(vectors.aclose)
            await vectors.start()
        service = KnowledgeService(repo, embedder, vectors=vectors)
        stack.callback(service.close)
        if watch:
            await service.ensure_chunks()
            await service.refresh()
            watcher = asyncio.create_task(
                service.watch(settings.pipeline.kb_refresh_s), name="kb-watch"
            )
            stack.push_async_callback(cancel_and_wait, watcher)
        yield service
