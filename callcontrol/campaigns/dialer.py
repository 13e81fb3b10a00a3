"""The campaign dialer: one per cluster, dialling due contacts of running campaigns within
their windows, pacing and concurrency, and recording every status a contact goes through.

**One dialer**: the worker holding the live-state lease ``campaign-dialer`` (Redis with
several workers; renewed every tick, taken over by another worker within
``lease_ttl_s`` when its holder dies) dials. **No double dial**: a contact is taken with a
conditional UPDATE (``status in (ready, retry_scheduled)`` → ``dialing``), so even two
dialers that both believed they led could not call one contact twice. A new leader first
settles contacts a dead one left in flight (from their call's CDR, or retried).

Each attempt is an ``originate`` to the campaign's dial string with the bot answering
(``callcontrol_campaign`` / ``callcontrol_contact`` variables on the call): answered →
``in_progress`` until the call ends → ``completed``; otherwise the cause says busy, no
answer or failed, and the campaign's retry rules say when to try again or that the
contact is done (rules.py).
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, or_, select, update

from callcontrol.aio import TaskOwner
from callcontrol.campaigns.contacts import number_timezone
from callcontrol.campaigns.rules import (
    DUE,
    FINAL,
    IN_FLIGHT,
    Pacer,
    after_attempt,
    in_window,
    outcome_of,
    past_end,
)
from callcontrol.errors import CallCommandError, CallControlError, EslError
from callcontrol.store.models import Campaign, Cdr, Contact, ContactEvent, DoNotCall
from callcontrol.store.repos import Sessions

if TYPE_CHECKING:
    from callcontrol.calls.controller import CallController
    from callcontrol.live.base import LiveState

log = structlog.get_logger(__name__)

LEASE = "campaign-dialer"


class Dialer:
    def __init__(
        self,
        sessions: Sessions,
        controller: CallController,
        live: LiveState,
        worker_id: str,
        *,
        tick_s: float = 0.2,
        lease_ttl_s: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._controller = controller
        self._live = live
        self.worker_id = worker_id
        self.tick_s = tick_s
        self.lease_ttl_s = lease_ttl_s
        self._tasks = TaskOwner("dialer")
        self._attempts = TaskOwner("dial-attempts")
        self._pacers: dict[str, Pacer] = {}
        self._wake = asyncio.Event()
        self.leading = False
        self.dialled: list[tuple[float, str]] = []  # (monotonic time, contact id): figures

    def start(self) -> None:
        self._tasks.spawn(self._forever(), "loop")

    async def stop(self) -> None:
        await self._tasks.aclose()
        await self._attempts.aclose()

    def wake(self) -> None:
        self._wake.set()

    async def _forever(self) -> None:
        while True:
            try:
                leading = await self._live.claim(LEASE, self.worker_id, self.lease_ttl_s)
                if leading and not self.leading:
                    log.info("campaign dialer: this worker leads", worker=self.worker_id)
                    await self.settle_orphans()
                self.leading = leading
                if leading:
                    await self.tick()
            except Exception as exc:  # noqa: BLE001 - the database or Redis may be away
                log.warning("campaign dialer step failed", error=str(exc))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.tick_s)
            except TimeoutError:
                pass

    # -- one step ---------------------------------------------------------------------
    async def tick(self, now: datetime | None = None) -> int:
        """Dial what is due now; returns how many attempts started."""
        now = now or datetime.now(UTC)
        started = 0
        async with self._sessions() as s:
            campaigns = list(
                (
                    await s.execute(
                        select(Campaign)
                        .where(Campaign.status == "running")
                        .order_by(Campaign.priority.desc(), Campaign.created_at)
                    )
                ).scalars()
            )
        for campaign in campaigns:
            started += await self._campaign_tick(campaign, now)
        return started

    async def _campaign_tick(self, campaign: Campaign, now: datetime) -> int:
        if past_end(now.date(), campaign.end_date):
            await self._set_campaign(campaign.id, "finished")
            return 0
        async with self._sessions() as s:
            counts = dict(
                (
                    await s.execute(
                        select(Contact.status, func.count())
                        .where(Contact.campaign_id == campaign.id)
                        .group_by(Contact.status)
                    )
                ).all()
            )
        in_flight = sum(int(counts.get(k, 0)) for k in IN_FLIGHT)
        if not any(int(counts.get(k, 0)) for k in (*DUE, *IN_FLIGHT)):
            await self._set_campaign(campaign.id, "finished")
            log.info("campaign finished", campaign=campaign.id, counts=counts)
            return 0
        free = max(0, campaign.max_concurrent - in_flight)
        if not free:
            return 0
        async with self._sessions() as s:
            due = list(
                (
                    await s.execute(
                        select(Contact)
                        .where(
                            Contact.campaign_id == campaign.id,
                            Contact.status.in_(list(DUE)),
                            Contact.next_attempt_at <= now,
                        )
                        .order_by(Contact.next_attempt_at, Contact.created_at)
                        .limit(free * 4)
                    )
                ).scalars()
            )
        pacer = self._pacers.setdefault(campaign.id, Pacer(campaign.cps))
        pacer.rate = campaign.cps
        started = 0
        for contact in due:
            if started >= free:
                break
            tz = contact.timezone or number_timezone(contact.phone) or campaign.timezone
            if not in_window(now, tz, campaign.windows, campaign.holidays):
                continue
            if await self._on_dnc(campaign, contact):
                continue
            if not pacer.take():
                break
            if not await self._take(contact, now):
                continue  # someone else did
            started += 1
            self.dialled.append((asyncio.get_running_loop().time(), contact.id))
            self._attempts.spawn(self._attempt(campaign, contact), f"dial-{contact.id}")
        return started

    # -- statuses ---------------------------------------------------------------------
    async def _transition(
        self,
        contact_id: str,
        campaign_id: str,
        expected: frozenset[str] | None,
        status: str,
        *,
        call_id: str | None = None,
        cause: str | None = None,
        next_at: datetime | None = None,
        attempt: bool = False,
        outcome: dict[str, Any] | None = None,
    ) -> bool:
        now = datetime.now(UTC)
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if call_id is not None:
            values["last_call_id"] = call_id
        if next_at is not None:
            values["next_attempt_at"] = next_at
        if attempt:
            values["attempts"] = Contact.attempts + 1
        if outcome is not None:
            values["outcome"] = outcome
        async with self._sessions() as s:
            row = (
                await s.execute(
                    select(Contact.status, Contact.outcome).where(Contact.id == contact_id)
                )
            ).one_or_none()
            before = row[0] if row is not None else None
            if outcome is not None and row is not None and (row[1] or {}).get("flow"):
                # What the call's flow decided stays beside the attempt's result.
                values["outcome"] = {**outcome, "flow": row[1]["flow"]}
            stmt = update(Contact).where(Contact.id == contact_id)
            if expected is not None:
                stmt = stmt.where(Contact.status.in_(list(expected)))
            result = await s.execute(stmt.values(**values))
            if not result.rowcount:  # type: ignore[attr-defined]
                await s.rollback()
                return False
            s.add(
                ContactEvent(
                    contact_id=contact_id,
                    campaign_id=campaign_id,
                    at=now,
                    from_status=before,
                    to_status=status,
                    call_id=call_id,
                    cause=cause,
                )
            )
            await s.commit()
        return True

    async def _take(self, contact: Contact, now: datetime) -> bool:
        return await self._transition(contact.id, contact.campaign_id, DUE, "dialing", attempt=True)

    async def _on_dnc(self, campaign: Campaign, contact: Contact) -> bool:
        async with self._sessions() as s:
            listed = (
                await s.execute(
                    select(DoNotCall.id).where(
                        DoNotCall.phone == contact.phone,
                        or_(DoNotCall.owner == "", DoNotCall.owner == (campaign.owner or "")),
                    )
                )
            ).first()
        if listed is None:
            return False
        await self._transition(contact.id, contact.campaign_id, DUE, "dnc", cause="do-not-call")
        return True

    async def _set_campaign(self, campaign_id: str, status: str) -> None:
        async with self._sessions() as s:
            await s.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == "running")
                .values(status=status, updated_at=datetime.now(UTC))
            )
            await s.commit()

    # -- one attempt ------------------------------------------------------------------
    async def _attempt(self, campaign: Campaign, contact: Contact) -> None:
        attempts = contact.attempts + 1
        variables = {"callcontrol_campaign": campaign.id, "callcontrol_contact": contact.id}
        dialstring = campaign.dialstring.format(
            number=contact.phone, digits=contact.phone.lstrip("+")
        )
        answered, cause = False, None
        call_id = str(uuidlib.uuid4())
        await self._set_call(contact.id, call_id)
        try:
            call_id = await self._controller.originate(
                dialstring,
                bot=True,
                owner=campaign.owner,
                caller_id=campaign.caller_id,
                timeout_s=campaign.ring_s,
                variables=variables,
                language=contact.language or campaign.language,
                uuid=call_id,
            )
            answered = True
            await self._transition(
                contact.id, campaign.id, frozenset({"dialing"}), "in_progress", call_id=call_id
            )
            record = await self._controller.wait_finished(call_id, 6 * 3600)
            cause = record.hangup_cause
        except CallCommandError as exc:
            cause = exc.error.split()[0] if exc.error else "FAILED"
        except (CallControlError, EslError) as exc:
            cause = "NORMAL_TEMPORARY_FAILURE"
            log.warning("campaign attempt failed", contact=contact.id, error=str(exc))
        await self._settle(campaign, contact.id, attempts, answered, cause, call_id)

    async def _set_call(self, contact_id: str, call_id: str) -> None:
        """The attempt's call id, known before it is answered (an unanswered attempt
        keeps it too, with its CDR)."""
        async with self._sessions() as s:
            await s.execute(
                update(Contact).where(Contact.id == contact_id).values(last_call_id=call_id)
            )
            await s.commit()

    async def _settle(
        self,
        campaign: Campaign,
        contact_id: str,
        attempts: int,
        answered: bool,
        cause: str | None,
        call_id: str | None,
    ) -> None:
        outcome = outcome_of(cause, answered)
        status, delay = after_attempt(outcome, attempts, campaign.retries or {})
        if answered and await self._flow_outcome(contact_id) == "dnc":
            status, delay = "dnc", None  # the callee asked not to be called again
        next_at = datetime.now(UTC) + timedelta(seconds=delay) if delay is not None else None
        await self._transition(
            contact_id,
            campaign.id,
            IN_FLIGHT,
            status,
            call_id=call_id,
            cause=cause,
            next_at=next_at,
            outcome={"last": outcome, "cause": cause, "attempts": attempts},
        )
        log.info(
            "campaign attempt",
            campaign=campaign.id,
            contact=contact_id,
            outcome=outcome,
            cause=cause,
            next=status,
        )
        self.wake()

    async def _flow_outcome(self, contact_id: str) -> str | None:
        async with self._sessions() as s:
            kept = (
                await s.execute(select(Contact.outcome).where(Contact.id == contact_id))
            ).scalar_one_or_none()
        flow = (kept or {}).get("flow") or {}
        return str(flow["outcome"]) if flow.get("outcome") else None

    async def settle_orphans(self) -> int:
        """Contacts a dead leader left in flight: from their call's CDR when it has one,
        else as failed attempts (retried by the campaign's rules)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.lease_ttl_s)
        async with self._sessions() as s:
            stuck = list(
                (
                    await s.execute(
                        select(Contact, Campaign)
                        .join(Campaign, Campaign.id == Contact.campaign_id)
                        .where(Contact.status.in_(list(IN_FLIGHT)), Contact.updated_at < cutoff)
                    )
                ).all()
            )
        settled = 0
        for contact, campaign in stuck:
            if self._attempts and any(
                t.get_name().endswith(contact.id) for t in asyncio.all_tasks()
            ):
                continue  # ours, still going
            cdr = None
            if contact.last_call_id:
                async with self._sessions() as s:
                    cdr = (
                        await s.execute(select(Cdr).where(Cdr.call_id == contact.last_call_id))
                    ).scalar_one_or_none()
                if cdr is None and await self._controller.still_exists(contact.last_call_id):
                    continue  # the call is still up somewhere
            answered = cdr is not None and cdr.answer_at is not None
            cause = cdr.hangup_cause if cdr is not None else "NORMAL_TEMPORARY_FAILURE"
            await self._settle(
                campaign, contact.id, contact.attempts, answered, cause, contact.last_call_id
            )
            settled += 1
        if settled:
            log.info("settled contacts left in flight by another dialer", count=settled)
        return settled


def finished(status: str) -> bool:
    return status in FINAL
