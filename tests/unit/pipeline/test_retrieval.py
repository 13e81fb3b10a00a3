"""OwnerIndex on hand-made vectors: ranking by meaning, word evidence, confidence."""

from __future__ import annotations

import numpy as np

from callcontrol.pipeline.base import StoredChunk
from callcontrol.pipeline.lexical import content_tokens, glossary, tokenize
from callcontrol.pipeline.retrieval import OwnerIndex, confidence

DIM = 8


def unit(*values: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def chunk(i: int, text: str, vector: np.ndarray, context: str = "") -> StoredChunk:
    return StoredChunk("doc", "title", i, text, context, vector)


CHUNKS = [
    chunk(0, "Saturday: 9 am to 1 pm", unit(1, 0.1), "Opening hours"),
    chunk(1, "Parking in the garage is free for visitors.", unit(0.1, 1)),
    chunk(2, "Gift cards never expire.", unit(0, 0.1, 1)),
]


def test_tokens_are_stems_without_stop_words_and_numbers_as_digits() -> None:
    assert tokenize("What time do you open on Saturdays?") == ["time", "open", "saturday"]
    assert tokenize("nine o'clock") == ["9", "o'clock"]
    assert content_tokens("What time do you open on Saturdays?") == ["open", "saturday"]


def test_the_closest_meaning_ranks_first_and_carries_its_signals() -> None:
    index = OwnerIndex(CHUNKS, DIM)
    [best, second] = index.search("When do you open on Saturday?", unit(1, 0.2), 2)
    assert best.chunk.index == 0 and second.chunk.index == 1
    assert best.dense > second.dense
    assert best.coverage == 1.0  # "open" (its context) and "saturday"
    assert best.agree  # BM25 puts the same chunk first
    assert 0 < best.confidence < 1


def test_a_word_the_knowledge_never_uses_weighs_most_in_coverage() -> None:
    index = OwnerIndex(CHUNKS, DIM)
    [hit] = index.search("Is parking free for bicycles?", unit(0.1, 1), 1)
    assert hit.chunk.index == 1
    assert 0.2 < hit.coverage < 0.6  # "parking" and "free" found, "bicycles" unknown


def test_the_standard_score_needs_the_reference_passages_for_a_tiny_knowledge_base() -> None:
    alone = OwnerIndex(CHUNKS[:1], DIM)
    [hit] = alone.search("Saturday hours", unit(1, 0.1), 1)
    assert hit.z == 0.0  # nothing to compare with: no evidence either way
    background = np.stack([unit(0, 0, 0, 1), unit(0, 0, 0, 0, 1), unit(0, 1, 0, 0, 0, 1)])
    referenced = OwnerIndex(CHUNKS[:1], DIM, background=background)
    [hit] = referenced.search("Saturday hours", unit(1, 0.1), 1)
    assert hit.z > 1.0 and hit.confidence > alone.search("x", unit(1, 0.1), 1)[0].confidence


def test_confidence_grows_with_every_signal() -> None:
    base = confidence(0.85, 0.5, False, 2.0)
    assert confidence(0.90, 0.5, False, 2.0) > base
    assert confidence(0.85, 1.0, False, 2.0) > base
    assert confidence(0.85, 0.5, True, 2.0) > base
    assert confidence(0.85, 0.5, False, 3.0) > base


def test_an_empty_index_finds_nothing() -> None:
    assert OwnerIndex([], DIM).search("anything", unit(1), 3) == []


def test_glossary_keeps_names_and_long_words_not_sentence_starts() -> None:
    text = "Our periodontist is Dr. Anna Brooks.\nWe accept Delta Dental and Cigna.\n"
    terms = glossary(text).rstrip(".").split(", ")
    assert {"Anna Brooks", "Delta Dental", "Cigna", "periodontist"} <= set(terms)
    assert "Our" not in terms and "We" not in terms
    assert glossary("") == ""
