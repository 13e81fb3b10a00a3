from __future__ import annotations

import pytest

from callcontrol.pipeline.chunking import chunk_text


def test_short_text_is_one_chunk() -> None:
    chunks = chunk_text("The weekly meeting is on Monday at 10 am in room 3.")
    assert [c.text for c in chunks] == ["The weekly meeting is on Monday at 10 am in room 3."]
    assert chunks[0].heading == "" and chunks[0].passage == chunks[0].text


def test_markdown_headings_become_paths_and_cut_sections() -> None:
    doc = (
        "# Office\nWe are at 5 Elm Street.\n\n"
        "## Hours\nOpen 9 to 5.\n\n"
        "### Holidays\nClosed on public holidays.\n\n"
        "## Parking\nFree in the garage.\n"
    )
    chunks = chunk_text(doc)
    assert [(c.heading, c.text) for c in chunks] == [
        ("Office", "We are at 5 Elm Street."),
        ("Office > Hours", "Open 9 to 5."),
        ("Office > Hours > Holidays", "Closed on public holidays."),
        ("Office > Parking", "Free in the garage."),
    ]
    assert chunks[2].passage == "Office > Hours > Holidays\nClosed on public holidays."
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_hash_in_code_fence_is_not_a_heading() -> None:
    chunks = chunk_text("Intro text.\n```\n# not a heading\n```\nMore text.")
    assert len(chunks) == 1 and chunks[0].heading == ""


def test_chunks_respect_size_and_overlap_by_whole_sentences() -> None:
    sentences = [f"Fact number {i} is true." for i in range(30)]  # 5 words each
    chunks = chunk_text(" ".join(sentences), max_words=20, overlap_words=5)
    assert len(chunks) > 1
    for c in chunks:
        assert c.words <= 20
        assert c.text.endswith(".")  # never cut inside a sentence
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        last_sentence = prev.text.rsplit(". ", 1)[-1]
        assert nxt.text.startswith(last_sentence.rstrip("."))  # one sentence of overlap
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_no_overlap_when_asked() -> None:
    text = " ".join(f"Sentence {i} here." for i in range(20))
    chunks = chunk_text(text, max_words=9, overlap_words=0)
    words = sum(c.words for c in chunks)
    assert words == 60


def test_overlong_sentence_is_split_by_words() -> None:
    text = " ".join(["word"] * 250) + "."
    chunks = chunk_text(text, max_words=100, overlap_words=0)
    assert [c.words for c in chunks] == [100, 100, 50]


def test_paragraphs_are_preferred_cut_points() -> None:
    para1 = " ".join(["alpha"] * 14) + "."
    para2 = " ".join(["beta"] * 5) + "."
    chunks = chunk_text(f"{para1}\n\n{para2}", max_words=20, overlap_words=0)
    assert [c.text.split()[0] for c in chunks] == ["alpha", "beta"]


def test_empty_and_whitespace() -> None:
    assert chunk_text("") == []
    assert chunk_text("\n\n  \n# Only a heading\n") == []


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_sizes(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_text("x", max_words=size, overlap_words=overlap)
