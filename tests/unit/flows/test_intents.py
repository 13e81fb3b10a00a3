"""Reading an answer to a flow's question (English rules; dateparser; number words)."""

from __future__ import annotations

from datetime import date

import pytest

from callcontrol.flows.intents import english_number, interpret
from callcontrol.language import ENGLISH

DAY = date(2026, 12, 3)  # a Thursday


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Yes, I can.", "yes"),
        ("Yeah sure", "yes"),
        ("Of course.", "yes"),
        ("No problem at all", "yes"),
        ("I think so", "yes"),
        ("I guess so", "yes"),
        ("Okay.", "yes"),
        ("Yes, but not until Friday", "yes"),
        ("No, I can't.", "no"),
        ("Nope", "no"),
        ("Right now I can't", "no"),
        ("Okay, no, I can't", "no"),
        ("Absolutely not", "no"),
        ("I don't think so", "no"),
        ("I won't be able to", "no"),
        ("Not really", "no"),
    ],
)
def test_yes_or_no(text: str, label: str) -> None:
    answer = interpret(text, "yes_no", ENGLISH, today=DAY)
    assert answer is not None and answer.label == label


@pytest.mark.parametrize("text", ["Maybe", "What was the amount again?", "", "..."])
def test_an_answer_that_says_neither_is_not_understood(text: str) -> None:
    assert interpret(text, "yes_no", ENGLISH, today=DAY) is None


@pytest.mark.parametrize(
    "text", ["Please stop calling me.", "Don't call me again!", "Take me off your list"]
)
def test_dont_call_me_is_its_own_answer_whatever_was_asked(text: str) -> None:
    for expect in ("yes_no", "number", "date", "text"):
        answer = interpret(text, expect, ENGLISH, today=DAY)
        assert answer is not None and answer.label == "dont_call"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I can pay 250 dollars", "250"),
        ("1,250", "1250"),
        ("twenty five", "25"),
        ("two hundred and fifty", "250"),
        ("about three thousand four hundred", "3400"),
    ],
)
def test_numbers(text: str, value: str) -> None:
    answer = interpret(text, "number", ENGLISH, today=DAY)
    assert answer is not None and answer.value == value


def test_number_words_alone() -> None:
    assert english_number("no idea".split()) is None
    assert english_number("a hundred".split()) == 100


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Friday", "2026-12-04"),
        ("tomorrow", "2026-12-04"),
        ("on the 15th", "2026-12-15"),
        ("I can pay on December 20th", "2026-12-20"),
        ("in two weeks", "2026-12-17"),
    ],
)
def test_dates_are_resolved_against_the_day_of_the_call(text: str, value: str) -> None:
    answer = interpret(text, "date", ENGLISH, today=DAY)
    assert answer is not None and answer.value == value


def test_choices_by_their_words() -> None:
    choices = {
        "confirm": ["yes", "keep it"],
        "reschedule": ["change", "move", "another day"],
        "cancel": ["cancel", "can't make it"],
    }
    for text, label in (
        ("I'd like to move it to another day", "reschedule"),
        ("Please cancel it", "cancel"),
        ("Keep it please", "confirm"),
    ):
        answer = interpret(text, "choice", ENGLISH, today=DAY, choices=choices)
        assert answer is not None and answer.label == label, text
    assert interpret("pizza", "choice", ENGLISH, today=DAY, choices=choices) is None
