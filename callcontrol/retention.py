"""Retention: delete each kind of data once it is older than its owner's limit, and erase
one caller's data on request.

:meth:`Retention.purge` goes owner by owner (``retention.*`` days, each may differ per
owner through the console) and deletes, for calls that are not on hold (``calls.keep``
or ``recordings.keep``): recordings (the files and folder; the row stays, ``deleted``),
transcript segments with the summary, action items and pending proposals, the bot's
turns, call events, closed HITL requests (and their voicemail), and finally CDRs with
the call and leg rows. Every run logs and returns what it deleted.

:meth:`Retention.erase_number` is the data-protection request: for every call from or to
one number — unless on hold — recordings, transcripts, turns, summaries, voicemails and
HITL texts are deleted and the number is removed from the CDR, call and leg rows; what
remains (a call happened, when, how long, its outcome) is anonymous and still counts in
the figures.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import delete, or_, select, update

from callcontrol.aio import TaskOwner
from callcontrol.config import RetentionSettings, Settings
from callcontrol.store.models import (
    ActionItem,
    AuditEntry,
    Call,
    CallEvent,
    CallSummary,
    Cdr,
    HitlRequest,
    KnowledgeProposal,
    Leg,
    Recording,
    TranscriptSegment,
    Turn,
    WebhookDelivery,
)
from callcontrol.store.repos import OPEN_FOLLOWUPS, Sessions

log = structlog.get_logger(__name__)

ERASED = "erased"


@dataclass(slots=True)
class Purged:
    counts: dict[str, int] = field(default_factory=dict)
    kept: int = 0  # calls past a limit but on hold

    def add(self, kind: str, n: int) -> None:
        if n:
            self.counts[kind] = self.counts.get(kind, 0) + n


class Retention:
    def __init__(
        self,
        settings: Settings,
        sessions: Sessions,
        *,
        per_owner: Callable[[str | None], RetentionSettings] | None = None,
        voicemail_dir: Path | None = None,
        lease: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._per_owner = per_owner or (lambda _owner: settings.retention)
        self._voicemail_dir = voicemail_dir
        # Several workers share a database: the one that holds the lease purges.
        self._lease = lease
        self._tasks = TaskOwner("retention")
        self.last: Purged | None = None

    # -- the periodic purge -----------------------------------------------------------
    def start(self) -> None:
        if self.settings.retention.purge_interval_s > 0:
            self._tasks.spawn(self._forever(), "purge")

    async def stop(self) -> None:
        await self._tasks.aclose()

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention.purge_interval_s)
            try:
                if self._lease is None or await self._lease():
                    await self.purge()
            except Exception as exc:  # noqa: BLE001 - the next run tries again
                log.warning("retention purge failed", error=str(exc))

    async def purge(self, now: datetime | None = None) -> Purged:
        now = now or datetime.now(UTC)
        result = Purged()
        async with self._sessions() as s:
            owners = [row[0] for row in (await s.execute(select(Call.owner).distinct())).all()]
        for owner in owners:
            await self._purge_owner(owner, self._per_owner(owner), now, result)
        self.last = result
        log.info("retention purge", deleted=result.counts, on_hold=result.kept)
        return result

    def _calls(self, owner: str | None, before: datetime) -> Any:
        """Ids of ``owner``'s calls started before ``before`` and not on hold."""
        held = select(Recording.call_id).where(Recording.keep.is_(True))
        owned = Call.owner.is_(None) if owner is None else Call.owner == owner
        return select(Call.id).where(
            owned, Call.created_at < before, Call.keep.is_(False), Call.id.not_in(held)
        )

    async def _purge_owner(
        self, owner: str | None, limits: RetentionSettings, now: datetime, result: Purged
    ) -> None:
        def cutoff(days: int) -> datetime:
            return now - timedelta(days=days)

        async with self._sessions() as s:
            # Recordings: files first, then the row says so.
            old = self._calls(owner, cutoff(limits.recordings_days))
            recs = list(
                (
                    await s.execute(
                        select(Recording).where(
                            Recording.call_id.in_(old), Recording.status != "deleted"
                        )
                    )
                ).scalars()
            )
            for rec in recs:
                await asyncio.to_thread(self._remove_recording, rec.directory)
                rec.status, rec.mixed_file, rec.sha256 = "deleted", None, None
            result.add("recordings", len(recs))
            old = self._calls(owner, cutoff(limits.transcripts_days))
            for kind, model in (
                ("transcript_segments", TranscriptSegment),
                ("summaries", CallSummary),
                ("action_items", ActionItem),
            ):
                done = await s.execute(delete(model).where(model.call_id.in_(old)))
                result.add(kind, done.rowcount)  # type: ignore[attr-defined]
            done = await s.execute(
                delete(KnowledgeProposal).where(
                    KnowledgeProposal.call_id.in_(old), KnowledgeProposal.status == "pending"
                )
            )
            result.add("proposals", done.rowcount)  # type: ignore[attr-defined]
            old = self._calls(owner, cutoff(limits.turns_days))
            done = await s.execute(delete(Turn).where(Turn.call_id.in_(old)))
            result.add("turns", done.rowcount)  # type: ignore[attr-defined]
            old = self._calls(owner, cutoff(limits.events_days))
            done = await s.execute(delete(CallEvent).where(CallEvent.call_id.in_(old)))
            result.add("call_events", done.rowcount)  # type: ignore[attr-defined]
            old = self._calls(owner, cutoff(limits.hitl_days))
            closed = list(
                (
                    await s.execute(
                        select(HitlRequest).where(
                            HitlRequest.call_id.in_(old),
                            HitlRequest.status.not_in([*OPEN_FOLLOWUPS, "waiting"]),
                        )
                    )
                ).scalars()
            )
            for row in closed:
                self._remove_voicemail(row.voicemail_path)
                await s.delete(row)
            result.add("hitl_requests", len(closed))
            old_ids = list(
                (await s.execute(self._calls(owner, cutoff(limits.cdrs_days)))).scalars()
            )
            if old_ids:
                done = await s.execute(delete(Cdr).where(Cdr.call_id.in_(old_ids)))
                result.add("cdrs", done.rowcount)  # type: ignore[attr-defined]
                done = await s.execute(delete(Leg).where(Leg.call_id.in_(old_ids)))
                result.add("legs", done.rowcount)  # type: ignore[attr-defined]
                done = await s.execute(
                    delete(WebhookDelivery).where(WebhookDelivery.call_id.in_(old_ids))
                )
                result.add("webhook_deliveries", done.rowcount)  # type: ignore[attr-defined]
                done = await s.execute(delete(Call).where(Call.id.in_(old_ids)))
                result.add("calls", done.rowcount)  # type: ignore[attr-defined]
            oldest = cutoff(min(limits.recordings_days, limits.cdrs_days))
            owned = Call.owner.is_(None) if owner is None else Call.owner == owner
            held = (
                await s.execute(
                    select(Call.id).where(owned, Call.created_at < oldest, Call.keep.is_(True))
                )
            ).all()
            result.kept += len(held)
            await s.commit()

    def _remove_recording(self, directory: str) -> None:
        root = self.settings.calls.recordings_dir
        if root is None:
            return
        base = Path(root).resolve()
        folder = (base / directory).resolve()
        if folder == base or base not in folder.parents:
            log.warning("not deleting a recording outside the recordings dir", path=str(folder))
            return
        shutil.rmtree(folder, ignore_errors=True)

    def _remove_voicemail(self, relative: str | None) -> None:
        if not relative or self._voicemail_dir is None:
            return
        base = self._voicemail_dir.resolve()
        path = (base / relative).resolve()
        if base in path.parents:
            path.unlink(missing_ok=True)

    # -- erasure ----------------------------------------------------------------------
    async def erase_number(self, number: str, *, by: str | None = None) -> dict[str, Any]:
        """Erase what is personal in every call from or to ``number``."""
        number = number.strip()
        if len(number) < 3:
            raise ValueError("give the whole number to erase")
        async with self._sessions() as s:
            ids = set(
                (
                    await s.execute(
                        select(Call.id).where(
                            or_(Call.caller_number == number, Call.callee_number == number)
                        )
                    )
                ).scalars()
            )
            ids |= set(
                (
                    await s.execute(
                        select(Cdr.call_id).where(or_(Cdr.caller == number, Cdr.callee == number))
                    )
                ).scalars()
            )
            held = set(
                (
                    await s.execute(select(Call.id).where(Call.id.in_(ids), Call.keep.is_(True)))
                ).scalars()
            ) | set(
                (
                    await s.execute(
                        select(Recording.call_id).where(
                            Recording.call_id.in_(ids), Recording.keep.is_(True)
                        )
                    )
                ).scalars()
            )
            erase = sorted(ids - held)
            recs = list(
                (await s.execute(select(Recording).where(Recording.call_id.in_(erase)))).scalars()
            )
            for rec in recs:
                await asyncio.to_thread(self._remove_recording, rec.directory)
                rec.status, rec.mixed_file, rec.sha256 = "deleted", None, None
            for row in (
                await s.execute(select(HitlRequest).where(HitlRequest.call_id.in_(erase)))
            ).scalars():
                self._remove_voicemail(row.voicemail_path)
                row.question, row.answer, row.notes = ERASED, None, None
                row.caller_number, row.followup_phone = None, None
                row.voicemail_path, row.voicemail_transcript = None, None
                row.context = {}
            for model in (TranscriptSegment, CallSummary, ActionItem, Turn, CallEvent):
                await s.execute(delete(model).where(model.call_id.in_(erase)))
            await s.execute(
                delete(KnowledgeProposal).where(
                    KnowledgeProposal.call_id.in_(erase), KnowledgeProposal.status == "pending"
                )
            )
            await s.execute(delete(WebhookDelivery).where(WebhookDelivery.call_id.in_(erase)))
            await s.execute(
                update(Call)
                .where(Call.id.in_(erase))
                .values(caller_number=None, caller_name=None, callee_number=None)
            )
            await s.execute(
                update(Cdr).where(Cdr.call_id.in_(erase)).values(caller=None, callee=None)
            )
            await s.execute(update(Leg).where(Leg.call_id.in_(erase)).values(number=None))
            digest = hashlib.sha256(number.encode()).hexdigest()[:16]
            s.add(
                AuditEntry(
                    username=by,
                    action="erase_number",
                    detail={"number_sha256": digest, "calls": len(erase), "on_hold": len(held)},
                )
            )
            await s.commit()
        log.info("caller data erased", calls=len(erase), on_hold=len(held), by=by)
        return {"calls": len(erase), "on_hold": sorted(held), "recordings": len(recs)}
