from __future__ import annotations

from callcontrol.pipeline.chunking import chunk_text


def test_short_text_is_one_chunk() -> None:
    chunks = chunk_text("The weekly meeting is on Monday at 10 am in room 3.")
    assert [c.text for c in chunks] == ["The weekly meeting is on Monday at 10 am in room 3."]
    assert chunks[0].context == "" and chunks[0].passage == chunks[0].text


def test_each_sentence_is_a_fact_with_its_heading_path_as_context() -> None:
    doc = (
        "# Office\nWe are at 5 Elm Street in the old mill. The lift is on the left side.\n\n"
        "## Hours\nWe open at 9 am and close at 5 pm on weekdays.\n\n"
        "### Holidays\nThe office is closed on all public holidays.\n"
    )
    chunks = chunk_text(doc, "office.md")
    assert [(c.context, c.text) for c in chunks] == [
        ("Office", "We are at 5 Elm Street in the old mill."),
        ("Office", "The lift is on the left side."),
        ("Office > Hours", "We open at 9 am and close at 5 pm on weekdays."),
        ("Office > Hours > Holidays", "The office is closed on all public holidays."),
    ]
    assert (
        chunks[3].passage
        == "Office > Hours > Holidays\nThe office is closed on all public holidays."
    )
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_the_title_is_the_context_when_there_is_no_heading() -> None:
    [chunk] = chunk_text("Parking is free for visitors in the garage.", "parking")
    assert chunk.context == "parking"


def test_short_sentences_are_joined_with_the_next() -> None:
    [chunk] = chunk_text("Moving? Tell us 14 days before your move, please.")
    assert chunk.text == "Moving? Tell us 14 days before your move, please."


def test_markdown_never_reaches_the_fact_text() -> None:
    doc = "## Contact\nCall **Sarah** at `555-0101` or see [our site](https://acme.example/help).\n"
    [chunk] = chunk_text(doc)
    assert chunk.text == "Call Sarah at 555-0101 or see our site."
    assert not any(mark in chunk.text for mark in ("**", "`", "[", "](", "#"))


def test_long_list_items_are_facts_with_the_lead_in_as_context() -> None:
    doc = (
        "## Delivery\nWe deliver to the whole county. Delivery costs:\n\n"
        "- Orders under $50: a flat fee of $15 per order\n"
        "- Orders of $50 or more: delivered for free\n"
    )
    chunks = chunk_text(doc)
    assert [c.text for c in chunks] == [
        "We deliver to the whole county.",
        "Orders under $50: a flat fee of $15 per order",
        "Orders of $50 or more: delivered for free",
    ]
    assert chunks[1].context == "Delivery: Delivery costs:"


def test_short_list_items_are_joined_with_their_lead_in() -> None:
    doc = "We accept:\n\n- Visa\n- Mastercard\n- **cash**\n\nGift cards never expire.\n"
    chunks = chunk_text(doc)
    assert [c.text for c in chunks] == [
        "We accept: Visa, Mastercard and cash.",
        "Gift cards never expire.",
    ]


def test_table_rows_become_spoken_facts() -> None:
    doc = (
        "## Opening hours\n\n| Day | Hours |\n|---|---|\n"
        "| Monday to Friday | 8 am to 6 pm |\n| **Saturday** | 9 am to 1 pm |\n\n"
        "| Plan | Speed | Price |\n|:--|--:|--:|\n| Basic | 100 Mbps | $35 |\n"
    )
    chunks = chunk_text(doc)
    assert [c.text for c in chunks] == [
        "Monday to Friday: 8 am to 6 pm",
        "Saturday: 9 am to 1 pm",
        "Basic: speed 100 Mbps, price $35",
    ]
    assert all(c.context == "Opening hours" for c in chunks)


def test_hash_in_code_fence_is_not_a_heading() -> None:
    chunks = chunk_text(
        "Intro text is here now.\n```\n# not a heading\n```\nMore text follows here."
    )
    assert [c.context for c in chunks] == [""]
    assert "not a heading" not in chunks[0].text


def test_empty_and_whitespace() -> None:
    assert chunk_text("") == []
    assert chunk_text("\n\n  \n# Only a heading\n") == []
