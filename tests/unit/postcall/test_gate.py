"""The post-call gate: its weights file, its threshold, and that it only ever removes
what the rules found (it never adds or rewords an item)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from callcontrol.postcall.extract import Seg, action_items, facts
from callcontrol.postcall.gate import KINDS, Gate, KindGate, features, judged
from tests.fakes.pipeline import FakeEmbedder

DIM = 64


def by_speaker(keep: str, dim: int = DIM) -> KindGate:
    """A gate that keeps what the caller said (``keep="caller"``) or what they did not."""
    weights = np.zeros(dim + 2)
    weights[dim] = 10.0 if keep == "caller" else -10.0
    return KindGate(weights, -5.0 if keep == "caller" else 5.0, 0.5)


def test_the_bundled_gate_loads_with_both_kinds_on_e5_features() -> None:
    gate = Gate.bundled()
    assert set(gate.kinds) == set(KINDS)
    for kind in KINDS:
        assert gate.kinds[kind].weights.shape == (384 + 2,)
        assert 0.0 < gate.kinds[kind].threshold < 1.0
    assert "dev" in gate.trained_on


def test_a_gate_round_trips_and_a_partial_one_is_refused() -> None:
    gate = Gate({k: by_speaker("caller") for k in KINDS}, trained_on="here")
    again = Gate.from_json(gate.to_json())
    x = np.stack([features(np.ones(DIM), "caller"), features(np.ones(DIM), "agent")])
    assert again.keep("actions", x) == gate.keep("actions", x) == [True, False]
    with pytest.raises(ValueError, match="needs weights"):
        Gate.from_json('{"kinds": {"actions": {"weights": [0], "bias": 0, "threshold": 0.5}}}')


def test_features_are_the_embedding_and_who_said_it() -> None:
    v = np.arange(3, dtype=np.float64)
    assert features(v, "caller").tolist() == [0, 1, 2, 1, 0]
    assert features(v, "bot").tolist() == [0, 1, 2, 0, 1]
    assert features(v, "agent").tolist() == [0, 1, 2, 0, 0]


async def test_the_gate_keeps_a_subset_of_the_rules_items_as_they_were() -> None:
    segments = [
        Seg("0", "agent", "I'll email you the repair quote this afternoon."),
        Seg("1", "caller", "Okay, I'll call you back tomorrow."),
        Seg("2", "agent", "Just so you know, we open at seven thirty on weekdays."),
    ]
    day = date(2026, 6, 23)
    actions, found = action_items(segments, day), facts(segments)
    assert len(actions) == 2 and len(found) == 1
    callers = Gate({"actions": by_speaker("caller"), "facts": by_speaker("caller")})
    kept_actions, kept_facts = await judged(callers, FakeEmbedder(DIM), segments, actions, found)
    assert kept_actions == [actions[1]] and kept_facts == []
    others = Gate({"actions": by_speaker("agent"), "facts": by_speaker("agent")})
    kept_actions, kept_facts = await judged(others, FakeEmbedder(DIM), segments, actions, found)
    assert kept_actions == [actions[0]] and kept_facts == found
    assert await judged(others, FakeEmbedder(DIM), segments, [], []) == ([], [])
