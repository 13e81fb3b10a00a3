"""Scores, as pure functions: per turn (correct, yes/no, unsupported facts, retrieval hits)
and over many turns (WER, hand-off precision/recall, percentiles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.eval.facts import Knowledge, is_yes_no_question, polarity, unsupported_facts
from tests.eval.normalize import Item, item_found, missing_items, normalize, tokens
from tests.eval.records import TurnRecord


def answer_correct(
    answer: str, expect: Sequence[Item], yesno: str | None, *, handed_off: bool
) -> tuple[bool, list[Item]]:
    """(correct?, missing items): not handed off, every item there, the right yes/no."""
    missing = missing_items(answer, expect)
    ok = not handed_off and bool(answer.strip()) and not missing
    if yesno is not None and polarity(answer) != yesno:
        ok = False
    return ok, missing


def passage_hits(passages: Sequence[str], expect: Sequence[Item]) -> tuple[bool, bool]:
    """(hit@1, hit@3): a passage (best first) that contains every expected item."""
    if not expect:
        return False, False
    hits = [all(item_found(tokens(p), item) for item in expect) for p in passages[:3]]
    return bool(hits[:1] and hits[0]), any(hits)


def score_record(record: TurnRecord, kb: Knowledge) -> TurnRecord:
    """Fill the answer scores of one record (retrieval is filled by the runner)."""
    yes_no_q = record.yesno is not None or is_yes_no_question(record.question)
    facts = unsupported_facts(record.answer, kb, yes_no_question=yes_no_q)
    record.unsupported = [f.to_dict() for f in facts]
    if record.answerable:
        record.correct, record.missing = answer_correct(
            record.answer, record.expect, record.yesno, handed_off=record.handed_off
        )
    if record.yesno is not None:
        record.polarity = polarity(record.answer) if not record.handed_off else None
        record.polarity_ok = record.polarity == record.yesno
    return record


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class HandoffScores:
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None


def handoff_scores(expected: Sequence[bool], actual: Sequence[bool]) -> HandoffScores:
    """Precision/recall of hand-offs (positive: the turn should go to a person)."""
    pairs = list(zip(expected, actual, strict=True))
    tp = sum(1 for e, a in pairs if e and a)
    fp = sum(1 for e, a in pairs if a and not e)
    fn = sum(1 for e, a in pairs if e and not a)
    return HandoffScores(
        tp, fp, fn, tp / (tp + fp) if tp + fp else None, tp / (tp + fn) if tp + fn else None
    )


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float | None:
    """Corpus word error rate on normalized text (jiwer); None when nothing to score."""
    import jiwer

    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return None
    words = sum(len(r.split()) for r, _ in pairs)
    errors = 0.0
    for ref, hyp in pairs:  # jiwer refuses empty hypotheses in some versions: all deleted
        errors += jiwer.wer(ref, hyp) * len(ref.split()) if hyp else len(ref.split())
    return errors / words


def rate(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _ms(values: Sequence[float]) -> dict[str, Any]:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    return {
        "n": len(values),
        "p50": None if p50 is None else round(p50, 1),
        "p95": None if p95 is None else round(p95, 1),
    }


def aggregate(records: Sequence[TurnRecord]) -> dict[str, Any]:
    """Every figure over ``records`` (one voice, or all)."""
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if r.handoff_expected == "unanswerable"]
    yes_no = [r for r in records if r.yesno is not None]
    handoffs = handoff_scores([not r.answerable for r in records], [r.handed_off for r in records])
    retrieval: dict[str, Any] = {}
    for source in ("transcript", "clean"):
        scored = [r.retrieval[source] for r in answerable if source in r.retrieval]
        retrieval[source] = {
            "n": len(scored),
            "hit@1": rate([bool(s["hit@1"]) for s in scored]),
            "hit@3": rate([bool(s["hit@3"]) for s in scored]),
        }
    voiced = [r for r in records if r.caller_v2v_ms is not None]
    answered = [r for r in voiced if not r.handed_off]
    served = [r.service_v2v_ms for r in records if r.service_v2v_ms is not None]
    return {
        "turns": len(records),
        "answerable": len(answerable),
        "stt_wer": wer([r.question for r in records], [r.transcript for r in records]),
        "retrieval": retrieval,
        "answer_correct": rate([bool(r.correct) for r in answerable]),
        "answer_correct_n": sum(1 for r in answerable if r.correct),
        "yesno_accuracy": rate([bool(r.polarity_ok) for r in yes_no]),
        "yesno_n": len(yes_no),
        "unsupported_facts": sum(len(r.unsupported) for r in records),
        "handoff": {
            "precision": handoffs.precision,
            "recall": handoffs.recall,
            "tp": handoffs.tp,
            "fp": handoffs.fp,
            "fn": handoffs.fn,
            "unanswerable_handed_off": rate([r.handed_off for r in unanswerable]),
            "unanswerable_n": len(unanswerable),
            "answerable_handed_off": rate([r.handed_off for r in answerable]),
        },
        "caller_v2v_ms": _ms([float(r.caller_v2v_ms or 0) for r in voiced]),
        "caller_v2v_answered_ms": _ms([float(r.caller_v2v_ms or 0) for r in answered]),
        "service_v2v_ms": _ms([float(v) for v in served]),
        "outcomes": {o: sum(1 for r in records if r.outcome == o) for o in _outcomes(records)},
    }


def _outcomes(records: Sequence[TurnRecord]) -> list[str]:
    return sorted({r.outcome for r in records})


TARGETS: dict[str, Any] = {
    "answer_correct": ">= 0.90",
    "unsupported_facts": "0",
    "unanswerable_handed_off": ">= 0.90",
    "caller_v2v_p50_ms": "<= 1000",
    "caller_v2v_p95_ms": "<= 1500",
}
