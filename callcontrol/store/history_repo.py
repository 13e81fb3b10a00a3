"""Call history and the dashboard's figures, read for the console."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Select, func, or_, select

from callcontrol.store.models import (
    Call,
    CallEvent,
    CallSummary,
    Cdr,
    HitlRequest,
    Leg,
    Operator,
    Turn,
)
from callcontrol.store.repos import Sessions, aware

# How a question handed to a person was answered: typed at the desk, or by phone (the
# caller put through to the operator; callcontrol/handoff.py).
ANSWERED = ("answered", "phone")


# -- call history -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HistoryFilter:
    since: datetime | None = None
    until: datetime | None = None
    number: str | None = None
    outcome: str | None = None
    handled_by: str | None = None
    text: str | None = None  # words of the call's summary
    limit: int = 50
    offset: int = 0


@dataclass(slots=True)
class CallDetail:
    call: Call | None
    cdr: Cdr | None
    legs: list[Leg] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)
    hitl: list[HitlRequest] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.call is not None or self.cdr is not None

    @property
    def recording_path(self) -> str | None:
        if self.cdr is not None and self.cdr.recording_path:
            return self.cdr.recording_path
        return self.call.recording_path if self.call is not None else None


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class CallRepo:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def _history_query(self, f: HistoryFilter) -> Select[Cdr]:
        stmt = select(Cdr)
        if f.since is not None:
            stmt = stmt.where(Cdr.start_at >= f.since)
        if f.until is not None:
            stmt = stmt.where(Cdr.start_at < f.until)
        if f.number:
            pattern = _like(f.number)
            stmt = stmt.where(
                or_(Cdr.caller.like(pattern, escape="\\"), Cdr.callee.like(pattern, escape="\\"))
            )
        if f.outcome:
            stmt = stmt.where(Cdr.outcome == f.outcome)
        if f.handled_by:
            stmt = stmt.where(Cdr.handled_by == f.handled_by)
        if f.text:
            for word in f.text.split()[:8]:
                stmt = stmt.where(
                    Cdr.call_id.in_(
                        select(CallSummary.call_id).where(
                            func.lower(CallSummary.summary).like(_like(word.lower()), escape="\\")
                        )
                    )
                )
        return stmt

    async def summaries(self, call_ids: Sequence[str]) -> dict[str, str]:
        if not call_ids:
            return {}
        async with self._sessions() as s:
            rows = await s.execute(
                select(CallSummary.call_id, CallSummary.summary).where(
                    CallSummary.call_id.in_(list(call_ids))
                )
            )
            return {str(cid): str(text) for cid, text in rows.all()}

    async def history(self, f: HistoryFilter) -> tuple[list[Cdr], int]:
        """Finished calls matching ``f``, newest first, and how many match in all."""
        stmt = self._history_query(f)
        async with self._sessions() as s:
            total = (
                await s.execute(select(func.count()).select_from(stmt.subquery()))
            ).scalar_one()
            rows = await s.execute(
                stmt.order_by(Cdr.start_at.desc()).limit(f.limit).offset(f.offset)
            )
            return list(rows.scalars()), int(total)

    async def outcomes(self) -> list[str]:
        async with self._sessions() as s:
            rows = await s.execute(select(Cdr.outcome).distinct().order_by(Cdr.outcome))
            return [str(r) for r in rows.scalars()]

    async def detail(self, call_id: str) -> CallDetail:
        async with self._sessions() as s:
            call = await s.get(Call, call_id)
            cdr = (await s.execute(select(Cdr).where(Cdr.call_id == call_id))).scalar_one_or_none()
            legs = (
                await s.execute(select(Leg).where(Leg.call_id == call_id).order_by(Leg.created_at))
            ).scalars()
            turns = (
                await s.execute(
                    select(Turn)
                    .where(Turn.call_id == call_id)
                    .order_by(Turn.seq, Turn.started_at)
                    .limit(2000)
                )
            ).scalars()
            events = (
                await s.execute(
                    select(CallEvent)
                    .where(CallEvent.call_id == call_id)
                    .order_by(CallEvent.at)
                    .limit(2000)
                )
            ).scalars()
            hitl = (
                await s.execute(
                    select(HitlRequest)
                    .where(HitlRequest.call_id == call_id)
                    .order_by(HitlRequest.created_at)
                )
            ).scalars()
            return CallDetail(call, cdr, list(legs), list(turns), list(events), list(hitl))


# -- dashboard ----------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True, slots=True)
class DashboardStats:
    since: datetime
    calls: int
    bot_calls: int
    human_calls: int
    hitl_requests: int
    hitl_calls: int
    hitl_answered: int
    hitl_unresolved: int
    answer_s_median: float | None
    answer_s_p95: float | None
    v2v_turns: int
    v2v_p50_ms: float | None
    v2v_p95_ms: float | None

    @property
    def bot_share(self) -> float | None:
        return self.bot_calls / self.calls if self.calls else None

    @property
    def hitl_rate(self) -> float | None:
        """Share of calls with at least one HITL request."""
        return self.hitl_calls / self.calls if self.calls else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "calls": self.calls,
            "bot_calls": self.bot_calls,
            "human_calls": self.human_calls,
            "bot_share": self.bot_share,
            "hitl_requests": self.hitl_requests,
            "hitl_calls": self.hitl_calls,
            "hitl_rate": self.hitl_rate,
            "hitl_answered": self.hitl_answered,
            "hitl_unresolved": self.hitl_unresolved,
            "hitl_answer_s_median": self.answer_s_median,
            "hitl_answer_s_p95": self.answer_s_p95,
            "v2v_turns": self.v2v_turns,
            "v2v_p50_ms": self.v2v_p50_ms,
            "v2v_p95_ms": self.v2v_p95_ms,
        }


@dataclass(slots=True)
class HitlFigures:
    """Questions handed to people, for one operator or one day."""

    key: str  # the operator's name, or the day (YYYY-MM-DD)
    questions: int = 0
    answered: int = 0
    resolved: int = 0  # follow-ups closed later
    saved_to_kb: int = 0
    answer_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        done = self.answered + self.resolved
        return {
            "key": self.key,
            "questions": self.questions,
            "answered": self.answered,
            "resolved": self.resolved,
            # answered live or resolved later, of every question
            "resolution": done / self.questions if self.questions else None,
            "saved_to_kb": self.saved_to_kb,
            "saved_share": self.saved_to_kb / self.answered if self.answered else None,
            "answer_s_median": percentile(self.answer_s, 0.5),
        }


class DashboardRepo:
    # Percentiles are computed here over at most this many recent samples (portable
    # across SQLite and PostgreSQL; a day's turns on one site fit easily).
    MAX_SAMPLES = 50_000

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def hitl_breakdown(
        self, since: datetime, tz: tzinfo | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """HITL figures by operator (who answered or closed it) and by day (``tz``'s)."""
        async with self._sessions() as s:
            rows = (
                await s.execute(
                    select(
                        HitlRequest.outcome,
                        HitlRequest.status,
                        HitlRequest.created_at,
                        HitlRequest.answered_at,
                        HitlRequest.kb_doc_id,
                        HitlRequest.resolved_by,
                        Operator.username,
                    )
                    .outerjoin(Operator, Operator.id == HitlRequest.operator_id)
                    .where(HitlRequest.created_at >= since)
                    .limit(self.MAX_SAMPLES)
                )
            ).all()
        by_operator: dict[str, HitlFigures] = {}
        by_day: dict[str, HitlFigures] = {}
        for row in rows:
            created, answered = aware(row.created_at), aware(row.answered_at)
            if created is None:
                continue
            day = created.astimezone(tz).date().isoformat()
            figures = [by_day.setdefault(day, HitlFigures(day))]
            who = row.username or row.resolved_by
            if who:
                figures.append(by_operator.setdefault(who, HitlFigures(who)))
            for f in figures:
                f.questions += 1
                if row.outcome in ANSWERED:
                    f.answered += 1
                    if answered is not None:
                        f.answer_s.append((answered - created).total_seconds())
                    if row.kb_doc_id:
                        f.saved_to_kb += 1
                elif row.status == "resolved":
                    f.resolved += 1
        operators = [by_operator[k].as_dict() for k in sorted(by_operator)]
        days = [by_day[k].as_dict() for k in sorted(by_day, reverse=True)]
        return operators, days

    async def stats(self, since: datetime) -> DashboardStats:
        async with self._sessions() as s:
            grouped = await s.execute(
                select(Call.handled_by, func.count())
                .where(Call.created_at >= since)
                .group_by(Call.handled_by)
            )
            by_handler = {str(row[0]): int(row[1]) for row in grouped.all()}
            calls = sum(int(v) for v in by_handler.values())
            bot = int(by_handler.get("bot", 0)) + int(by_handler.get("both", 0))
            human = int(by_handler.get("human", 0)) + int(by_handler.get("both", 0))
            hitl_rows = (
                await s.execute(
                    select(
                        HitlRequest.call_id,
                        HitlRequest.outcome,
                        HitlRequest.status,
                        HitlRequest.created_at,
                        HitlRequest.answered_at,
                    )
                    .where(HitlRequest.created_at >= since)
                    .limit(self.MAX_SAMPLES)
                )
            ).all()
            v2v = (
                await s.execute(
                    select(Turn.voice_to_voice_ms)
                    .where(Turn.started_at >= since)
                    .where(Turn.voice_to_voice_ms.is_not(None))
                    .order_by(Turn.started_at.desc())
                    .limit(self.MAX_SAMPLES)
                )
            ).scalars()
            v2v_values = [float(v) for v in v2v if v is not None]
        answer_s: list[float] = []
        for row in hitl_rows:
            created, answered = aware(row.created_at), aware(row.answered_at)
            if row.outcome in ANSWERED and created and answered:
                answer_s.append((answered - created).total_seconds())
        return DashboardStats(
            since=since,
            calls=calls,
            bot_calls=bot,
            human_calls=human,
            hitl_requests=len(hitl_rows),
            hitl_calls=len({row.call_id for row in hitl_rows}),
            hitl_answered=sum(1 for row in hitl_rows if row.outcome in ANSWERED),
            hitl_unresolved=sum(1 for row in hitl_rows if row.status in ("unresolved",)),
            answer_s_median=percentile(answer_s, 0.5),
            answer_s_p95=percentile(answer_s, 0.95),
            v2v_turns=len(v2v_values),
            v2v_p50_ms=percentile(v2v_values, 0.5),
            v2v_p95_ms=percentile(v2v_values, 0.95),
        )
