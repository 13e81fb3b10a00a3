"""One record per spoken question: what was asked, heard, answered, and how fast."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.eval.normalize import normalize


@dataclass
class Observed:
    """What a caller-side path saw between one question and the next (pure data)."""

    turns: list[dict[str, Any]] = field(default_factory=list)  # the service's turn dicts
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    caller_v2v_ms: float | None = None
    outcome: str = "ok"  # ok | no_caller_turn | no_response | timeout | hung_up


@dataclass
class TurnRecord:
    kb: str
    owner: str
    call_id: str
    turn: int
    voice: str
    path: str
    question: str
    expect: list[Any]
    yesno: str | None
    handoff_expected: str | None  # unanswerable | sensitive | person
    clip_s: float
    eos_s: float
    outcome: str = "ok"
    transcript: str = ""
    answer: str = ""
    bot_texts: list[str] = field(default_factory=list)  # everything the bot said, in order
    handed_off: bool = False
    handoff_reason: str | None = None
    caller_v2v_ms: float | None = None
    service_v2v_ms: float | None = None
    waterfall_ms: dict[str, float] = field(default_factory=dict)  # stage → ms after speech end
    # Filled in by scoring.score_record:
    retrieval: dict[str, Any] = field(default_factory=dict)
    correct: bool | None = None
    missing: list[Any] = field(default_factory=list)
    polarity: str | None = None
    polarity_ok: bool | None = None
    unsupported: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.handoff_expected is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fixed_phrases(pipeline: Any) -> list[str]:
    """The phrases the bot says word for word (not answers), from the service's settings."""
    names = (
        "greeting",
        "hold_phrase",
        "follow_up",
        "away_message",
        "reassurance",
        "goodbye",
        "reprompt",
        "voicemail_prompt",
        "voicemail_thanks",
    )
    return [str(getattr(pipeline, name)) for name in names if getattr(pipeline, name, None)]


def is_fixed(text: str, phrases: Iterable[str]) -> bool:
    norm = normalize(text)
    return any(norm == normalize(p) for p in phrases)


@dataclass(frozen=True, slots=True)
class Summary:
    transcript: str
    answer: str
    bot_texts: list[str]
    handed_off: bool
    handoff_reason: str | None
    service_v2v_ms: float | None
    waterfall_ms: dict[str, float]


def summarize(
    turns: Sequence[dict[str, Any]], handoffs: Sequence[dict[str, Any]], phrases: Sequence[str]
) -> Summary:
    """The caller's words, and the bot's after them, for one question's window of turns.

    ``answer`` is the bot's speech after the caller's first turn minus the fixed phrases;
    the service's voice-to-voice is the first bot turn's after the caller that has one.
    """
    caller = [t for t in turns if t.get("speaker") == "caller"]
    first = next((i for i, t in enumerate(turns) if t.get("speaker") == "caller"), None)
    after = [] if first is None else [t for t in turns[first + 1 :] if t.get("speaker") == "bot"]
    bot_texts = [str(t.get("text") or "") for t in after if t.get("text")]
    answer = " ".join(text for text in bot_texts if not is_fixed(text, phrases))
    timed = next((t for t in after if t.get("voice_to_voice_ms") is not None), None)
    return Summary(
        transcript=" ".join(str(t.get("text") or "").strip() for t in caller).strip(),
        answer=answer.strip(),
        bot_texts=bot_texts,
        handed_off=bool(handoffs),
        handoff_reason=str(handoffs[0].get("reason")) if handoffs else None,
        service_v2v_ms=None if timed is None else float(timed["voice_to_voice_ms"]),
        waterfall_ms={
            k: round(float(v) * 1000, 1) for k, v in (timed or {}).get("timings", {}).items()
        },
    )


def apply(record: TurnRecord, observed: Observed, phrases: Sequence[str]) -> TurnRecord:
    """Fill ``record`` from what was observed."""
    summary = summarize(observed.turns, observed.handoffs, phrases)
    record.outcome = observed.outcome
    record.transcript = summary.transcript
    record.answer = summary.answer
    record.bot_texts = summary.bot_texts
    record.handed_off = summary.handed_off
    record.handoff_reason = summary.handoff_reason
    record.caller_v2v_ms = observed.caller_v2v_ms
    record.service_v2v_ms = summary.service_v2v_ms
    record.waterfall_ms = summary.waterfall_ms
    return record
