"""What a call left: its summary, action items (with their status) and the knowledge it
proposes — each citing the transcript segment it comes from; the proposals queue where
operators approve (into the owner's knowledge), edit or reject them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.render import render
from callcontrol.errors import CallControlError
from callcontrol.esl.commands import CALL_ID_PATTERN
from callcontrol.postcall.worker import KIND
from callcontrol.recording.jobs import job_view
from callcontrol.store.models import ActionItem, CallSummary, KnowledgeProposal

log = structlog.get_logger(__name__)
router = APIRouter()

CallId = Annotated[str, PathParam(max_length=64, pattern=CALL_ID_PATTERN)]
DEFAULT_OWNER = "default"


class ActionBody(BaseModel):
    status: Literal["TODO", "IN_PROGRESS", "DONE"]


class ApproveBody(BaseModel):
    text: str | None = Field(None, min_length=3, max_length=4000)
    title: str | None = Field(None, max_length=200)


def action_view(a: ActionItem) -> dict[str, Any]:
    return {
        "id": a.id,
        "call_id": a.call_id,
        "title": a.title,
        "assignee": a.assignee,
        "due_date": a.due_date,
        "status": a.status,
        "segment_id": a.segment_id,
        "evidence": a.evidence,
    }


def proposal_view(p: KnowledgeProposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "call_id": p.call_id,
        "owner": p.owner,
        "text": p.text,
        "category": p.category,
        "keywords": p.keywords,
        "confidence": p.confidence,
        "segment_id": p.segment_id,
        "evidence": p.evidence,
        "status": p.status,
        "decided_by": p.decided_by,
        "decided_at": p.decided_at.isoformat() if p.decided_at else None,
        "kb_doc_id": p.kb_doc_id,
        "created_at": p.created_at.isoformat() if p.created_at else None,
    }


@router.get("/api/calls/{call_id}/postcall")
async def postcall(call_id: CallId, console: ConsoleDep) -> dict[str, Any]:
    async with console.service.sessions() as s:
        summary = await s.get(CallSummary, call_id)
        actions = list(
            (
                await s.execute(
                    select(ActionItem)
                    .where(ActionItem.call_id == call_id)
                    .order_by(ActionItem.created_at)
                )
            ).scalars()
        )
        proposals = list(
            (
                await s.execute(
                    select(KnowledgeProposal)
                    .where(KnowledgeProposal.call_id == call_id)
                    .order_by(KnowledgeProposal.created_at)
                )
            ).scalars()
        )
    job = await console.service.jobs.get(KIND, call_id)
    return {
        "summary": summary.summary if summary else None,
        "sources": summary.sources if summary else [],
        "action_items": [action_view(a) for a in actions],
        "proposals": [proposal_view(p) for p in proposals],
        "job": job_view(job) if job is not None else None,
    }


@router.put("/api/action-items/{item_id}")
async def set_action_status(
    item_id: str, body: ActionBody, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    async with console.service.sessions() as s:
        item = await s.get(ActionItem, item_id[:64])
        if item is None:
            raise HTTPException(404, "no such action item")
        item.status = body.status
        await s.commit()
        await s.refresh(item)
    log.info("action item", item=item_id, status=body.status, by=user.username)
    return action_view(item)


@router.get("/knowledge/proposals", response_class=HTMLResponse)
async def proposals_page(request: Request, user: CurrentUser, console: ConsoleDep) -> HTMLResponse:
    return render(
        request,
        console,
        "proposals.html",
        user,
        nav="kb",
        proposals=[proposal_view(p) for p in await _proposals(console, "pending")],
    )


async def _proposals(console: ConsoleDep, status: str | None) -> list[KnowledgeProposal]:
    async with console.service.sessions() as s:
        stmt = select(KnowledgeProposal).order_by(KnowledgeProposal.created_at.desc()).limit(500)
        if status:
            stmt = stmt.where(KnowledgeProposal.status == status)
        return list((await s.execute(stmt)).scalars())


@router.get("/api/proposals")
async def list_proposals(
    console: ConsoleDep,
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = "pending",
) -> list[dict[str, Any]]:
    return [proposal_view(p) for p in await _proposals(console, status)]


async def _decide(console: ConsoleDep, proposal_id: str, user: CurrentUser) -> KnowledgeProposal:
    async with console.service.sessions() as s:
        proposal = await s.get(KnowledgeProposal, proposal_id[:64])
    if proposal is None:
        raise HTTPException(404, "no such proposal")
    if proposal.status != "pending":
        raise HTTPException(409, f"already {proposal.status} by {proposal.decided_by}")
    return proposal


@router.post("/api/proposals/{proposal_id}/approve")
async def approve(
    proposal_id: str, body: ApproveBody, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    """Into the owner's knowledge (as the operator edited it), with its source call."""
    proposal = await _decide(console, proposal_id, user)
    kb = console.kb
    if kb is None:
        raise HTTPException(503, "the knowledge base is not loaded")
    text = (body.text or proposal.text).strip()
    title = (body.title or text).strip()[:120]
    try:
        doc = await kb.add(
            proposal.owner or DEFAULT_OWNER, title, text, source=f"call:{proposal.call_id}"
        )
    except (CallControlError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    async with console.service.sessions() as s:
        row = await s.get(KnowledgeProposal, proposal.id)
        assert row is not None
        row.status, row.text, row.kb_doc_id = "approved", text, doc.id
        row.decided_by, row.decided_at = user.username, datetime.now(UTC)
        await s.commit()
        await s.refresh(row)
    log.info("knowledge proposal approved", proposal=proposal.id, doc=doc.id, by=user.username)
    return proposal_view(row)


@router.post("/api/proposals/{proposal_id}/reject")
async def reject(proposal_id: str, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    proposal = await _decide(console, proposal_id, user)
    async with console.service.sessions() as s:
        row = await s.get(KnowledgeProposal, proposal.id)
        assert row is not None
        row.status, row.decided_by, row.decided_at = "rejected", user.username, datetime.now(UTC)
        await s.commit()
        await s.refresh(row)
    log.info("knowledge proposal rejected", proposal=proposal.id, by=user.username)
    return proposal_view(row)
