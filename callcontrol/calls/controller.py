"""The call controller: routes ESL events to per-call actors and keeps calls honest.

Events come from the inbound connection (every channel, in inbound mode) or from
a call's own outbound socket. The controller finds or creates the call's
:class:`~callcontrol.calls.actor.CallActor`, claims the call for this worker
(so several workers on one FreeSWITCH never handle one call twice), and after
every (re)connection reconciles its calls with ``show channels`` so none is
lost and none stays active forever.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.calls.actor import CallActor
from callcontrol.calls.adopt import channel_event, created_at
from callcontrol.calls.base import BotHandover, CallRecorder, SpokenPrompts
from callcontrol.calls.cdr import CdrRecord
from callcontrol.calls.handle import CallHandle
from callcontrol.calls.messages import Adopt, Gone, Reconcile
from callcontrol.calls.model import Call, call_id_for
from callcontrol.calls.ops import CallOps, call_variables, prepare_originate
from callcontrol.calls.snapshot import call_snapshot
from callcontrol.config import Settings
from callcontrol.errors import CallCommandError, CallError, EslError, EslNotConnectedError
from callcontrol.esl.client import EslCommands
from callcontrol.esl.protocol import EslEvent
from callcontrol.live import topics
from callcontrol.live.base import EventBus, LiveState
from callcontrol.metrics import Metrics

if TYPE_CHECKING:
    from callcontrol.esl.inbound import InboundConnection
    from callcontrol.esl.outbound import OutboundChannel
    from callcontrol.recording.manager import CallRecordings
    from callcontrol.webhooks import Webhooks

log = structlog.get_logger(__name__)

CLAIM_TTL_S = 6 * 3600.0
_FOREIGN_MAX = 20_000
_RECENT_MAX = 1_000
_IGNORED = frozenset({"BACKGROUND_JOB", "HEARTBEAT", "RE_SCHEDULE", "CHANNEL_DESTROY"})


class CallController:
    def __init__(
        self,
        settings: Settings,
        *,
        recorder: CallRecorder,
        live: LiveState,
        bus: EventBus,
        metrics: Metrics,
        worker_id: str,
        handover: BotHandover | None = None,
    ) -> None:
        self.settings = settings
        self.recorder = recorder
        self.live = live
        self.bus = bus
        self.metrics = metrics
        self.worker_id = worker_id
        self.handover = handover
        self.inbound: InboundConnection | None = None
        # After each reconciliation, with the channels FreeSWITCH has (the worker
        # closes calls a crash left open: store/recovery.py).
        self.on_reconciled: Callable[[frozenset[str]], Awaitable[None]] | None = None
        # Records every answered call it routes (the service sets it; recording/manager.py).
        self.recordings: CallRecordings | None = None
        # Says the recording notice on calls put through to a person (callcontrol/prompts.py).
        self.prompts: SpokenPrompts | None = None
        # The owner's webhooks (the service sets it; callcontrol/webhooks.py).
        self.webhooks: Webhooks | None = None
        # Told when a call callcontrol routed has ended: (call, CDR, whether recorded).
        self.on_finished: Callable[[Call, CdrRecord, bool], None] | None = None
        self._actors: dict[str, CallActor] = {}
        self._legs: dict[str, CallActor] = {}
        self._tasks: dict[CallActor, asyncio.Task[None]] = {}
        self._foreign: OrderedDict[str, None] = OrderedDict()
        self._finished_waiters: dict[str, asyncio.Future[CdrRecord]] = {}
        self._recently_finished: OrderedDict[str, CdrRecord] = OrderedDict()
        self._aux_tasks = TaskOwner("calls")
        self._outbound_mode = settings.esl.mode == "outbound"

    def emit(
        self, event: str, call: Call | None = None, *, call_id: str | None = None, **data: object
    ) -> None:
        """Tell the owner's webhooks about ``call`` (queued durably; never raises)."""
        hooks = self.webhooks
        if hooks is None:
            return
        if call is None and call_id is not None:
            actor = self._actors.get(call_id)
            call = actor.call if actor is not None else None
        brief: dict[str, object] = {}
        if call is not None:
            brief = {
                "direction": call.direction,
                "caller": call.caller_number,
                "callee": call.callee_number,
                "action": call.action,
                "extension": call.extension,
                "language": call.language,
            }
        try:
            hooks.emit(
                event,
                owner=call.owner if call is not None else None,
                call_id=call.id if call is not None else call_id,
                data={**brief, **data},
            )
        except Exception as exc:  # noqa: BLE001 - a webhook never stops a call
            log.warning("cannot queue a webhook", webhook_event=event, error=str(exc))

    # -- registry ---------------------------------------------------------------------
    @property
    def calls(self) -> dict[str, Call]:
        return {cid: actor.call for cid, actor in self._actors.items() if not actor.finished}

    def handle(self, call_id: str) -> CallHandle:
        actor = self._actors.get(call_id) or self._legs.get(call_id)
        if actor is None or actor.finished:
            raise CallError(f"no active call {call_id}")
        return actor.handle

    def _new_actor(self, call: Call, commands: EslCommands) -> CallActor:
        call.worker_id = self.worker_id
        actor = CallActor(self, CallHandle(call, commands))
        self._actors[call.id] = actor
        self._legs[call.id] = actor
        self._tasks[actor] = asyncio.create_task(actor.run(), name=f"call-{call.id}")
        self.metrics.calls_active.set(len(self._actors))
        return actor

    def register_leg(self, leg_id: str, actor: CallActor) -> None:
        self._legs[leg_id] = actor

    def forget(self, actor: CallActor) -> None:
        call_id = actor.call.id
        if self._actors.get(call_id) is actor:
            del self._actors[call_id]
        for leg_id in list(actor.call.legs):
            if self._legs.get(leg_id) is actor:
                del self._legs[leg_id]
        self._tasks.pop(actor, None)
        self.metrics.calls_active.set(len(self._actors))

    def _mark_foreign(self, call_id: str) -> None:
        self._foreign[call_id] = None
        while len(self._foreign) > _FOREIGN_MAX:
            self._foreign.popitem(last=False)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._aux_tasks.aclose()

    async def wait_finished(self, call_id: str, timeout: float) -> CdrRecord:
        """Wait for a call's CDR (used by the CLI and tests)."""
        done = self._recently_finished.get(call_id)
        if done is not None:
            return done
        fut = self._finished_waiters.get(call_id)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._finished_waiters[call_id] = fut
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    # -- inbound events ---------------------------------------------------------------
    def on_inbound_event(self, event: EslEvent) -> None:
        """Listener for the inbound connection (runs on the loop; never blocks)."""
        if event.name in _IGNORED:
            return
        uuid = event.unique_id
        if not uuid:
            return
        actor = self._legs.get(uuid)
        if actor is None:
            call_id = call_id_for(event) or uuid
            actor = self._actors.get(call_id)
            if actor is None:
                if self._outbound_mode or call_id in self._foreign:
                    return
                if event.name not in ("CHANNEL_CREATE", "CHANNEL_PARK", "CHANNEL_ANSWER"):
                    return  # the tail of a call we never saw; reconciliation covers the rest
                if self.inbound is None:
                    return
                call = Call(id=call_id, created_at=datetime.now(UTC))
                actor = self._new_actor(call, self.inbound)
                self._spawn_claim(actor)
            self._legs[uuid] = actor
        if uuid in actor.socket_legs:
            return  # this leg's events come on its own socket
        actor.post_event(event)

    def _spawn_claim(self, actor: CallActor) -> None:
        async def claim() -> None:
            try:
                mine = await self.live.claim(actor.call.id, self.worker_id, CLAIM_TTL_S)
            except Exception as exc:  # noqa: BLE001 - no shared state: keep the call
                log.warning("cannot claim call in live state; handling it", error=str(exc))
                return
            if not mine:
                log.debug("call owned by another worker", call=actor.call.id)
                self._mark_foreign(actor.call.id)
                actor.disown()
                task = self._tasks.get(actor)
                if task is not None:
                    task.cancel()

        self._aux_tasks.spawn(claim(), f"claim-{actor.call.id}")

    # -- outbound sockets -------------------------------------------------------------
    async def on_outbound_channel(self, channel: OutboundChannel) -> None:
        """A call handed to us by the dialplan's ``socket`` app; runs until it ends."""
        event = EslEvent("CHANNEL_DATA", channel.data)
        uuid = channel.uuid
        call_id = call_id_for(event) or uuid
        actor = self._actors.get(call_id)
        if actor is None:
            call = Call(id=call_id, created_at=datetime.now(UTC))
            actor = self._new_actor(call, channel)
            await self.live.claim(call_id, self.worker_id, CLAIM_TTL_S)
        self._legs[uuid] = actor
        actor.socket_legs.add(uuid)
        channel.listen(actor.post_event)
        parked = uuid == call_id  # the caller's own socket: route it now
        actor.post(Adopt(event, parked=parked))
        await channel.closed.wait()
        if not actor.finished and not channel.hung_up:
            actor.post(Gone("outbound socket closed before hangup"))
        else:
            await actor.handle.ended.wait()
        await channel.close()

    # -- after (re)connecting ---------------------------------------------------------
    async def reconcile(self) -> None:
        """Align our calls with FreeSWITCH's channels (run after every connect)."""
        inbound = self.inbound
        if inbound is None:
            return
        as_of = time.monotonic()
        rows = await CallOps(inbound).channels(timeout=10)
        live = {row["uuid"]: row for row in rows if row.get("uuid")}
        message = Reconcile(frozenset(live), "channel gone while ESL was disconnected", as_of)
        for actor in list(self._actors.values()):
            if not actor.finished and not actor.socket_legs:
                actor.post(message)
        if self.on_reconciled is not None:
            await self.on_reconciled(frozenset(live))
        if self._outbound_mode:
            return
        adopted = 0
        for uuid, row in live.items():
            if uuid in self._legs:
                continue
            if await self._adopt(uuid, row):
                adopted += 1
        log.info("reconciled calls with FreeSWITCH", channels=len(live), adopted=adopted)

    async def _adopt(self, uuid: str, row: dict[str, str]) -> bool:
        inbound = self.inbound
        assert inbound is not None
        event = await channel_event(CallOps(inbound), uuid, row)
        call_id = call_id_for(event) or uuid
        if call_id in self._foreign:
            return False
        actor = self._actors.get(call_id)
        if actor is None:
            if not await self.live.claim(call_id, self.worker_id, CLAIM_TTL_S):
                self._mark_foreign(call_id)
                return False
            actor = self._new_actor(Call(id=call_id, created_at=created_at(row)), inbound)
        self._legs[uuid] = actor
        parked = row.get("application") == "park" and uuid == call_id
        actor.post(Adopt(event, parked=parked))
        return True

    async def still_exists(self, uuid: str) -> bool | None:
        inbound = self.inbound
        if inbound is None or not inbound.connected:
            return None
        try:
            return await CallOps(inbound).exists(uuid, timeout=3)
        except EslError:
            return None

    # -- called by actors -------------------------------------------------------------
    def ops(self) -> CallOps:
        """Call operations over the inbound connection (the one that runs ``bgapi``)."""
        inbound = self.inbound
        if inbound is None:
            raise EslNotConnectedError("background commands need the inbound ESL connection")
        return CallOps(inbound)

    async def publish_call(self, call: Call) -> None:
        snapshot = call_snapshot(call)
        try:
            if call.ended:
                await self.live.delete("calls", call.id)
            else:
                await self.live.put("calls", call.id, snapshot)
            await self.bus.publish("calls", snapshot)
        except Exception as exc:  # noqa: BLE001 - live view is best effort; records are durable
            log.warning("cannot publish call update", call=call.id, error=str(exc))

    def bot_unavailable_reason(self) -> str | None:
        """Why no bot can take a call now; None: one can."""
        if self.handover is None:
            return "no bot on this worker (pipeline.enabled is false)"
        return self.handover.refusal()

    def bot_available(self) -> bool:
        return self.bot_unavailable_reason() is None

    async def hand_to_bot(self, handle: CallHandle) -> None:
        call = handle.call
        log.info("call handed to the bot", call=call.id, owner=call.owner)
        await self.bus.publish(topics.BOT_HANDOVER, {"call_id": call.id, "owner": call.owner})
        if self.handover is None:
            return
        try:
            await self.handover.start_bot(handle)
        except Exception:
            log.exception("bot could not start on call", call=call.id)

    async def call_finished(self, actor: CallActor, record: CdrRecord) -> None:
        call = actor.call
        self.metrics.calls_total.labels(record.outcome).inc()
        await self.publish_call(call)
        try:
            await self.live.release(call.id, self.worker_id)
        except Exception as exc:  # noqa: BLE001 - live state is best effort; the CDR is durable
            log.warning("cannot release call ownership", call=call.id, error=str(exc))
        self._recently_finished[call.id] = record
        while len(self._recently_finished) > _RECENT_MAX:
            self._recently_finished.popitem(last=False)
        fut = self._finished_waiters.pop(call.id, None)
        if fut is not None and not fut.done():
            fut.set_result(record)
        if self.on_finished is not None and call.action is not None:
            try:
                self.on_finished(call, record, actor.recording is not None)
            except Exception as exc:  # noqa: BLE001 - bookkeeping after the call
                log.warning("after the call ended", call=call.id, error=str(exc))
        log.info(
            "call ended",
            call=call.id,
            cause=record.hangup_cause,
            outcome=record.outcome,
            duration=record.duration_s,
        )

    # -- operations that create calls -------------------------------------------------
    async def originate(
        self,
        dialstring: str,
        *,
        bot: bool = False,
        owner: str | None = None,
        caller_id: str | None = None,
        timeout_s: int = 60,
        variables: Mapping[str, str] | None = None,
        language: str | None = None,
        uuid: str | None = None,
    ) -> str:
        """Place a call; return its UUID once answered, or raise :class:`CallError`.

        ``variables``: more channel variables for the new leg; ``uuid``: the call's id,
        chosen by the caller (a campaign records it before the call is answered)."""
        inbound = self.inbound
        if inbound is None:
            raise EslNotConnectedError("originate needs the inbound ESL connection")
        if self._outbound_mode:
            host = self.settings.esl.outbound_host
            app = f"&socket({host}:{self.settings.esl.outbound_port} async full)"
        else:
            app = "&park()"
        uuid = uuid or str(uuidlib.uuid4())
        job = prepare_originate(
            dialstring,
            uuid=uuid,
            app=app,
            variables={
                **(variables or {}),
                **call_variables(
                    uuid, bot=bot, owner=owner, caller_id=caller_id, language=language
                ),
            },
            timeout_s=timeout_s,
        )
        call = Call(
            id=uuid,
            direction="outbound",
            callee_number=dialstring.rsplit("/", 1)[-1],
            owner=owner,
            language=language,
            action="bot" if bot else None,
            created_at=datetime.now(UTC),
        )
        actor = self._new_actor(call, inbound)
        await self.live.claim(uuid, self.worker_id, CLAIM_TTL_S)
        try:
            return await CallOps(inbound).send_originate(job)
        except CallCommandError as exc:
            await actor.originate_failed(exc.error)
            raise
        except EslError as exc:
            await actor.originate_failed("NORMAL_TEMPORARY_FAILURE")
            raise CallError(f"originate to {dialstring} failed: {exc}") from exc
