"""The eval's text normalization: number words, times, prices, alternatives."""

from __future__ import annotations

import pytest

from tests.eval.normalize import (
    contains_tokens,
    item_found,
    missing_items,
    normalize,
    ordinal,
    tokens,
    words_to_digits,
)


@pytest.mark.parametrize(
    ("words", "digits"),
    [
        ("nine", "9"),
        ("twenty five", "25"),
        ("thirty", "30"),
        ("one hundred", "100"),
        ("one hundred and twenty", "120"),
        ("two thousand five hundred", "2500"),
        ("twelve", "12"),
        ("one two three", "1 2 3"),
        ("nineteen eighty seven", "19 87"),
        ("first", "1st"),
        ("twenty first", "21st"),
        ("thirty second", "32nd"),
        ("the hundred", "the hundred"),
        ("open seven days", "open 7 days"),
        ("and", "and"),
    ],
)
def test_number_words_become_digits(words: str, digits: str) -> None:
    assert " ".join(words_to_digits(words.split())) == digits


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                          (11, "11th"), (12, "12th"), (13, "13th"),
                                          (21, "21st"), (22, "22nd"), (101, "101st")])  # fmt: skip
def test_ordinal_suffixes(n: int, text: str) -> None:
    assert ordinal(n) == text


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("What time do you OPEN?", "what time do you open"),
        ("We open at 9:00 am.", "we open at 9 am"),
        ("We open at 9 a.m.", "we open at 9 am"),
        ("We open at 9am", "we open at 9 am"),
        ("We open at nine AM", "we open at 9 am"),
        ("nine o'clock", "9"),
        ("at 9:30 pm", "at 9:30 pm"),
        ("09:30", "9:30"),
        ("It costs $25.00.", "it costs $25"),
        ("It costs twenty-five dollars", "it costs $25"),
        ("$2.50 per hour", "$2.50 per hour"),
        ("15% off", "15 percent off"),
        ("fifteen per cent off", "15 percent off"),
        ("1,000 items", "1000 items"),
        ("Open at noon", "open at 12 pm"),
        ("We don't", "we dont"),
        ("5th Avenue", "5th avenue"),
        ("(555) 014-2290", "555 014 2290"),
        ("", ""),
    ],
)
def test_normalize(text: str, normalized: str) -> None:
    assert normalize(text) == normalized


def test_nine_am_forms_are_equal() -> None:
    forms = {normalize(f) for f in ("9:00 am", "9 am", "9am", "nine a.m.", "9:00AM", "09:00 am")}
    assert forms == {"9 am"}


def test_dollar_forms_are_equal() -> None:
    assert {normalize(f) for f in ("$25.00", "$25", "25 dollars", "twenty five dollars")} == {"$25"}


def test_contains_whole_tokens_only() -> None:
    hay = tokens("Open 10 am to 5 pm")
    assert contains_tokens(hay, ["10", "am"])
    assert not contains_tokens(hay, ["1"])  # "1" is not in "10"
    assert not contains_tokens(hay, ["am", "10"])  # order matters
    assert contains_tokens(hay, [])


def test_a_bare_number_matches_a_price_but_not_the_reverse() -> None:
    assert contains_tokens(tokens("It costs $25"), ["25"])
    assert not contains_tokens(tokens("It takes 25 minutes"), ["$25"])


def test_alternatives_any_one_is_enough() -> None:
    hay = tokens("We are open on Saturdays")
    assert item_found(hay, ["Saturday", "Saturdays"])
    assert not item_found(hay, ["Sunday", "Sundays"])
    assert item_found(hay, "saturdays")


def test_missing_items_lists_what_is_absent() -> None:
    expect = ["9 am", ["Saturday", "Saturdays"], "$25"]
    assert missing_items("On Saturday we open at nine a.m.; entry is 25 dollars.", expect) == []
    assert missing_items("On Saturday we open at 10 am.", expect) == ["9 am", "$25"]
    assert missing_items("We open at 9 pm on Saturdays", ["9 am"]) == ["9 am"]


def test_a_word_matches_its_plural_but_not_a_longer_word() -> None:
    assert contains_tokens(tokens("We do not accept personal checks"), ["check"])
    assert contains_tokens(tokens("one bus"), ["buses"])
    assert contains_tokens(tokens("open on Saturday"), ["saturdays"])
    assert not contains_tokens(tokens("we checked it"), ["check"])
    assert not contains_tokens(tokens("it is"), ["i"])
