"""A campaign's decisions, without I/O: is it time to call this contact, how fast, what an
attempt's end means, and what comes next (retry later, or a final status)."""

from __future__ import annotations

import time
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock
from typing import Any

FINAL = frozenset({"completed", "no_answer", "busy", "failed", "voicemail", "dnc", "exhausted"})
IN_FLIGHT = frozenset({"dialing", "ringing", "in_progress", "agent_transfer"})
DUE = frozenset({"ready", "retry_scheduled"})
STATUSES = (*sorted(DUE), *sorted(IN_FLIGHT), *sorted(FINAL))
RETRYABLE = ("busy", "no_answer", "failed", "voicemail")

_BUSY = frozenset({"USER_BUSY", "CALL_REJECTED", "NORMAL_CIRCUIT_CONGESTION"})
_NO_ANSWER = frozenset(
    {"NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "ORIGINATOR_CANCEL", "PROGRESS_TIMEOUT"}
)


def outcome_of(cause: str | None, answered: bool) -> str:
    """What an attempt came to, from whether it was answered and FreeSWITCH's cause."""
    if answered:
        return "completed"
    cause = (cause or "").upper()
    if cause in _BUSY:
        return "busy"
    if cause in _NO_ANSWER:
        return "no_answer"
    return "failed"


def after_attempt(outcome: str, attempts: int, retries: dict[str, Any]) -> tuple[str, float | None]:
    """(next status, seconds until the retry) after attempt number ``attempts``.

    ``retries[outcome] = {"count": n, "after_s": s}``: up to n more attempts, each s
    seconds after the last; then ``exhausted``. No rule: the outcome is final."""
    if outcome not in RETRYABLE:
        return outcome, None
    rule = retries.get(outcome) or {}
    count = int(rule.get("count", 0))
    if count <= 0:
        return outcome, None
    if attempts <= count:
        return "retry_scheduled", float(rule.get("after_s", 600))
    return "exhausted", None


def in_window(now: datetime, tz: str, windows: dict[str, Any], holidays: list[str]) -> bool:
    """Whether ``now`` is inside the calling window in the time zone ``tz``: the days
    (0 Monday … 6 Sunday) and hours of ``windows``, not on a holiday. No window: always."""
    try:
        local = now.astimezone(zoneinfo.ZoneInfo(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = now
    if local.date().isoformat() in set(holidays):
        return False
    if not windows:
        return True
    days = windows.get("days")
    if days is not None and local.weekday() not in {int(d) for d in days}:
        return False
    start = clock.fromisoformat(str(windows.get("start", "00:00")))
    end = clock.fromisoformat(str(windows.get("end", "23:59")))
    return start <= local.time().replace(tzinfo=None) < end


def past_end(today: date, end_date: str | None) -> bool:
    return bool(end_date) and today.isoformat() > str(end_date)


@dataclass(slots=True)
class Pacer:
    """At most ``rate`` attempts a second, evenly spaced: a token bucket one token deep,
    so no burst ever goes above the rate (a gateway's CPS limit is strict)."""

    rate: float
    _tokens: float = field(default=1.0)
    _at: float = field(default_factory=time.monotonic)

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._tokens = min(1.0, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
