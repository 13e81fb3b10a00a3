"""Unsupported facts and yes/no polarity in the bot's answers."""

from __future__ import annotations

import pytest

from tests.eval.facts import Knowledge, is_yes_no_question, polarity, unsupported_facts

KB = Knowledge(
    "# Acme Store\n\n"
    "The store is open Monday to Friday from 7 am to 9 pm. On Saturday it opens at 8 am.\n"
    "We are closed on Thanksgiving Day. The manager is Linda Moore.\n"
    "Parking is free for the first 2 hours and $2 per hour after that.\n"
    "Members get 10% off. We do not sell bicycles.\n"
    "Orders ship in March and December."
)


def kinds(answer: str, *, yes_no: bool = False) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in unsupported_facts(answer, KB, yes_no_question=yes_no)]


def test_supported_specifics_are_not_flagged() -> None:
    answer = "On Saturday we open at 8 am. Members get 10 percent off, ask Linda Moore."
    assert kinds(answer) == []
    assert kinds("Parking is two dollars per hour after the first two hours.") == []
    assert kinds("We open at 7:00 a.m. on Mondays.") == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("We open at 10 am.", [("time", "10 am")]),
        ("Parking costs $3 an hour.", [("price", "$3")]),
        ("Members get 15% off.", [("percent", "15 percent")]),
        ("You have 30 days.", [("number", "30")]),
        ("We open on Sunday at 8 am.", [("weekday", "sunday")]),
        ("Orders ship in July.", [("month", "july")]),
        ("Please ask John Smith.", [("name", "John"), ("name", "Smith")]),
        ("We open at nine am.", [("time", "9 am")]),  # a number word is a number too
    ],
)
def test_unsupported_specifics_are_flagged(answer: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(answer) == expected


def test_a_capitalized_first_word_and_i_are_not_names() -> None:
    assert kinds("Certainly. I think Linda can help.") == []


def test_one_as_a_pronoun_is_not_a_number() -> None:
    assert kinds("One of our staff will call you, or the one at the desk.") == []
    assert kinds("You get one free bag.") == [("number", "1")]


def test_negation_needs_a_negated_knowledge_sentence() -> None:
    # The closest KB sentence ("We do not sell bicycles") is negated: supported.
    assert kinds("We do not sell bicycles.") == []
    assert kinds("We are closed on Thanksgiving Day.") == []
    # The closest KB sentence about parking is not negated: the negation is invented.
    assert kinds("Parking is not free.") == [("negation", "not")]
    assert kinds("We don't have parking.") == [("negation", "don't")]
    assert kinds("The store is never open on Saturday.") == [("negation", "never")]


def test_a_leading_no_answering_a_yes_no_question_is_not_counted() -> None:
    assert kinds("No, parking is free for the first 2 hours.", yes_no=True) == []
    # Not a yes/no question: the same "No" is an unsupported negation.
    assert kinds("No, parking is free for the first 2 hours.", yes_no=False) == [("negation", "no")]
    # Only the leading one: a second negation in the sentence is still checked.
    assert kinds("No, parking is not free.", yes_no=True) == [("negation", "not")]
    # "No" that does not lead the answer is checked.
    assert kinds("Sorry. No, parking is free.", yes_no=True) == [("negation", "no")]


def test_each_unsupported_item_is_listed_once_with_its_sentence() -> None:
    facts = unsupported_facts("We open at 10 am. Yes, at 10 am.", KB, yes_no_question=False)
    assert [(f.text, f.sentence) for f in facts] == [
        ("10 am", "We open at 10 am."),
        ("10 am", "Yes, at 10 am."),
    ]
    assert facts[0].to_dict() == {"kind": "time", "text": "10 am", "sentence": "We open at 10 am."}


def test_nothing_is_supported_by_an_empty_knowledge_base() -> None:
    facts = unsupported_facts("We open at 9 am on Monday.", Knowledge(""), yes_no_question=False)
    assert {f.kind for f in facts} == {"time", "weekday"}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Yes, we are open on Saturdays.", "yes"),
        ("Yeah, we do.", "yes"),
        ("Sure! It opens at 8 am.", "yes"),
        ("We do offer delivery.", "yes"),
        ("Of course, parking is free.", "yes"),
        ("No, we don't.", "no"),
        ("Nope.", "no"),
        ("We don't sell bicycles.", "no"),
        ("We do not sell bicycles.", "no"),
        ("Unfortunately, we are closed.", "no"),
        ("I'm afraid we cannot.", "no"),
        ("The store opens at 8 am.", None),
        ("", None),
    ],
)
def test_polarity_from_the_first_words(answer: str, expected: str | None) -> None:
    assert polarity(answer) == expected


def test_polarity_reads_only_the_first_clause() -> None:
    assert polarity("Yes, but not on Sundays.") == "yes"
    assert polarity("No, but we do sell scooters.") == "no"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Do you sell bicycles?", True),
        ("Is parking free?", True),
        ("Can I return an item?", True),
        ("When do you open?", False),
        ("What is the price?", False),
    ],
)
def test_yes_no_questions(question: str, expected: bool) -> None:
    assert is_yes_no_question(question) is expected
