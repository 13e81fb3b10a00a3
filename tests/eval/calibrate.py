"""Fit retrieval's confidence on the development questions: ``python -m tests.eval.calibrate``.

For every development question (``split: dev``; never the held-out ``eval`` set) the
best chunk's signals — cosine, word coverage, lexical agreement, standard score — are
computed exactly as a call computes them (``callcontrol.pipeline.retrieval``) — on the
question's text and on what the service's Whisper hears of it in ``make eval``'s
voices — labelled
1 when that chunk holds the expected facts and 0 otherwise (unanswerable questions
are all 0), and a logistic regression is fitted on them. It prints the weights to
paste into ``retrieval.WEIGHTS``/``BIAS`` and, per threshold, how many answerable
questions would be answered right or wrong and how many unanswerable ones answered —
the trade-off ``PipelineSettings.min_confidence`` is chosen from.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import numpy as np
import numpy.typing as npt

from callcontrol.pipeline.answer import search_query
from callcontrol.pipeline.background import BACKGROUND
from callcontrol.pipeline.base import StoredChunk
from callcontrol.pipeline.chunking import chunk_text
from callcontrol.pipeline.e5 import E5Embedder
from callcontrol.pipeline.retrieval import OwnerIndex
from tests.eval.dataset import load_dataset
from tests.eval.normalize import item_found, tokens
from tests.eval.speech import DEFAULT_VOICES

DATA = Path(__file__).parent / "data"
CACHE = Path("var")
F64 = npt.NDArray[np.float64]


async def transcripts(data: Path, split: str, voices: str) -> dict[str, list[str]]:
    """What the service's speech recognition hears of each question, per voice: clips
    as ``make eval`` makes them, the bundled Whisper with the service's default settings
    and the owner's glossary (cached by ``offline.hear``)."""
    from callcontrol.config import PipelineSettings
    from tests.eval.offline import hear

    dataset = load_dataset(data, split=split)
    got = await hear(dataset, voices, PipelineSettings())
    heard: dict[str, list[str]] = {}
    for key, value in got.items():
        say = key.split("|", 1)[1]
        heard.setdefault(say, []).append(value)
    return heard


async def features(
    data: Path, split: str, heard: dict[str, list[str]] | None = None
) -> tuple[F64, F64, F64]:
    """(signals, label, answerable) per question: its clean text, and each transcript of
    it in ``heard``."""
    embedder = E5Embedder()
    background = np.asarray(await embedder.embed_passages(BACKGROUND), dtype=np.float32)
    rows: list[list[float]] = []
    labels: list[float] = []
    answerable: list[float] = []
    dataset = load_dataset(data, split=split)
    indexes: dict[str, OwnerIndex] = {}
    for call in dataset.calls:
        index = indexes.get(call.owner)
        if index is None:
            docs = dataset.kbs.get(call.owner, [])
            chunks = [c for d in docs for c in chunk_text(d.text, d.title)]
            vectors = await embedder.embed_passages([c.passage for c in chunks])
            index = indexes[call.owner] = OwnerIndex(
                [
                    StoredChunk("doc", call.owner, i, c.text, c.context, np.asarray(v, np.float32))
                    for i, (c, v) in enumerate(zip(chunks, vectors, strict=True))
                ],
                background=background,
            )
        earlier: list[str] = []
        for turn in call.turns:
            versions = [turn.say, *(heard or {}).get(turn.say, [])]
            queries = [search_query(text, earlier) for text in versions if text.strip()]
            earlier.append(turn.say)
            if turn.handoff in ("sensitive", "person"):
                continue  # decided by the words, not by retrieval
            for query in queries:
                vector = np.asarray(await embedder.embed_query(query), dtype=np.float32)
                hit = index.search(query, vector, 1)[0]
                found = tokens(f"{hit.chunk.text} {hit.chunk.context}")
                right = bool(turn.expect) and all(item_found(found, i) for i in turn.expect)
                rows.append([hit.dense, hit.coverage, float(hit.agree), hit.z])
                labels.append(float(right))
                answerable.append(float(bool(turn.expect)))
    embedder.close()
    return np.array(rows), np.array(labels), np.array(answerable)


def fit(x: F64, y: F64, l2: float = 0.05, steps: int = 8000) -> tuple[F64, float]:
    """Logistic regression by gradient descent on standardized signals; raw-scale weights."""
    mean, scale = x.mean(0), x.std(0) + 1e-9
    xs = (x - mean) / scale
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xs @ w + b)))
        w -= 0.3 * (xs.T @ (p - y) / len(y) + l2 * w)
        b -= 0.3 * float((p - y).mean())
    return w / scale, b - float((w * mean / scale).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", default="dev")
    parser.add_argument(
        "--voices", default=DEFAULT_VOICES, help="also fit on what Whisper hears ('' = text only)"
    )
    args = parser.parse_args()
    heard = asyncio.run(transcripts(args.data, args.split, args.voices)) if args.voices else None
    x, y, answerable = asyncio.run(features(args.data, args.split, heard))
    w, b = fit(x, y)
    print(f"WEIGHTS = ({', '.join(f'{v:.3f}' for v in w)})  # dense, coverage, agree, z")
    print(f"BIAS = {b:.3f}")
    p = 1 / (1 + np.exp(-(x @ w + b)))
    ans = answerable == 1
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
        said = p >= threshold
        print(
            f"min_confidence {threshold}: right {int((said & (y == 1)).sum())}/{int(ans.sum())}"
            f"  wrong {int((said & ans & (y == 0)).sum())}"
            f"  unanswerable answered {int((said & ~ans).sum())}/{int((~ans).sum())}"
        )


if __name__ == "__main__":
    main()
