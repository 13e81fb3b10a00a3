"""Rows as plain JSON-able dicts for templates (``|tojson``) and API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callcontrol.pipeline.base import DocumentInfo, Passage
from callcontrol.store.models import Call, CallEvent, Cdr, HitlRequest, Leg, Operator, Turn
from callcontrol.store.repos import aware


def iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value is not None else None


def turn_view(t: Turn) -> dict[str, Any]:
    return {
        "seq": t.seq,
        "speaker": t.speaker,
        "text": t.text,
        "language": t.language,
        "interrupted": t.interrupted,
        "started_at": iso(t.started_at),
        "timings": t.timings or {},
        "retrieval": t.retrieval or [],
        "voice_to_voice_ms": t.voice_to_voice_ms,
    }


def event_view(e: CallEvent) -> dict[str, Any]:
    return {"name": e.name, "at": iso(e.at), "leg": e.leg_id, "data": e.data or {}}


def leg_view(leg: Leg) -> dict[str, Any]:
    return {
        "id": leg.id,
        "role": leg.role,
        "number": leg.number,
        "state": leg.state,
        "created_at": iso(leg.created_at),
        "answered_at": iso(leg.answered_at),
        "ended_at": iso(leg.ended_at),
        "hangup_cause": leg.hangup_cause,
    }


def cdr_view(c: Cdr) -> dict[str, Any]:
    return {
        "call_id": c.call_id,
        "caller": c.caller,
        "callee": c.callee,
        "direction": c.direction,
        "owner": c.owner,
        "start_at": iso(c.start_at),
        "answer_at": iso(c.answer_at),
        "end_at": iso(c.end_at),
        "duration_s": c.duration_s,
        "billsec_s": c.billsec_s,
        "hangup_cause": c.hangup_cause,
        "handled_by": c.handled_by,
        "outcome": c.outcome,
        "worker_id": c.worker_id,
        "has_recording": bool(c.recording_path),
    }


def call_view(c: Call) -> dict[str, Any]:
    return {
        "id": c.id,
        "direction": c.direction,
        "caller": c.caller_number,
        "caller_name": c.caller_name,
        "callee": c.callee_number,
        "owner": c.owner,
        "state": c.state,
        "handled_by": c.handled_by,
        "worker": c.worker_id,
        "created_at": iso(c.created_at),
        "answered_at": iso(c.answered_at),
        "ended_at": iso(c.ended_at),
        "hangup_cause": c.hangup_cause,
    }


def hitl_view(h: HitlRequest) -> dict[str, Any]:
    return {
        "id": h.id,
        "call_id": h.call_id,
        "owner": h.owner,
        "caller_number": h.caller_number,
        "reason": h.reason,
        "question": h.question,
        "context": h.context or {},
        "status": h.status,
        "outcome": h.outcome,
        "operator_id": h.operator_id,
        "answer": h.answer,
        "notes": h.notes,
        "followup_by": h.followup_by,
        "noted_by": h.noted_by,
        "noted_at": iso(h.noted_at),
        "resolved_by": h.resolved_by,
        "resolved_at": iso(h.resolved_at),
        "followup_required": h.followup_required if h.followup_required is not None else True,
        # where a call back goes: the number an operator set, else the caller's
        "followup_phone": h.followup_phone or h.caller_number,
        "callbacks": list(h.callbacks or []),
        "kb_doc_id": h.kb_doc_id,
        "voicemail": bool(h.voicemail_path),
        "voicemail_transcript": h.voicemail_transcript,
        "created_at": iso(h.created_at),
        "answered_at": iso(h.answered_at),
        "updated_at": iso(h.updated_at),
    }


def operator_row(o: Operator) -> dict[str, Any]:
    return {
        "id": o.id,
        "username": o.username,
        "role": o.role,
        "status": o.status,
        "extension": o.extension,
        "created_at": iso(o.created_at),
        "last_seen_at": iso(o.last_seen_at),
    }


def document_view(d: DocumentInfo, *, with_text: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id,
        "owner": d.owner,
        "title": d.title,
        "source": d.source,
        "chunk_count": d.chunk_count,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "chars": len(d.text),
    }
    if with_text:
        out["text"] = d.text
    return out


def passage_view(p: Passage, min_score: float) -> dict[str, Any]:
    return {
        "doc_id": p.doc_id,
        "title": p.title,
        "chunk": p.chunk,
        "text": p.text,
        "context": p.context,
        "score": round(p.score, 4),
        "dense": p.dense,
        "coverage": p.coverage,
        "confident": p.score >= min_score,
    }
