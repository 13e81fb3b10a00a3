"""After a crash: every call gets exactly one CDR.

Call state lives in memory while a call is up; a worker killed with calls in progress
left their ``calls`` rows open forever and wrote no CDR, and a kill right after a
hangup lost CDRs still queued for the database. Two repairs run at start-up:

* :func:`restore_cdr_rows` — the CDR JSON line is the durable step (written and
  fsync'ed before the database row is queued, see ``store/recorder.py``): every line of
  the last days whose row is missing is inserted again.
* :func:`close_orphan_calls` — once FreeSWITCH's channels are known (the first
  reconciliation after connecting), every call row still open from before this start
  whose channel is gone is closed, with a CDR saying ``WORKER_RESTART`` and an end time
  taken from its last recorded event. Calls still up were adopted by the reconciliation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcontrol.calls.cdr import CdrRecord, outcome_for
from callcontrol.store.models import Call, CallEvent, Cdr
from callcontrol.store.writer import Write, WriteSink

log = structlog.get_logger(__name__)

RESTART_CAUSE = "WORKER_RESTART"
Sessions = Callable[[], AsyncSession]


def _lines(paths: Iterable[Path]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in paths:
        try:
            text = path.read_text("utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by the crash itself
            if isinstance(record, dict) and isinstance(record.get("call_id"), str):
                records.append(record)
    return records


async def restore_cdr_rows(
    sessions: Sessions, cdr_dir: Path, writer: WriteSink, *, days: int = 2
) -> int:
    """Insert the CDRs of the last ``days`` JSON-line files that have no row."""
    today = datetime.now(UTC).date()
    paths = [cdr_dir / f"cdr-{today - timedelta(days=d):%Y-%m-%d}.jsonl" for d in range(days)]
    records = {r["call_id"]: r for r in _lines(p for p in paths if p.exists())}
    if not records:
        return 0
    async with sessions() as db:
        have = set(
            (await db.execute(select(Cdr.call_id).where(Cdr.call_id.in_(list(records)))))
            .scalars()
            .all()
        )
    missing = [r for call_id, r in records.items() if call_id not in have]
    for record in missing:
        writer.submit(Write.insert("cdrs", id=record["call_id"], **record))
    if missing:
        log.warning("restored CDR rows from the JSON lines after a crash", count=len(missing))
    return len(missing)


async def close_orphan_calls(
    sessions: Sessions,
    live: frozenset[str],
    started_at: datetime,
    record_cdr: Callable[[CdrRecord], None],
    writer: WriteSink,
    worker_id: str,
) -> int:
    """Close the calls left open by a crash (see the module docstring)."""
    async with sessions() as db:
        rows = (
            (
                await db.execute(
                    select(Call).where(Call.ended_at.is_(None), Call.created_at < started_at)
                )
            )
            .scalars()
            .all()
        )
        orphans = [row for row in rows if row.id not in live]
        if not orphans:
            return 0
        ids = [row.id for row in orphans]
        last_events = dict(
            (
                await db.execute(
                    select(CallEvent.call_id, func.max(CallEvent.at))
                    .where(CallEvent.call_id.in_(ids))
                    .group_by(CallEvent.call_id)
                )
            ).all()
        )
        with_cdr = set(
            (await db.execute(select(Cdr.call_id).where(Cdr.call_id.in_(ids)))).scalars().all()
        )
    for row in orphans:
        end = _aware(last_events.get(row.id)) or _aware(row.answered_at) or _aware(row.created_at)
        assert end is not None
        start = _aware(row.created_at) or end
        answered = _aware(row.answered_at)
        writer.submit(
            Write.upsert(
                "calls",
                id=row.id,
                direction=row.direction,
                caller_number=row.caller_number,
                caller_name=row.caller_name,
                callee_number=row.callee_number,
                owner=row.owner,
                state="ended",
                handled_by=row.handled_by,
                worker_id=row.worker_id,
                language=row.language,
                created_at=start,
                answered_at=answered,
                ended_at=end,
                hangup_cause=RESTART_CAUSE,
                recording_path=row.recording_path,
            )
        )
        if row.id in with_cdr:
            continue
        record_cdr(
            CdrRecord(
                call_id=row.id,
                caller=row.caller_number,
                callee=row.callee_number,
                direction=row.direction,
                owner=row.owner,
                start_at=start,
                answer_at=answered,
                end_at=end,
                duration_s=max(0, int((end - start).total_seconds())),
                billsec_s=max(0, int((end - answered).total_seconds())) if answered else 0,
                hangup_cause=RESTART_CAUSE,
                handled_by=row.handled_by,
                outcome=outcome_for(answered is not None, RESTART_CAUSE, row.handled_by),
                recording_path=row.recording_path,
                worker_id=worker_id,
            )
        )
    log.warning(
        "closed calls a crash left open (their channels are gone)",
        count=len(orphans),
        cause=RESTART_CAUSE,
    )
    return len(orphans)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
