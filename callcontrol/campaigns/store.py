"""Campaigns, contacts, uploads and do-not-call lists in the database: what the console
and the CLI do to them (the dialer only dials)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from callcontrol.campaigns.contacts import Parsed, normalise, parse_contacts, read_table
from callcontrol.campaigns.rules import DUE, FINAL, IN_FLIGHT, STATUSES
from callcontrol.store.models import Campaign, Contact, ContactEvent, ContactUpload, DoNotCall
from callcontrol.store.repos import Sessions

TRANSITIONS = {
    "start": ({"draft", "paused"}, "running"),
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "stop": ({"draft", "running", "paused"}, "stopped"),
}


class CampaignError(ValueError):
    """A request the campaign cannot take (wrong state, bad file…): says why."""


@dataclass(frozen=True, slots=True)
class UploadResult:
    upload_id: str
    rows: int
    added: int
    merged: int
    failed: int
    errors: list[dict[str, Any]]


def campaign_view(c: Campaign, counts: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "owner": c.owner,
        "status": c.status,
        "caller_id": c.caller_id,
        "dialstring": c.dialstring,
        "region": c.region,
        "timezone": c.timezone,
        "language": c.language,
        "windows": c.windows,
        "holidays": c.holidays,
        "cps": c.cps,
        "max_concurrent": c.max_concurrent,
        "retries": c.retries,
        "ring_s": c.ring_s,
        "priority": c.priority,
        "end_date": c.end_date,
        "flow_id": c.flow_id,
        "counts": counts or {},
        "created_at": c.created_at.isoformat() if c.created_at else None,
    }


def contact_view(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "phone": c.phone,
        "timezone": c.timezone,
        "language": c.language,
        "fields": c.fields,
        "status": c.status,
        "attempts": c.attempts,
        "next_attempt_at": c.next_attempt_at.isoformat() if c.next_attempt_at else None,
        "last_call_id": c.last_call_id,
        "outcome": c.outcome,
    }


class CampaignStore:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> Sessions:
        return self._sessions

    async def create(self, *, created_by: str | None = None, **values: Any) -> Campaign:
        campaign = Campaign(created_by=created_by, **values)
        async with self._sessions() as s:
            s.add(campaign)
            await s.commit()
            await s.refresh(campaign)
        return campaign

    async def get(self, campaign_id: str) -> Campaign:
        async with self._sessions() as s:
            campaign = await s.get(Campaign, campaign_id)
        if campaign is None:
            raise LookupError("no such campaign")
        return campaign

    async def all(self) -> list[Campaign]:
        async with self._sessions() as s:
            rows = await s.execute(select(Campaign).order_by(Campaign.created_at.desc()))
            return list(rows.scalars())

    async def counts(self, campaign_id: str) -> dict[str, int]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(Contact.status, func.count())
                .where(Contact.campaign_id == campaign_id)
                .group_by(Contact.status)
            )
            return {str(k): int(v) for k, v in rows.all()}

    async def change(self, campaign_id: str, action: str) -> Campaign:
        if action not in TRANSITIONS:
            raise CampaignError(f"unknown action {action!r}")
        allowed, status = TRANSITIONS[action]
        campaign = await self.get(campaign_id)
        if campaign.status not in allowed:
            raise CampaignError(f"cannot {action} a campaign that is {campaign.status}")
        async with self._sessions() as s:
            await s.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(status=status, updated_at=datetime.now(UTC))
            )
            await s.commit()
        return await self.get(campaign_id)

    async def upload(
        self, campaign_id: str, data: bytes, filename: str, *, by: str | None = None
    ) -> UploadResult:
        """Import a CSV/XLSX: every row or none (the errors say which row, which column,
        why); a number already in the campaign is merged into its contact."""
        campaign = await self.get(campaign_id)
        try:
            header, rows = read_table(data, filename)
            parsed = parse_contacts(header, rows, campaign.region)
        except ValueError as exc:
            parsed = Parsed([], [], 0, 0)
            error = {"row": 1, "column": "", "reason": str(exc)}
            return await self._record(campaign_id, filename, parsed, [error], 0, 0, by)
        if not parsed.ok:
            errors = [e.as_dict() for e in parsed.errors]
            return await self._record(campaign_id, filename, parsed, errors, 0, 0, by)
        added = merged = 0
        async with self._sessions() as s:
            existing = {
                c.phone: c
                for c in (
                    await s.execute(select(Contact).where(Contact.campaign_id == campaign_id))
                ).scalars()
            }
            for item in parsed.contacts:
                old = existing.get(item.phone)
                if old is not None:
                    merged += 1
                    old.fields = {**old.fields, **item.fields}
                    old.name = item.name or old.name
                    old.timezone = item.timezone or old.timezone
                    old.language = item.language or old.language
                    continue
                added += 1
                s.add(
                    Contact(
                        campaign_id=campaign_id,
                        phone=item.phone,
                        name=item.name,
                        timezone=item.timezone,
                        region=item.region,
                        language=item.language,
                        fields=item.fields,
                    )
                )
            await s.commit()
        return await self._record(
            campaign_id, filename, parsed, [], added, merged + parsed.merged, by
        )

    async def _record(
        self,
        campaign_id: str,
        filename: str,
        parsed: Parsed,
        errors: list[dict[str, Any]],
        added: int,
        merged: int,
        by: str | None,
    ) -> UploadResult:
        upload = ContactUpload(
            campaign_id=campaign_id,
            filename=filename[:255],
            rows_ok=added,
            rows_merged=merged,
            rows_failed=len(errors),
            errors=errors[:500],
            created_by=by,
        )
        async with self._sessions() as s:
            s.add(upload)
            await s.commit()
            await s.refresh(upload)
        return UploadResult(upload.id, parsed.rows, added, merged, len(errors), errors[:500])

    async def contacts(
        self, campaign_id: str, status: str | None = None, limit: int = 500
    ) -> list[Contact]:
        if status and status not in STATUSES:
            raise CampaignError(f"status must be one of {', '.join(STATUSES)}")
        async with self._sessions() as s:
            stmt = (
                select(Contact)
                .where(Contact.campaign_id == campaign_id)
                .order_by(Contact.created_at)
                .limit(limit)
            )
            if status:
                stmt = stmt.where(Contact.status == status)
            return list((await s.execute(stmt)).scalars())

    async def history(self, contact_id: str) -> list[ContactEvent]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(ContactEvent)
                .where(ContactEvent.contact_id == contact_id)
                .order_by(ContactEvent.at)
            )
            return list(rows.scalars())

    async def call_now(self, campaign_id: str, contact_ids: list[str]) -> int:
        """Make contacts due at once (a final one is tried once more)."""
        now = datetime.now(UTC)
        async with self._sessions() as s:
            result = await s.execute(
                update(Contact)
                .where(
                    Contact.campaign_id == campaign_id,
                    Contact.id.in_(contact_ids),
                    Contact.status.not_in([*IN_FLIGHT, "dnc"]),
                )
                .values(status="ready", next_attempt_at=now, updated_at=now)
            )
            await s.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def export_csv(self, campaign_id: str) -> str:
        """Every contact with its status, last attempt, its fields, and what its flow
        decided: ``flow_outcome`` and each stored field as ``flow.<name>``."""
        rows = await self.contacts(campaign_id, limit=1_000_000)
        keys = sorted({k for c in rows for k in c.fields})

        def flow_of(c: Contact) -> dict[str, Any]:
            return dict((c.outcome or {}).get("flow") or {})

        stored = sorted({k for c in rows for k in (flow_of(c).get("fields") or {})})
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "name",
                "phone",
                "status",
                "attempts",
                "last_outcome",
                "last_cause",
                "last_call_id",
                *keys,
                "flow_outcome",
                *[f"flow.{k}" for k in stored],
            ]
        )
        for c in rows:
            flow = flow_of(c)
            fields = flow.get("fields") or {}
            writer.writerow(
                [
                    c.name or "",
                    c.phone,
                    c.status,
                    c.attempts,
                    (c.outcome or {}).get("last", ""),
                    (c.outcome or {}).get("cause", ""),
                    c.last_call_id or "",
                    *[c.fields.get(k, "") for k in keys],
                    flow.get("outcome") or "",
                    *[fields.get(k, "") for k in stored],
                ]
            )
        return out.getvalue()

    # -- do not call ------------------------------------------------------------------
    async def dnc_add(
        self,
        number: str,
        *,
        owner: str = "",
        region: str = "US",
        reason: str | None = None,
        by: str | None = None,
    ) -> str:
        phone = normalise(number, region)
        async with self._sessions() as s:
            found = (
                await s.execute(
                    select(DoNotCall).where(DoNotCall.owner == owner, DoNotCall.phone == phone)
                )
            ).scalar_one_or_none()
            if found is None:
                s.add(DoNotCall(owner=owner, phone=phone, reason=reason, created_by=by))
                await s.commit()
        return phone

    async def dnc_remove(self, number: str, *, owner: str = "", region: str = "US") -> bool:
        phone = normalise(number, region)
        async with self._sessions() as s:
            result = await s.execute(
                delete(DoNotCall).where(DoNotCall.owner == owner, DoNotCall.phone == phone)
            )
            await s.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def dnc_list(self, owner: str | None = None) -> list[DoNotCall]:
        async with self._sessions() as s:
            stmt = select(DoNotCall).order_by(DoNotCall.created_at.desc()).limit(5000)
            if owner is not None:
                stmt = stmt.where(DoNotCall.owner == owner)
            return list((await s.execute(stmt)).scalars())


def settled(counts: dict[str, int]) -> bool:
    """Every contact in a final status."""
    return not any(counts.get(k) for k in (*DUE, *IN_FLIGHT)) and any(counts.get(k) for k in FINAL)
