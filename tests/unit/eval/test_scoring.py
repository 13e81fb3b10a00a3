"""Per-turn and aggregate scores of the eval."""

from __future__ import annotations

import pytest

from tests.eval.facts import Knowledge
from tests.eval.records import TurnRecord
from tests.eval.scoring import (
    aggregate,
    answer_correct,
    handoff_scores,
    passage_hits,
    percentile,
    score_record,
    wer,
)


def record(**kw: object) -> TurnRecord:
    base: dict[str, object] = {
        "kb": "acme",
        "owner": "acme",
        "call_id": "c1",
        "turn": 1,
        "voice": "v1",
        "path": "direct",
        "question": "What time do you open on Saturdays?",
        "expect": ["8 am", ["Saturday", "Saturdays"]],
        "yesno": None,
        "handoff_expected": None,
        "clip_s": 2.0,
        "eos_s": 1.7,
    }
    base.update(kw)
    return TurnRecord(**base)  # type: ignore[arg-type]


def test_answer_correct_needs_every_item_and_no_handoff() -> None:
    expect = ["8 am", ["Saturday", "Saturdays"]]
    assert answer_correct("On Saturdays we open at eight a.m.", expect, None, handed_off=False) == (
        True,
        [],
    )
    ok, missing = answer_correct("On Saturdays we open at 9 am.", expect, None, handed_off=False)
    assert not ok and missing == ["8 am"]
    ok, _ = answer_correct("On Saturdays we open at 8 am.", expect, None, handed_off=True)
    assert not ok
    assert answer_correct("", [], None, handed_off=False)[0] is False


def test_answer_correct_checks_yes_no_polarity() -> None:
    assert answer_correct("Yes, parking is free.", ["free"], "yes", handed_off=False)[0]
    assert not answer_correct("No, parking is free.", ["free"], "yes", handed_off=False)[0]
    assert not answer_correct("Parking is free.", ["free"], "yes", handed_off=False)[0]
    assert answer_correct("No, we don't.", [], "no", handed_off=False)[0]


def test_score_record_fills_correctness_polarity_and_facts() -> None:
    kb = Knowledge("On Saturday the store opens at 8 am. Parking is free.")
    r = score_record(record(answer="On Saturday we open at 8 am, ask Bob."), kb)
    assert r.correct is True and r.missing == []
    assert [f["text"] for f in r.unsupported] == ["Bob"]
    r = score_record(
        record(question="Is parking free?", expect=["free"], yesno="yes", answer="No."), kb
    )
    assert r.correct is False and r.polarity == "no" and r.polarity_ok is False
    assert r.unsupported == []  # the leading "No" answers the yes/no question
    r = score_record(record(handoff_expected="unanswerable", answer="", handed_off=True), kb)
    assert r.correct is None and r.unsupported == []


def test_passage_hits_top1_and_top3() -> None:
    expect = ["8 am", ["Saturday", "Saturdays"]]
    good = "On Saturday the store opens at 8 am."
    assert passage_hits([good, "x", "y"], expect) == (True, True)
    assert passage_hits(["x", "y", good], expect) == (False, True)
    assert passage_hits(["x", "y", "z", good], expect) == (False, False)  # only the top 3
    assert passage_hits(["Saturday: 9 am", "8 am on Sunday"], expect) == (False, False)
    assert passage_hits([], expect) == (False, False)
    assert passage_hits([good], []) == (False, False)


def test_handoff_precision_and_recall() -> None:
    expected = [True, True, True, False, False, False]
    actual = [True, True, False, True, False, False]
    s = handoff_scores(expected, actual)
    assert (s.tp, s.fp, s.fn) == (2, 1, 1)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    s = handoff_scores([True, False], [False, False])
    assert s.precision is None and s.recall == 0.0
    s = handoff_scores([False, False], [True, False])
    assert s.precision == 0.0 and s.recall is None
    with pytest.raises(ValueError):
        handoff_scores([True], [True, False])


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([5.0, 1.0, 4.0, 2.0, 3.0], 50, 3.0),  # unsorted input
        ([1.0, 2.0, 3.0, 4.0, 5.0], 95, 4.8),
        ([10.0, 20.0], 95, 19.5),
        ([7.0], 95, 7.0),
        ([1.0, 2.0, 3.0], 0, 1.0),
        ([1.0, 2.0, 3.0], 100, 3.0),
    ],
)
def test_percentile_interpolates_like_numpy(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None


def test_wer_on_normalized_text() -> None:
    # Case, punctuation and number words do not count as errors.
    assert wer(["What time do you open on Saturdays?"], ["what time do you open on saturdays"]) == 0
    assert wer(["Is it nine am?"], ["is it 9 a.m."]) == 0
    # One substitution in four words, one deletion in four: 2 errors / 8 words overall.
    assert wer(["is parking free today", "do you sell bikes"], [
        "is parking three today", "do you sell"
    ]) == pytest.approx(2 / 8)  # fmt: skip
    # Nothing heard: every word deleted.
    assert wer(["do you sell bikes"], [""]) == pytest.approx(1.0)
    assert wer([""], ["noise"]) is None


def test_aggregate_counts_each_figure_on_its_own_turns() -> None:
    records = [
        record(answer="On Saturday we open at 8 am.", caller_v2v_ms=900.0, service_v2v_ms=700.0),
        record(answer="We open at 9 am.", caller_v2v_ms=1100.0, service_v2v_ms=800.0),
        record(handoff_expected="unanswerable", handed_off=True, caller_v2v_ms=500.0, answer=""),
        record(handoff_expected="sensitive", handed_off=False, caller_v2v_ms=None),
        record(handed_off=True, answer="", caller_v2v_ms=600.0),  # answerable, handed off
    ]
    kb = Knowledge("On Saturday the store opens at 8 am.")
    for r in records:
        score_record(r, kb)
        r.transcript = r.question
    agg = aggregate(records)
    assert agg["turns"] == 5 and agg["answerable"] == 3
    assert agg["answer_correct"] == pytest.approx(1 / 3) and agg["answer_correct_n"] == 1
    assert agg["unsupported_facts"] == 1  # "9 am"
    assert agg["handoff"]["tp"] == 1 and agg["handoff"]["fp"] == 1 and agg["handoff"]["fn"] == 1
    assert agg["handoff"]["unanswerable_handed_off"] == 1.0
    assert agg["handoff"]["answerable_handed_off"] == pytest.approx(1 / 3)
    assert agg["caller_v2v_ms"]["n"] == 4 and agg["caller_v2v_ms"]["p50"] == 750.0
    assert agg["caller_v2v_answered_ms"]["n"] == 2  # not the hand-offs
    assert agg["caller_v2v_answered_ms"]["p50"] == 1000.0
    assert agg["service_v2v_ms"]["p50"] == 750.0
    assert agg["stt_wer"] == 0
