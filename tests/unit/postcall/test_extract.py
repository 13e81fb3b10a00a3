"""Post-call extraction: what counts as an action item or a reusable fact, and that
everything extracted is the words of the segment it cites."""

from __future__ import annotations

from datetime import date

import pytest

from callcontrol.postcall.extract import Seg, action_items, analyse, facts, grounded
from tests.eval.postcall import score

DAY = date(2026, 6, 23)  # a Tuesday


def segs(*lines: tuple[str, str]) -> list[Seg]:
    return [Seg(str(i), who, text, float(i * 3)) for i, (who, text) in enumerate(lines)]


def test_commitments_and_requests_are_action_items_with_owner_and_date() -> None:
    found = action_items(
        segs(
            ("agent", "I'll email you the repair quote this afternoon."),
            ("agent", "Please send us photos of the damage by Friday."),
            ("caller", "Okay, I'll call you back tomorrow."),
            ("agent", "A technician will come out on Monday between eight and twelve."),
        ),
        DAY,
    )
    assert [(a.segment, a.assignee, a.due) for a in found] == [
        ("0", "agent", "2026-06-23"),
        ("1", "caller", "2026-06-26"),
        ("2", "caller", "2026-06-24"),
        ("3", "agent", "2026-06-29"),
    ]
    assert found[0].title.startswith("Email you the repair quote")


@pytest.mark.parametrize(
    "line",
    [
        ("caller", "Will you send me a receipt?"),  # a question
        ("agent", "I've blocked the card just now."),  # already done
        ("agent", "If you give me a reading now, I can recalculate it."),  # conditional
        ("bot", "Transferring you to a technician now, please hold."),
        ("agent", "Take care, see you on Wednesday."),  # a farewell
        ("caller", "I might pop in next week."),  # a hedge
        ("agent", "We usually ship within two days."),  # a policy, not a commitment
    ],
)
def test_what_is_not_an_action_item(line: tuple[str, str]) -> None:
    assert action_items(segs(line), DAY) == []


def test_facts_are_general_business_statements_split_and_categorised() -> None:
    found = facts(
        segs(
            (
                "agent",
                "Just so you know, we open at seven thirty on weekdays, and "
                "appointments with the doctors are twenty minutes.",
            ),
            ("agent", "Claim documents go to claims at harborside insure dot com."),
            ("agent", "Your latest bill is one hundred eighty four dollars."),  # this caller's
            ("caller", "The shop opens at nine I think."),  # the caller's words
            ("agent", "I've moved you to Thursday at two fifteen."),
        )
    )
    assert [(f.segment, f.category) for f in found] == [
        ("0", "faq"),
        ("0", "appointment"),
        ("1", "contact"),
    ]
    assert found[0].text == "We open at seven thirty on weekdays."
    assert all(grounded(f.text, f.evidence) for f in found)


def test_the_summary_quotes_the_call_and_cites_its_segments() -> None:
    call = segs(
        ("agent", "Kwan's Auto, Mike speaking."),
        ("caller", "Hi, I need my brakes checked before Friday."),
        ("agent", "We can look at them tomorrow morning at eight."),
        ("agent", "I'll text you when it's ready."),
    )
    result = analyse(call, DAY, "human")
    assert "I need my brakes checked before Friday" in result.summary
    assert "We can look at them tomorrow morning at eight" in result.summary
    assert result.summary.endswith("A person handled the call.")
    assert result.summary_sources[:2] == ["1", "2"]
    assert len(result.summary.split(". ")) <= 5


def test_an_item_not_in_its_segment_is_not_grounded() -> None:
    assert grounded("Send the quote by email", "I'll send the quote by email today.")
    assert not grounded("Send the invoice by email", "I'll send the quote by email today.")


# Regression floors, not claims: every split was measured once untouched and then had
# its error classes fixed, so these are above what unseen calls get (docs/post-call.md:
# 0.75–0.90 on the first measurement of each new split).
FLOORS = {"dev": 0.9, "heldout": 0.9, "test": 0.9, "final": 0.9, "fresh": 0.9}


@pytest.mark.parametrize("split", sorted(FLOORS))
def test_precision_on_the_annotated_calls_does_not_regress(split: str) -> None:
    result = score(split)
    for kind in ("actions", "facts"):
        assert result[kind]["ungrounded"] == 0
        assert result[kind]["extracted"] >= 10, (split, kind)  # it does find things
        assert result[kind]["precision"] >= FLOORS[split], (split, kind, result[kind])
