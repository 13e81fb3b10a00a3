"""A learned second opinion on every extracted item: is this sentence an action item
(a fact for the knowledge), as careful readers annotated them?

The rules in :mod:`callcontrol.postcall.extract` decide what *can* be an item and
quote it; this gate keeps an item only when a logistic regression over the sentence's
multilingual-e5 embedding (the retrieval model already loaded) agrees with them. The
rules' mistakes on calls nobody had looked at were of kinds a keyword list keeps
missing — farewells, hold phrases, this caller's totals, offers of a slot — while an
embedding places them near their kind whatever the wording.

The weights (``gate.json``, ~2 × 384 numbers) are trained by
``python -m tests.eval.postcall_gate --train`` on the annotated calls in
``tests/data/postcall``; how the threshold was chosen and what it bought on calls held
out from training is in docs/post-call.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from callcontrol.pipeline.base import Embedder
    from callcontrol.postcall.extract import Action, Fact, Seg

Kind = Literal["actions", "facts"]
KINDS: tuple[Kind, ...] = ("actions", "facts")
GATE_FILE = "gate.json"

FloatArray = NDArray[np.float64]


def features(embedding: FloatArray, speaker: str) -> FloatArray:
    """What the gate sees of a sentence: its e5 embedding and who said it."""
    who = np.array([1.0 if speaker == "caller" else 0.0, 1.0 if speaker == "bot" else 0.0])
    return np.concatenate([np.asarray(embedding, dtype=np.float64), who])


class Quoted(Protocol):
    @property
    def evidence(self) -> str: ...

    @property
    def segment(self) -> str: ...


@dataclass(frozen=True, slots=True)
class KindGate:
    weights: FloatArray
    bias: float
    threshold: float

    def probability(self, x: FloatArray) -> FloatArray:
        z = np.atleast_2d(x) @ self.weights + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Gate:
    kinds: dict[str, KindGate]
    trained_on: str = ""

    def keep(self, kind: Kind, x: FloatArray) -> list[bool]:
        gate = self.kinds[kind]
        return [bool(p >= gate.threshold) for p in gate.probability(x)]

    def to_json(self) -> str:
        return json.dumps(
            {
                "trained_on": self.trained_on,
                "kinds": {
                    k: {
                        "weights": [round(float(w), 6) for w in g.weights],
                        "bias": round(g.bias, 6),
                        "threshold": g.threshold,
                    }
                    for k, g in self.kinds.items()
                },
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Gate:
        data = json.loads(text)
        kinds = {
            k: KindGate(
                np.asarray(v["weights"], dtype=np.float64), float(v["bias"]), float(v["threshold"])
            )
            for k, v in data["kinds"].items()
        }
        if set(kinds) != set(KINDS):
            raise ValueError(f"a post-call gate needs weights for {KINDS}, has {sorted(kinds)}")
        return cls(kinds, str(data.get("trained_on", "")))

    @classmethod
    def bundled(cls) -> Gate:
        return cls.from_json(resources.files(__package__).joinpath(GATE_FILE).read_text())

    def save(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n")


async def judged(
    gate: Gate,
    embedder: Embedder,
    segments: list[Seg],
    actions: list[Action],
    found: list[Fact],
) -> tuple[list[Action], list[Fact]]:
    """The items the rules found that the gate keeps too."""
    speakers = {seg.id: seg.speaker for seg in segments}

    async def x(items: Sequence[Quoted]) -> FloatArray:
        vectors = await embedder.embed_passages([i.evidence for i in items])
        return np.stack(
            [
                features(np.asarray(v, dtype=np.float64), speakers.get(i.segment, "agent"))
                for v, i in zip(vectors, items, strict=True)
            ]
        )

    kept_actions = (
        [a for a, keep in zip(actions, gate.keep("actions", await x(actions)), strict=True) if keep]
        if actions
        else []
    )
    kept_facts = (
        [f for f, keep in zip(found, gate.keep("facts", await x(found)), strict=True) if keep]
        if found
        else []
    )
    return kept_actions, kept_facts
