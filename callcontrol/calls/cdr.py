"""Call detail records: built from a finished :class:`~callcontrol.calls.model.Call`. Pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from callcontrol.calls.model import Call

_UNANSWERED_OUTCOMES = {
    "NO_ANSWER": "no_answer",
    "NO_USER_RESPONSE": "no_answer",
    "USER_BUSY": "busy",
    "ORIGINATOR_CANCEL": "abandoned",
    "CALL_REJECTED": "rejected",
    "UNALLOCATED_NUMBER": "rejected",
    "SUBSCRIBER_ABSENT": "unreachable",
}


@dataclass(frozen=True, slots=True)
class CdrRecord:
    call_id: str
    caller: str | None
    callee: str | None
    direction: str
    owner: str | None
    start_at: datetime
    answer_at: datetime | None
    end_at: datetime
    duration_s: int
    billsec_s: int
    hangup_cause: str
    handled_by: str
    outcome: str
    recording_path: str | None
    worker_id: str | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("start_at", "answer_at", "end_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def outcome_for(answered: bool, cause: str, handled_by: str) -> str:
    if answered:
        return {"bot": "bot", "human": "human", "both": "bot_then_human"}.get(
            handled_by, "answered"
        )
    return _UNANSWERED_OUTCOMES.get(cause, "failed")


def build_cdr(call: Call, end_at: datetime | None = None) -> CdrRecord:
    leg = call.caller_leg
    end = leg.ended_at or end_at or call.created_at
    start = min(call.created_at, leg.created_at)
    answer = leg.answered_at
    duration = leg.duration if leg.duration is not None else int((end - start).total_seconds())
    if leg.billsec is not None:
        billsec = leg.billsec
    elif answer is not None:
        billsec = int((end - answer).total_seconds())
    else:
        billsec = 0
    cause = leg.hangup_cause or "NORMAL_CLEARING"
    handled = call.handled_by
    return CdrRecord(
        call_id=call.id,
        caller=call.caller_number,
        callee=call.callee_number,
        direction=call.direction,
        owner=call.owner,
        start_at=start,
        answer_at=answer,
        end_at=end,
        duration_s=max(duration, 0),
        billsec_s=max(billsec, 0),
        hangup_cause=cause,
        handled_by=handled,
        outcome=outcome_for(answer is not None, cause, handled),
        recording_path=call.recording_path,
        worker_id=call.worker_id,
    )
