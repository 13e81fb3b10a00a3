"""Repositories: the console's reads and its few direct writes, on SQLAlchemy sessions.

Call-path writes (calls, turns, HITL rows…) go through the :class:`DurableWriter`;
what is here is console business — users, sessions, follow-ups, searches,
dashboard figures — which needs an answer at once and is not on a call's path.
:class:`KnowledgeDocumentRepo` is the SQL
:class:`~callcontrol.pipeline.documents.DocumentRepo` of the knowledge base.

Datetimes: SQLite hands back naive values (always written as UTC); :func:`aware`
restores the zone so callers compare like with like.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcontrol.errors import DuplicateError
from callcontrol.pipeline.base import DocumentInfo, StoredChunk
from callcontrol.store.models import (
    AppSetting,
    Call,
    CallEvent,
    Cdr,
    ConsoleSession,
    HitlRequest,
    KnowledgeChunk,
    KnowledgeDocument,
    Leg,
    Operator,
    Turn,
    utcnow,
)

Sessions = async_sessionmaker[AsyncSession]

ROLES = ("admin", "operator")
STATUSES = ("available", "busy", "away", "offline")
FOLLOWUP_STATUSES = ("unresolved", "contacted", "resolved")


def aware(value: datetime | None) -> datetime | None:
    """A datetime with its zone: naive values from SQLite are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# -- operators and sessions -------------------------------------------------------------
class OperatorRepo:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def get(self, operator_id: str) -> Operator | None:
        async with self._sessions() as s:
            return await s.get(Operator, operator_id)

    async def by_username(self, username: str) -> Operator | None:
        async with self._sessions() as s:
            row = await s.execute(select(Operator).where(Operator.username == username))
            return row.scalar_one_or_none()

    async def list(self) -> list[Operator]:
        async with self._sessions() as s:
            rows = await s.execute(select(Operator).order_by(Operator.username))
            return list(rows.scalars())

    async def count_admins(self) -> int:
        async with self._sessions() as s:
            stmt = select(func.count()).select_from(Operator).where(Operator.role == "admin")
            return int((await s.execute(stmt)).scalar_one())

    async def create(
        self, username: str, password_hash: str, role: str, extension: str | None = None
    ) -> Operator:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        op = Operator(
            username=username,
            password_hash=password_hash,
            role=role,
            status="offline",
            extension=extension,
        )
        async with self._sessions() as s:
            s.add(op)
            try:
                await s.commit()
            except IntegrityError as exc:
                raise DuplicateError(f"user {username!r} already exists") from exc
        return op

    async def update(self, operator_id: str, **values: Any) -> Operator | None:
        allowed = {"password_hash", "role", "status", "extension", "last_seen_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "role" in values and values["role"] not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if "status" in values and values["status"] not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        async with self._sessions() as s:
            op = await s.get(Operator, operator_id)
            if op is None:
                return None
            for key, value in values.items():
                setattr(op, key, value)
            await s.commit()
            return op

    async def delete(self, operator_id: str) -> bool:
        async with self._sessions() as s:
            result = await s.execute(delete(Operator).where(Operator.id == operator_id))
            await s.execute(delete(ConsoleSession).where(ConsoleSession.operator_id == operator_id))
            await s.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]


class SessionRepo:
    """Console sessions, keyed by the hash of the token the cookie carries."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def create(self, row: ConsoleSession) -> None:
        async with self._sessions() as s:
            s.add(row)
            await s.commit()

    async def lookup(self, session_id: str) -> tuple[ConsoleSession, Operator] | None:
        """The session and its operator, unless the session expired or the user is gone."""
        async with self._sessions() as s:
            stmt = (
                select(ConsoleSession, Operator)
                .join(Operator, Operator.id == ConsoleSession.operator_id)
                .where(ConsoleSession.id == session_id)
            )
            row = (await s.execute(stmt)).first()
        if row is None:
            return None
        session, operator = row[0], row[1]
        expires = aware(session.expires_at)
        if expires is None or expires <= utcnow():
            return None
        return session, operator

    async def touch(self, session_id: str, at: datetime) -> None:
        async with self._sessions() as s:
            await s.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == session_id)
                .values(last_seen_at=at)
            )
            await s.commit()

    async def delete(self, session_id: str) -> None:
        async with self._sessions() as s:
            await s.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))
            await s.commit()

    async def delete_for(self, operator_id: str, *, keep: str | None = None) -> int:
        """End an operator's sessions (after a password change), except ``keep``."""
        async with self._sessions() as s:
            stmt = delete(ConsoleSession).where(ConsoleSession.operator_id == operator_id)
            if keep is not None:
                stmt = stmt.where(ConsoleSession.id != keep)
            result = await s.execute(stmt)
            await s.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def purge_expired(self) -> int:
        async with self._sessions() as s:
            result = await s.execute(
                delete(ConsoleSession).where(ConsoleSession.expires_at <= utcnow())
            )
            await s.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]


# -- HITL ---------------------------------------------------------------------------------
class HitlRepo:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def get(self, request_id: str) -> HitlRequest | None:
        async with self._sessions() as s:
            return await s.get(HitlRequest, request_id)

    async def list(
        self, statuses: Sequence[str], *, limit: int = 200, call_id: str | None = None
    ) -> list[HitlRequest]:
        async with self._sessions() as s:
            stmt = select(HitlRequest).order_by(HitlRequest.created_at.desc()).limit(limit)
            if statuses:
                stmt = stmt.where(HitlRequest.status.in_(list(statuses)))
            if call_id is not None:
                stmt = stmt.where(HitlRequest.call_id == call_id)
            return list((await s.execute(stmt)).scalars())

    async def follow_up(
        self,
        request_id: str,
        *,
        by: str,
        status: str | None = None,
        notes: str | None = None,
    ) -> HitlRequest | None:
        """Annotate or move an unresolved request; None if it is not a follow-up (any more)."""
        if status is not None and status not in FOLLOWUP_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FOLLOWUP_STATUSES)}")
        values: dict[str, Any] = {"followup_by": by, "updated_at": utcnow()}
        if status is not None:
            values["status"] = status
        if notes is not None:
            values["notes"] = notes
        async with self._sessions() as s:
            result = await s.execute(
                update(HitlRequest)
                .where(HitlRequest.id == request_id)
                .where(HitlRequest.status.in_(FOLLOWUP_STATUSES))
                .values(**values)
            )
            await s.commit()
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            return await s.get(HitlRequest, request_id, populate_existing=True)


# -- call history -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HistoryFilter:
    since: datetime | None = None
    until: datetime | None = None
    number: str | None = None
    outcome: str | None = None
    handled_by: str | None = None
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
        return stmt

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


class DashboardRepo:
    # Percentiles are computed here over at most this many recent samples (portable
    # across SQLite and PostgreSQL; a day's turns on one site fit easily).
    MAX_SAMPLES = 50_000

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

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
            if row.outcome == "answered" and created and answered:
                answer_s.append((answered - created).total_seconds())
        return DashboardStats(
            since=since,
            calls=calls,
            bot_calls=bot,
            human_calls=human,
            hitl_requests=len(hitl_rows),
            hitl_calls=len({row.call_id for row in hitl_rows}),
            hitl_answered=sum(1 for row in hitl_rows if row.outcome == "answered"),
            hitl_unresolved=sum(1 for row in hitl_rows if row.status in ("unresolved",)),
            answer_s_median=percentile(answer_s, 0.5),
            answer_s_p95=percentile(answer_s, 0.95),
            v2v_turns=len(v2v_values),
            v2v_p50_ms=percentile(v2v_values, 0.5),
            v2v_p95_ms=percentile(v2v_values, 0.95),
        )


# -- settings changed from the console ---------------------------------------------------
class AppSettingsRepo:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def all(self) -> dict[str, Any]:
        async with self._sessions() as s:
            rows = (await s.execute(select(AppSetting))).scalars()
            return {row.key: row.value.get("value") for row in rows}

    async def set(self, key: str, value: Any) -> None:
        async with self._sessions() as s:
            row = await s.get(AppSetting, key)
            if row is None:
                s.add(AppSetting(key=key, value={"value": value}))
            else:
                row.value = {"value": value}
                row.updated_at = utcnow()
            await s.commit()

    async def delete(self, key: str) -> None:
        async with self._sessions() as s:
            await s.execute(delete(AppSetting).where(AppSetting.key == key))
            await s.commit()


# -- knowledge documents ------------------------------------------------------------------
def _doc_info(row: KnowledgeDocument) -> DocumentInfo:
    return DocumentInfo(
        id=row.id,
        owner=row.owner,
        title=row.title,
        source=row.source,
        chunk_count=row.chunk_count,
        created_at=aware(row.created_at) or utcnow(),
        updated_at=aware(row.updated_at) or utcnow(),
        text=row.text,
    )


class KnowledgeDocumentRepo:
    """The knowledge base's SQL rows (a :class:`~callcontrol.pipeline.documents.DocumentRepo`)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def get(self, doc_id: str) -> DocumentInfo | None:
        async with self._sessions() as s:
            row = await s.get(KnowledgeDocument, doc_id)
            return _doc_info(row) if row is not None else None

    async def get_by_title(self, owner: str, title: str) -> DocumentInfo | None:
        async with self._sessions() as s:
            row = (
                await s.execute(
                    select(KnowledgeDocument)
                    .where(KnowledgeDocument.owner == owner)
                    .where(KnowledgeDocument.title == title)
                )
            ).scalar_one_or_none()
            return _doc_info(row) if row is not None else None

    async def list(self, owner: str | None = None) -> list[DocumentInfo]:
        async with self._sessions() as s:
            stmt = select(KnowledgeDocument).order_by(
                KnowledgeDocument.created_at, KnowledgeDocument.title
            )
            if owner is not None:
                stmt = stmt.where(KnowledgeDocument.owner == owner)
            return [_doc_info(r) for r in (await s.execute(stmt)).scalars()]

    async def upsert(self, doc: DocumentInfo, chunks: Sequence[StoredChunk] = ()) -> None:
        """Write the document and replace its chunks, in one transaction."""
        async with self._sessions() as s:
            row = await s.get(KnowledgeDocument, doc.id)
            if row is None:
                row = KnowledgeDocument(id=doc.id, created_at=doc.created_at)
                s.add(row)
            row.owner = doc.owner
            row.title = doc.title
            row.source = doc.source
            row.text = doc.text
            row.chunk_count = doc.chunk_count
            row.updated_at = doc.updated_at
            await s.execute(delete(KnowledgeChunk).where(KnowledgeChunk.doc_id == doc.id))
            s.add_all(
                KnowledgeChunk(
                    id=f"{doc.id}:{c.index}",
                    doc_id=doc.id,
                    owner=doc.owner,
                    idx=c.index,
                    text=c.text,
                    context=c.context,
                    embedding=np.asarray(c.vector, dtype="<f4").tobytes(),
                )
                for c in chunks
            )
            try:
                await s.commit()
            except IntegrityError as exc:
                raise DuplicateError(f"{doc.owner} already has a document {doc.title!r}") from exc

    async def chunks(self, owner: str) -> builtins.list[StoredChunk]:
        """Every chunk of the owner's documents, in document and chunk order."""
        async with self._sessions() as s:
            stmt = (
                select(KnowledgeChunk, KnowledgeDocument.title)
                .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.doc_id)
                .where(KnowledgeChunk.owner == owner)
                .order_by(KnowledgeDocument.created_at, KnowledgeChunk.doc_id, KnowledgeChunk.idx)
            )
            return [
                StoredChunk(
                    doc_id=c.doc_id,
                    title=title,
                    index=c.idx,
                    text=c.text,
                    context=c.context,
                    vector=np.frombuffer(c.embedding, dtype="<f4").astype(np.float32),
                )
                for c, title in (await s.execute(stmt)).all()
            ]

    async def revisions(self) -> dict[str, str]:
        """A token per owner that changes whenever one of its documents does."""
        async with self._sessions() as s:
            stmt = select(
                KnowledgeDocument.owner,
                func.count(KnowledgeDocument.id),
                func.max(KnowledgeDocument.updated_at),
            ).group_by(KnowledgeDocument.owner)
            return {
                owner: f"{count}:{latest}" for owner, count, latest in (await s.execute(stmt)).all()
            }

    async def delete(self, doc_id: str) -> bool:
        async with self._sessions() as s:
            await s.execute(delete(KnowledgeChunk).where(KnowledgeChunk.doc_id == doc_id))
            result = await s.execute(
                delete(KnowledgeDocument).where(KnowledgeDocument.id == doc_id)
            )
            await s.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]
