"""The rules on the written answers of both intent sets (no speech recognition): every
one read as the person meant it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval.intents import DATA, load, right


@pytest.mark.parametrize("name", ["answers.yaml", "answers-b.yaml"])
def test_every_written_answer_is_read_as_meant(name: str) -> None:
    today, answers = load(Path(DATA).parent / name)
    missed = [a["say"] for a in answers if not right(a, str(a["say"]), today)]
    assert len(answers) == 100 and missed == []
