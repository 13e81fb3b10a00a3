"""Post-call extraction measured on annotated calls (``tests/data/postcall``).

    python -m tests.eval.postcall [--split NAME|all] [--rules-only] [--show] [--out FILE]

An extracted action item or fact counts as correct when it cites a segment that the
annotation puts an item of the same kind in (one extracted item per annotated item).
Precision = correct / extracted; recall = correct / annotated. Measured as the worker
runs it — the rules, then the bundled gate on the bundled e5 (postcall/gate.py) — and
for the rules alone. Writes JSON (with ``--out``; ``make eval-postcall`` writes
bench-results/postcall-<time>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from callcontrol.pipeline.base import Embedder
from callcontrol.postcall.extract import Seg, action_items, assemble, facts, grounded
from callcontrol.postcall.gate import Gate, judged

DATA = Path(__file__).resolve().parents[1] / "data" / "postcall"
# In the order they were written; each was measured once before anything was tuned on it.
SPLITS = ("dev", "heldout", "test", "final", "fresh", "blind-a", "blind-b", "blind-c")


def load(split: str) -> list[dict[str, Any]]:
    return list(json.loads((DATA / f"{split}.json").read_text()))


def splits() -> list[str]:
    return [s for s in SPLITS if (DATA / f"{s}.json").exists()]


def score(
    split: str, show: bool = False, gate: tuple[Gate, Embedder] | None = None
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    mistakes: list[dict[str, Any]] = []
    for call in load(split):
        segs = [
            Seg(str(i), s["speaker"], s["text"], float(s["start_s"]))
            for i, s in enumerate(call["segments"])
        ]
        on = date.fromisoformat(call["call_date"])
        actions, stated = action_items(segs, on), facts(segs)
        if gate is not None:
            actions, stated = asyncio.run(judged(gate[0], gate[1], segs, actions, stated))
        result = assemble(segs, actions, stated, None)
        for kind, found, expected in (
            ("actions", result.actions, call["expected"]["action_items"]),
            ("facts", result.facts, call["expected"]["facts"]),
        ):
            wanted = Counter(str(e["segment"]) for e in expected)
            counts[f"{kind}_annotated"] += len(expected)
            for item in found:
                counts[f"{kind}_extracted"] += 1
                text = item.title if kind == "actions" else item.text  # type: ignore[union-attr]
                if not grounded(text, item.evidence):
                    counts[f"{kind}_ungrounded"] += 1
                if wanted[item.segment] > 0:
                    wanted[item.segment] -= 1
                    counts[f"{kind}_correct"] += 1
                else:
                    mistakes.append(
                        {
                            "call": call["id"],
                            "kind": kind,
                            "segment": item.segment,
                            "extracted": text,
                        }
                    )
            for seg_id, left in wanted.items():
                for _ in range(left):
                    mistakes.append(
                        {
                            "call": call["id"],
                            "kind": kind,
                            "segment": seg_id,
                            "missed": call["segments"][int(seg_id)]["text"],
                        }
                    )
    out: dict[str, Any] = {"split": split, "calls": len(load(split))}
    for kind in ("actions", "facts"):
        extracted, correct = counts[f"{kind}_extracted"], counts[f"{kind}_correct"]
        out[kind] = {
            "annotated": counts[f"{kind}_annotated"],
            "extracted": extracted,
            "correct": correct,
            "precision": round(correct / extracted, 3) if extracted else None,
            "recall": round(correct / counts[f"{kind}_annotated"], 3)
            if counts[f"{kind}_annotated"]
            else None,
            "ungrounded": counts[f"{kind}_ungrounded"],
        }
    if show:
        for m in mistakes:
            print(json.dumps(m))
    out["mistakes"] = mistakes
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=(*splits(), "all"), default="all")
    ap.add_argument("--rules-only", action="store_true", help="without the gate")
    ap.add_argument("--show", action="store_true", help="print each wrong or missed item")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    chosen = splits() if args.split == "all" else [args.split]
    rules = {s: score(s, args.show and args.rules_only) for s in chosen}
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": "rules (postcall/extract.py), then the bundled gate (postcall/gate.py)",
        "rules_only": rules,
    }
    results = rules
    if not args.rules_only:
        from callcontrol.pipeline.e5 import E5Embedder

        gate = Gate.bundled()
        embedder = E5Embedder(threads=2)
        try:
            results = {s: score(s, args.show, (gate, embedder)) for s in chosen}
        finally:
            embedder.close()
        report["gate_trained_on"] = gate.trained_on
        report["results"] = results
    for split, r in results.items():
        line = [f"{split:8}"]
        for kind in ("actions", "facts"):
            k = r[kind]
            line.append(
                f"{kind} P {k['precision']} R {k['recall']}"
                f" ({k['correct']}/{k['extracted']} of {k['annotated']})"
            )
        print("   ".join(line))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
