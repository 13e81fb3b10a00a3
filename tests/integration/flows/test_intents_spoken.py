"""Spoken answers to a flow's questions through the service's Whisper (espeak-ng at
8 kHz μ-law, one voice): a regression floor under the figure ``make eval-intents``
measures over three voices (docs/flows.md)."""

from __future__ import annotations

import pytest

from tests.eval.intents import measure

pytestmark = pytest.mark.integration


async def test_spoken_answers_are_read_right_often_enough() -> None:
    result = await measure("en-us+m3:160")
    assert result["written"] == 1.0, result["misses"]  # the rules on the written answers
    # Measured 0.79–0.83 (yes/no 0.875–0.95) from run to run on this voice: Whisper on
    # the CPU is not bit-for-bit repeatable across loads.
    assert result["spoken"] >= 0.75, (result["kinds"], result["misses"])
    assert result["kinds"]["yes_no"]["spoken"] >= 0.85, result["kinds"]
