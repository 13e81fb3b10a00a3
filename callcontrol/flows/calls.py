"""Which flow a call plays, with whose fields, and where its results go.

A campaign's attempt (``callcontrol_campaign``/``callcontrol_contact`` on the call) plays
its campaign's flow with the contact's fields, in the contact's language (else the
campaign's, else the flow's). An inbound number plays the flow its dialplan names
(``callcontrol_flow``), the owner's own before a shared one. What the flow decides
(outcome, stored fields, the nodes it passed) is kept on the contact as it happens —
``contact.outcome["flow"]`` — and "don't call me again" puts the number on the owner's
do-not-call list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import update

from callcontrol.aio import TaskOwner
from callcontrol.calls.model import Call
from callcontrol.campaigns.store import CampaignStore
from callcontrol.flows.engine import End, FlowRun, FlowState, Step, TransferTo
from callcontrol.flows.model import Flow, FlowError
from callcontrol.flows.store import FlowStore
from callcontrol.store.models import Campaign, Contact
from callcontrol.store.repos import Sessions

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class FlowPlan:
    flow: Flow
    language: str
    values: dict[str, Any]
    owner: str | None
    contact_id: str | None = None
    campaign_id: str | None = None
    phone: str | None = None

    def run(self) -> FlowRun:
        return FlowRun(self.flow, self.language, self.values)


class FlowCalls:
    def __init__(self, sessions: Sessions, flows: FlowStore, campaigns: CampaignStore) -> None:
        self._sessions = sessions
        self.flows = flows
        self._campaigns = campaigns
        self._tasks = TaskOwner("flow-results")
        self._locks: dict[str, asyncio.Lock] = {}

    async def plan(self, call: Call) -> FlowPlan | None:
        """The flow ``call`` plays, or None (question answering)."""
        try:
            if call.contact:
                return await self._campaign_plan(call)
            if call.flow:
                row = await self.flows.find(call.flow, call.owner)
                if row is None:
                    log.warning("the dialplan names a flow that does not exist", flow=call.flow)
                    return None
                flow = self.flows.load(row)
                values = {"phone": call.caller_number or "", "name": call.caller_name or ""}
                return FlowPlan(flow, call.language or flow.language, values, call.owner)
        except FlowError as exc:
            log.error(
                "a stored flow no longer validates; answering questions instead", error=str(exc)
            )
        return None

    async def _campaign_plan(self, call: Call) -> FlowPlan | None:
        async with self._sessions() as s:
            contact = await s.get(Contact, call.contact)
            campaign = await s.get(Campaign, contact.campaign_id) if contact else None
        if contact is None or campaign is None or not campaign.flow_id:
            return None
        flow = self.flows.load(await self.flows.get(campaign.flow_id))
        values: dict[str, Any] = {**(contact.fields or {})}
        values.setdefault("name", contact.name or "")
        values.setdefault("phone", contact.phone)
        language = contact.language or campaign.language or flow.language
        return FlowPlan(
            flow,
            language,
            values,
            campaign.owner,
            contact_id=contact.id,
            campaign_id=campaign.id,
            phone=contact.phone,
        )

    def recorder(self, plan: FlowPlan, call_id: str) -> Callable[[FlowState, Step], None]:
        """What the policy tells of every committed state: kept on the contact."""
        if plan.contact_id is None:
            return lambda state, step: None
        contact_id = plan.contact_id
        version = 0

        def changed(state: FlowState, step: Step) -> None:
            nonlocal version
            version += 1
            result = {
                "flow": plan.flow.name,
                "outcome": state.outcome,
                "fields": dict(state.fields),
                "path": list(state.path),
                "call_id": call_id,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "version": version,
            }
            transfer = isinstance(step.end, TransferTo)
            dnc = isinstance(step.end, End) and step.end.outcome == "dnc"
            self._tasks.spawn(
                self._save(plan, contact_id, result, transfer=transfer, dnc=dnc),
                f"flow-result-{contact_id}",
            )

        return changed

    async def _save(
        self,
        plan: FlowPlan,
        contact_id: str,
        result: dict[str, Any],
        *,
        transfer: bool,
        dnc: bool,
    ) -> None:
        async with self._locks.setdefault(contact_id, asyncio.Lock()):
            try:
                async with self._sessions() as s:
                    contact = await s.get(Contact, contact_id)
                    if contact is None:
                        return
                    outcome = dict(contact.outcome or {})
                    kept = outcome.get("flow") or {}
                    if (
                        int(kept.get("version", 0)) >= result["version"]
                        and kept.get("call_id") == result["call_id"]
                    ):
                        return  # a newer state of this call is stored already
                    outcome["flow"] = result
                    values: dict[str, Any] = {"outcome": outcome}
                    if transfer and contact.status == "in_progress":
                        values["status"] = "agent_transfer"
                    await s.execute(
                        update(Contact).where(Contact.id == contact_id).values(**values)
                    )
                    await s.commit()
                if dnc and plan.phone:
                    await self._campaigns.dnc_add(
                        plan.phone, owner=plan.owner or "", reason="said so during a call"
                    )
                    log.info("number added to do-not-call, as the callee asked", contact=contact_id)
            except Exception:
                log.exception("cannot keep a flow's result", contact=contact_id)

    async def aclose(self) -> None:
        await self._tasks.aclose()
