"""The fact guard: specifics must stand in the facts next to the same words."""

from __future__ import annotations

import pytest

from callcontrol.dialog.grounding import FactGuard, normalize_token

MEETING = "The weekly meeting is on Monday at 10 am in room 3."
HOURS = "The office is open from 8 am to 6 pm, Monday to Friday. On Saturday it opens at 9 am."


@pytest.mark.parametrize(
    "phrase",
    [
        "The weekly meeting is on Monday at 10 am in room 3.",
        "The meeting is held at 10 am in room 3.",
        "The weekly meeting is on Monday",
        "I will pass your question to a colleague.",
    ],
)
def test_supported_phrases_pass(phrase: str) -> None:
    assert FactGuard([MEETING], "When is the weekly meeting?").review(phrase) is None


@pytest.mark.parametrize(
    "phrase",
    [
        "The weekly meeting is held at the 3rd floor in room 10.",  # numbers swapped
        "The weekly meeting is a monthly event in room 3.",  # frequency changed
        "The meeting is on Tuesday at 10 am.",  # day invented
        "It starts at 10:30 am in room 3.",  # time invented
    ],
)
def test_swapped_or_invented_specifics_are_replaced_by_the_fact(phrase: str) -> None:
    guard = FactGuard([MEETING], "Where is the weekly meeting?")
    assert guard.review(phrase) == MEETING


def test_a_true_but_reordered_statement_is_replaced_by_the_fact_itself() -> None:
    # Strict on purpose: the replacement is always right; the phrase might not be.
    guard = FactGuard([MEETING], "When is it?")
    assert guard.review("It takes place on Monday, in room three, at ten am.") == MEETING


def test_best_sentence_follows_the_question() -> None:
    guard = FactGuard([HOURS], "When do you open on Saturday?")
    assert guard.best_sentence() == "On Saturday it opens at 9 am."
    assert guard.review("We open at 8 am on Saturday.") == "On Saturday it opens at 9 am."


def test_no_facts_no_replacement() -> None:
    guard = FactGuard([], "anything?")
    assert guard.review("It is on Monday.") is None  # nothing better to say


def test_normalize_token() -> None:
    assert normalize_token("3rd") == "3"
    assert normalize_token("Ten") == "10"
    assert normalize_token("opens") == "open"
    assert normalize_token("glass") == "glass"
