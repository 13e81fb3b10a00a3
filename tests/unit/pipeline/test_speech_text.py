from __future__ import annotations

import pytest

from callcontrol.pipeline.speech_text import plain_text, spoken_text


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**Bold** and *italic* and __under__", "Bold and italic and under"),
        ("See [our returns page](https://acme.example/returns).", "See our returns page."),
        ("- a bullet item", "a bullet item"),
        ("1. first step", "first step"),
        ("## A heading", "A heading"),
        ("Use `code` here", "Use code here"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("2 * 3 * 4 = 24", "2 * 3 * 4 = 24"),
    ],
)
def test_plain_text(markdown: str, plain: str) -> None:
    assert plain_text(markdown) == plain


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Email help@acmestore.example today.", "Email help at acmestore dot example today."),
        (
            "Visit https://www.acme.com/returns-policy now",
            "Visit acme dot com slash returns policy now",
        ),
        ("Open 9.30 to 5, e.g. Monday.", "Open 9.30 to 5, e.g. Monday."),
        ("Call (555) 014-2290.", "Call (555) 014-2290."),
        ("A | table | row", "A table row"),
    ],
)
def test_spoken_text(text: str, said: str) -> None:
    assert spoken_text(text) == said
