"""The extractive answer: the fact itself, a yes or no only when the words settle it."""

from __future__ import annotations

import pytest

from callcontrol.pipeline.answer import (
    AnswerRule,
    compose,
    decide,
    is_yes_no,
    polarity,
    search_query,
)
from callcontrol.pipeline.base import Passage


def p(text: str, score: float = 0.9, context: str = "") -> Passage:
    return Passage(text, score, "doc", "title", 0, context)


def test_the_answer_is_the_fact_cleaned_for_speech() -> None:
    answer = compose(
        "What is your email?", [p("Write to **help@acme.example** or see https://acme.example")]
    )
    assert answer is not None
    assert answer.text == "Write to help at acme dot example or see acme dot example."
    assert answer.polarity is None


def test_nothing_retrieved_nothing_composed() -> None:
    assert compose("Anything?", []) is None


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Do you deliver on Sundays?", True),
        ("Hi, is the store open on Saturday?", True),
        ("Quick question, can I pay with Visa?", True),
        ("What time do you open?", False),
        ("Can you tell me when the meeting is?", False),  # a wh-question, politely
        ("Where can I park?", False),
    ],
)
def test_yes_no_questions(question: str, expected: bool) -> None:
    assert is_yes_no(question) is expected


@pytest.mark.parametrize(
    ("question", "fact", "expected"),
    [
        ("Are you open on Sundays?", "We are closed on Sundays and public holidays.", "no"),
        ("Do you take checks?", "We do not accept personal checks.", "no"),
        ("Can I renew a Hot Picks book?", "Hot Picks cannot be renewed or put on hold.", "no"),
        ("Do you deliver on Sundays?", "We deliver Monday to Saturday.", "no"),
        ("Is the fee $20?", "The late fee is $15.", "no"),
        ("Does joining cost anything?", "Joining the rewards program is free.", "no"),
        ("Do you deliver on Saturdays?", "We deliver Monday to Saturday.", "yes"),
        ("Can I pay with Mastercard?", "We accept: Visa, Mastercard and cash.", "yes"),
        ("Is parking free?", "Parking in the garage is free for visitors.", "yes"),
        ("Don't you open on Sundays?", "We are closed on Sundays.", None),  # too easy to flip
        ("Do you sell paint?", "Keys are cut while you wait.", None),  # the words do not say
    ],
)
def test_polarity(question: str, fact: str, expected: str | None) -> None:
    assert polarity(question, fact) == expected


def test_yes_no_answers_lead_with_the_verdict() -> None:
    no = compose("Are you open on Sundays?", [p("We are closed on Sundays.")])
    assert no is not None and no.text == "No. We are closed on Sundays." and no.polarity == "no"
    yes = compose("Is parking free?", [p("Parking in the garage is free for visitors.")])
    assert yes is not None and yes.text.startswith("Yes. Parking")


def test_a_second_fact_only_when_close_and_it_covers_more_of_the_question() -> None:
    facts = [p("Saturday: 9 am to 1 pm", 0.90), p("Sunday: 10 am to 4 pm", 0.89)]
    both = compose("What are your hours on Saturday and Sunday?", facts)
    assert both is not None and both.facts == ("Saturday: 9 am to 1 pm", "Sunday: 10 am to 4 pm")
    one = compose("What are your hours on Saturday?", facts)
    assert one is not None and one.facts == ("Saturday: 9 am to 1 pm",)
    far = compose("Saturday and Sunday hours?", [facts[0], p("Sunday: 10 am to 4 pm", 0.5)])
    assert far is not None and len(far.facts) == 1


RULE = AnswerRule(min_confidence=0.5, pair_confidence=0.35, pair_gap=0.2)
PHONE = "Our phone line is open every day from 7 am to 11 pm."
CHAT = "Live chat in the app is open 24 hours a day."


def test_a_confident_passage_is_answered_as_composed() -> None:
    answer = decide("When can I call?", [p(PHONE, 0.8), p(CHAT, 0.7)], RULE)
    assert answer is not None and not answer.pair
    assert answer.facts == (PHONE,) and [x.text for x in answer.passages] == [PHONE]


def test_two_close_facts_below_the_threshold_are_both_said() -> None:
    question = "What hours can I call your support line?"
    answer = decide(question, [p(PHONE, 0.49), p(CHAT, 0.48)], RULE)
    assert answer is not None and answer.pair
    assert answer.text == f"{PHONE} {CHAT}" and answer.polarity is None
    assert [x.text for x in answer.passages] == [PHONE, CHAT]
    # Ranked by meaning, the second may be the surer of the two: still a pair.
    flipped = decide("When is support open?", [p(PHONE, 0.40), p(CHAT, 0.46)], RULE)
    assert flipped is not None and flipped.pair


@pytest.mark.parametrize(
    ("question", "scores"),
    [
        ("What hours can I call your support line?", (0.49, 0.30)),  # second too unsure
        ("What hours can I call your support line?", (0.30, 0.49)),  # first too unsure
        ("What hours can I call your support line?", (0.49,)),  # nothing to pair with
        ("Can I call your support line at night?", (0.49, 0.48)),  # yes/no: one verdict
    ],
)
def test_otherwise_a_question_below_the_threshold_goes_to_a_person(
    question: str, scores: tuple[float, ...]
) -> None:
    passages = [p(text, score) for text, score in zip((PHONE, CHAT), scores, strict=False)]
    assert decide(question, passages, RULE) is None


def test_pairs_can_be_turned_off_and_the_gap_is_a_limit() -> None:
    close = [p(PHONE, 0.49), p(CHAT, 0.48)]
    assert decide("What hours?", close, AnswerRule(0.5, pair_confidence=1.0)) is None
    apart = [p(PHONE, 0.49), p(CHAT, 0.36)]
    assert decide("What hours?", apart, AnswerRule(0.5, 0.35, pair_gap=0.1)) is None
    assert decide("What hours?", apart, AnswerRule(0.5, 0.35, pair_gap=0.2)) is not None
    assert decide("What hours?", [], RULE) is None


def test_follow_ups_borrow_the_question_they_follow() -> None:
    assert search_query("When do you open on weekdays?", []) == "When do you open on weekdays?"
    assert search_query("And on Saturday?", ["When do you open on weekdays?"]) == (
        "When do you open on weekdays? And on Saturday?"
    )
    # Resolved recursively: the follow-up of a follow-up keeps the topic.
    earlier = ["Do you have a book club?", "What time does it start?"]
    assert search_query("And which branch is it at?", earlier).startswith(
        "Do you have a book club? What time does it start?"
    )
    # A question that names its own topic stands alone.
    assert search_query("How much is delivery?", ["Do you deliver on Sundays?"]) == (
        "How much is delivery?"
    )
