"""Repositories: the console's reads and its few direct writes, on SQLAlchemy sessions.

Call-path writes (calls, turns, HITL rows…) go through the :class:`DurableWriter`;
what is here is console business — users, sessions, follow-ups, settings — which needs
an answer at once and is not on a call's path. Call history and the dashboard are in
``history_repo.py``; the knowledge base's documents in ``knowledge_repo.py``.

Datetimes: SQLite hands back naive values (always written as UTC); :func:`aware`
restores the zone so callers compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcontrol.errors import DuplicateError
from callcontrol.store.models import (
    AppSetting,
    ConsoleSession,
    HitlRequest,
    Operator,
    OwnerSetting,
    utcnow,
)

Sessions = async_sessionmaker[AsyncSession]

ROLES = ("admin", "operator")
STATUSES = ("available", "busy", "away", "offline")
FOLLOWUP_STATUSES = ("unresolved", "noted", "contacted", "resolved")
OPEN_FOLLOWUPS = ("unresolved", "noted", "contacted")


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

    async def replace_status(self, operator_id: str, expected: str, status: str) -> Operator | None:
        """Set ``status`` only if the stored one is still ``expected``, in one statement
        (the operator may change it at the same moment); the operator if it changed."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        async with self._sessions() as s:
            result = await s.execute(
                update(Operator)
                .where(Operator.id == operator_id, Operator.status == expected)
                .values(status=status)
            )
            await s.commit()
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            return await s.get(Operator, operator_id, populate_existing=True)

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
        required: bool | None = None,
        phone: str | None = None,
    ) -> HitlRequest | None:
        """Annotate or move an unresolved request; None if it is not a follow-up (any more).

        ``noted`` and ``resolved`` record who and when; ``phone`` "" goes back to the
        caller's number."""
        if status is not None and status not in FOLLOWUP_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FOLLOWUP_STATUSES)}")
        now = utcnow()
        values: dict[str, Any] = {"followup_by": by, "updated_at": now}
        if status is not None:
            values["status"] = status
            if status == "noted":
                values.update(noted_by=by, noted_at=now)
            elif status == "resolved":
                values.update(resolved_by=by, resolved_at=now)
        if notes is not None:
            values["notes"] = notes
        if required is not None:
            values["followup_required"] = required
        if phone is not None:
            values["followup_phone"] = phone or None
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

    async def add_callback(self, request_id: str, call_id: str) -> HitlRequest | None:
        """Link a call made back to the caller to its follow-up."""
        async with self._sessions() as s:
            row = await s.get(HitlRequest, request_id, with_for_update=True)
            if row is None:
                return None
            row.callbacks = [*(row.callbacks or []), call_id]
            row.updated_at = utcnow()
            await s.commit()
            return await s.get(HitlRequest, request_id, populate_existing=True)

    async def saved_to_kb(self, request_id: str, doc_id: str) -> bool:
        async with self._sessions() as s:
            result = await s.execute(
                update(HitlRequest).where(HitlRequest.id == request_id).values(kb_doc_id=doc_id)
            )
            await s.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def count_open(self) -> int:
        """Follow-ups nobody has closed: the navigation's badge."""
        async with self._sessions() as s:
            stmt = select(func.count()).where(HitlRequest.status.in_(OPEN_FOLLOWUPS))
            return int((await s.execute(stmt)).scalar_one())


# -- settings changed from the console ---------------------------------------------------
class OwnerSettingsRepo:
    """Per-owner overrides: ``{owner: {key: value}}``."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def all(self) -> dict[str, dict[str, Any]]:
        async with self._sessions() as s:
            rows = (await s.execute(select(OwnerSetting))).scalars()
            out: dict[str, dict[str, Any]] = {}
            for row in rows:
                out.setdefault(row.owner, {})[row.key] = row.value.get("value")
            return out

    async def for_owner(self, owner: str) -> dict[str, Any]:
        async with self._sessions() as s:
            rows = (
                await s.execute(select(OwnerSetting).where(OwnerSetting.owner == owner))
            ).scalars()
            return {row.key: row.value.get("value") for row in rows}

    async def set(self, owner: str, key: str, value: Any, by: str | None = None) -> None:
        async with self._sessions() as s:
            row = await s.get(OwnerSetting, (owner, key))
            if row is None:
                s.add(OwnerSetting(owner=owner, key=key, value={"value": value}, updated_by=by))
            else:
                row.value = {"value": value}
                row.updated_by = by
                row.updated_at = utcnow()
            await s.commit()

    async def delete(self, owner: str, key: str) -> None:
        async with self._sessions() as s:
            await s.execute(
                delete(OwnerSetting).where(OwnerSetting.owner == owner, OwnerSetting.key == key)
            )
            await s.commit()


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
