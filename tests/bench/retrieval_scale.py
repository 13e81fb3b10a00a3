"""Retrieval at scale: one owner with 50k fact chunks, in the embedded default.

What a caller's turn pays for retrieval is the search itself (the question's
embedding is the same at any size): the owner's 50k×384 matrix times the question
vector, BM25 over 50k chunks, the confidence of the candidates. Measured on
:class:`~callcontrol.pipeline.retrieval.OwnerIndex` with random unit vectors and
synthetic FAQ sentences (a real e5 embedding of 50k chunks would take ~15 minutes
here and search the same matrix). Target: p50 ≤ 10 ms. Building the index (what a
worker does when the owner's knowledge changes) is reported too.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import numpy as np

from callcontrol.pipeline.base import StoredChunk
from callcontrol.pipeline.retrieval import OwnerIndex

WORDS = (
    "store open close monday tuesday wednesday thursday friday saturday sunday delivery "
    "order return refund receipt parking garage card payment visa cash gift loyalty points "
    "member discount price match key paint mix lumber tool rental appointment dentist "
    "cleaning insurance plan router install outage bill fee contract library book loan "
    "renew hold fine branch event room print scan wifi password email phone manager"
).split()


def _chunks(n: int, dim: int, rng: np.random.Generator) -> list[StoredChunk]:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pick = random.Random(7)
    out = []
    for i in range(n):
        words = " ".join(pick.choices(WORDS, k=12))
        text = (
            f"Fact {i}: the {words} costs ${pick.randint(1, 500)} after {pick.randint(1, 12)} pm."
        )
        out.append(StoredChunk("doc", "owner", i, text, f"Section {i % 300}", vectors[i]))
    return out


def run(chunks: int = 50_000, queries: int = 200, dim: int = 384) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    stored = _chunks(chunks, dim, rng)
    started = time.perf_counter()
    index = OwnerIndex(stored, dim)
    build_s = time.perf_counter() - started
    pick = random.Random(3)
    timings = []
    for _ in range(queries):
        question = f"when does the {' '.join(pick.choices(WORDS, k=4))} open on saturday?"
        vector = rng.standard_normal(dim).astype(np.float32)
        vector /= np.linalg.norm(vector)
        t0 = time.perf_counter()
        index.search(question, vector, 3)
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return {
        "chunks": chunks,
        "queries": queries,
        "search_ms": {
            "p50": round(statistics.median(timings), 2),
            "p95": round(timings[int(0.95 * (len(timings) - 1))], 2),
            "max": round(timings[-1], 2),
        },
        "index_build_s": round(build_s, 1),
        "target": {"p50_ms": 10},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
