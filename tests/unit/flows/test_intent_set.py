"""The rules on the written answers of the intent set (no speech recognition): every
one read as the person meant it."""

from __future__ import annotations

from tests.eval.intents import load, right


def test_every_written_answer_is_read_as_meant() -> None:
    today, answers = load()
    missed = [a for a in answers if not right(a, str(a["say"]), today)]
    assert len(answers) == 100 and missed == []
