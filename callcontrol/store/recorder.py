"""Call records into the durable writer (database) and CDRs into JSON Lines too."""

from __future__ import annotations

from typing import Any

from callcontrol.calls.cdr import CdrRecord
from callcontrol.calls.model import Call, Leg, TimelineEntry
from callcontrol.store.cdr_log import CdrLog
from callcontrol.store.models import new_id
from callcontrol.store.writer import Write, WriteSink


class StoreRecorder:
    """Implements :class:`callcontrol.calls.base.CallRecorder` on the durable writer."""

    def __init__(self, writer: WriteSink, cdr_log: CdrLog | None) -> None:
        self._writer = writer
        self._cdr_log = cdr_log

    def call(self, call: Call) -> None:
        self._writer.submit(
            Write.upsert(
                "calls",
                id=call.id,
                direction=call.direction,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                callee_number=call.callee_number,
                owner=call.owner,
                state=call.state.value,
                handled_by=call.handled_by,
                worker_id=call.worker_id,
                language=call.language,
                created_at=call.created_at,
                answered_at=call.answered_at,
                ended_at=call.ended_at,
                hangup_cause=call.hangup_cause,
                recording_path=call.recording_path,
            )
        )

    def leg(self, call: Call, leg: Leg) -> None:
        self._writer.submit(
            Write.upsert(
                "legs",
                id=leg.id,
                call_id=call.id,
                role=leg.role,
                direction=leg.direction,
                channel_name=leg.channel_name,
                number=leg.number,
                state=leg.state.value,
                created_at=leg.created_at,
                answered_at=leg.answered_at,
                ended_at=leg.ended_at,
                hangup_cause=leg.hangup_cause,
            )
        )

    def event(self, call: Call, entry: TimelineEntry) -> None:
        self._writer.submit(
            Write.insert(
                "call_events",
                id=new_id(),
                call_id=call.id,
                leg_id=entry.leg_id,
                name=entry.name,
                at=entry.at,
                data=entry.data,
            )
        )

    def cdr(self, record: CdrRecord) -> None:
        """The JSON line is the durable step: the database row is queued once the line
        is on disk (``cdr_row``, CdrLog's ``on_written``), and at start-up any line
        without a row is written again (``store/recovery.py``)."""
        row = record.as_json()
        if self._cdr_log is None:
            self.cdr_row(row)
        else:
            self._cdr_log.append(row)

    def cdr_row(self, row: dict[str, Any]) -> None:
        self._writer.submit(Write.insert("cdrs", id=row["call_id"], **row))
