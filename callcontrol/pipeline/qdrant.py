"""A Qdrant server as the dense half of retrieval, for knowledge bases too large to hold.

**Owner isolation.** One collection, every point carrying its ``owner`` (and ``doc_id``)
in the payload, and *every* search filtered on ``owner`` by :meth:`VectorIndex.search`,
which has no way to search without one. This is Qdrant's recommended multitenancy: the
``owner`` field gets a keyword index marked ``is_tenant`` and the collection builds
per-tenant HNSW graphs (``payload_m``) instead of one global graph, so a tenant's search
only walks its own vectors. qdrant-client's local mode (``path`` or ``":memory:"``)
serves tests; it has no payload indexes and scans in Python.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import Passage
from callcontrol.pipeline.chunking import Chunk

T = TypeVar("T")

DEFAULT_COLLECTION = "knowledge"
DEFAULT_DIM = 384  # multilingual-e5-small's (e5.E5_DIM); the factory passes the embedder's
_POINT_NS = uuid.UUID("6f1c4a52-3a8e-4a0f-9d0b-6a2f2c1f9e11")


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
        dim: int = DEFAULT_DIM,
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

    async def start(self) -> None:
        """Create the collection and its owner index if they do not exist yet."""
        await self.ensure()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

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
                    "text": c.text,
                    "context": c.context,
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
                    context=str(payload.get("context", "")),
                    dense=float(hit.score),
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
