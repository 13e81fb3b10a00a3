from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcontrol.pipeline.sentences import (
    SentenceSplitter,
    clean_for_speech,
    find_sentence_end,
    sentences,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you?", ["Hello there.", "How are you?"]),
        (
            "The meeting is at 10.30 in room 3. Bring notes.",
            ["The meeting is at 10.30 in room 3.", "Bring notes."],
        ),
        (
            "We open at 9 a.m. and close at 5 p.m. See you!",
            ["We open at 9 a.m. and close at 5 p.m.", "See you!"],
        ),
        ("Ask Dr. Smith or Mr. Jones.", ["Ask Dr. Smith or Mr. Jones."]),
        ("Bring something, e.g. a pen. Thanks.", ["Bring something, e.g. a pen.", "Thanks."]),
        ("It costs $3.50. That is all.", ["It costs $3.50.", "That is all."]),
        ("1. Monday\n2. Tuesday", ["1. Monday", "2. Tuesday"]),
        ("Wait... What?", ["Wait...", "What?"]),
        ('He said "yes." Then he left.', ['He said "yes."', "Then he left."]),
        ("Really?! Yes.", ["Really?!", "Yes."]),
        ("J. Smith will call.", ["J. Smith will call."]),
        ("No trailing stop", ["No trailing stop"]),
        ("", []),
        ("...", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_is_the_same_fed_one_character_at_a_time() -> None:
    text = "The meeting is on Monday at 10.30 a.m. in room 3. Dr. Who chairs it! Any questions?"
    splitter = SentenceSplitter()
    out: list[str] = []
    for ch in text:
        out += splitter.push(ch)
    out += splitter.flush()
    assert out == split_sentences(text)
    assert out == [
        "The meeting is on Monday at 10.30 a.m. in room 3.",
        "Dr. Who chairs it!",
        "Any questions?",
    ]


def test_a_sentence_is_released_as_soon_as_the_next_word_starts() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("It is on Monday.") == []  # "." could still become "Monday.com"
    assert splitter.push(" The") == ["It is on Monday."]
    assert splitter.flush() == ["The"]


def test_number_then_dot_waits_for_more() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Come at 10.") == []
    assert splitter.push("30 sharp. Ok") == ["Come at 10.30 sharp."]


def test_first_clause_is_emitted_early_only_once() -> None:
    splitter = SentenceSplitter(first_clause_words=4)
    got = splitter.push("On Mondays at ten, the weekly meeting, as usual, is in room 3. ")
    assert got == ["On Mondays at ten,", "the weekly meeting, as usual, is in room 3."]


def test_first_clause_needs_enough_words() -> None:
    splitter = SentenceSplitter(first_clause_words=4)
    assert splitter.push("Yes, ") == []
    assert splitter.push("it is on Monday. ") == ["Yes, it is on Monday."]


def test_thousands_separator_is_not_a_clause() -> None:
    splitter = SentenceSplitter(first_clause_words=2)
    assert splitter.push("It costs 10,000 dollars total") == []


def test_first_phrase_ends_before_a_preposition() -> None:
    splitter = SentenceSplitter(first_clause_words=5)
    out: list[str] = []
    for token in ["The", " weekly", " meeting", " is", " on", " Monday", " at", " 10", " am", "."]:
        out += splitter.push(token)
    assert out == ["The weekly meeting is on Monday"]  # "on" came before 5 words were in
    assert splitter.flush() == ["at 10 am."]


def test_first_phrase_waits_for_the_whole_next_word() -> None:
    splitter = SentenceSplitter(first_clause_words=2)
    assert splitter.push("Please come at") == []  # "at" may become "attention"
    assert splitter.push("tention now") == []
    assert splitter.push(" to") == []  # "to" is not a phrase start


def test_run_on_text_is_cut_at_max_words() -> None:
    splitter = SentenceSplitter(max_words=8)
    text = "one two three four, five six seven eight nine ten eleven twelve "
    out = splitter.push(text)
    assert out and len(out[0].split()) <= 8
    assert " ".join(out + splitter.flush()) == text.strip()


def test_find_sentence_end_final() -> None:
    assert find_sentence_end("Done.") is None
    assert find_sentence_end("Done.", final=True) == 5


async def test_sentences_over_a_token_stream() -> None:
    async def tokens() -> AsyncIterator[str]:
        for t in [
            "The",
            " weekly",
            " meeting",
            " is",
            " on",
            " Monday",
            ".",
            " It",
            " is",
            " at",
            " 10",
            ".",
        ]:
            yield t

    got = [s async for s in sentences(tokens())]
    assert got == ["The weekly meeting is on Monday.", "It is at 10."]


def test_clean_for_speech() -> None:
    assert clean_for_speech("**Monday** at `10`\n- item\n# Title") == "Monday at 10 item Title"
