"""One task per call: applies its events in order and carries out its routing.

The actor owns everything that happens to a call: state changes (through the
pure machine in :mod:`callcontrol.calls.machine`), the timeline, records, and its
routing, decided by the pure table in :mod:`callcontrol.calls.routing` — the bot
handover, and the no-answer takeover (ring an extension for N seconds; if nobody
answers, cancel that leg, answer the caller and hand them to the bot). The actor
turns events, timers and results into routing inputs and performs the actions the
table returns. Its inputs are ESL events and its own timers/background results, all
taken from one queue, so there are no races between "the extension answered" and
"the ring time ran out".
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid as uuidlib
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.calls.cdr import build_cdr
from callcontrol.calls.handle import CallHandle
from callcontrol.calls.machine import Input, LegState
from callcontrol.calls.messages import (
    Adopt,
    Gone,
    Message,
    NoticeDone,
    OriginateDone,
    Reconcile,
    Stamped,
    Timer,
)
from callcontrol.calls.model import VAR_CALL_ID, VAR_ROLE, Call, Leg
from callcontrol.calls.ops import Originate, prepare_originate
from callcontrol.calls.routing import Action, RoutingMachine, park_input
from callcontrol.calls.routing import Input as Route
from callcontrol.calls.routing import State as RouteState
from callcontrol.errors import CallArgumentError, CallCommandError, CallControlError, EslError
from callcontrol.esl.protocol import EslEvent

if TYPE_CHECKING:
    from callcontrol.calls.controller import CallController
    from callcontrol.recording.manager import RecordingPlan

log = structlog.get_logger(__name__)

HANGUP_COMPLETE_GRACE_S = 5.0
NOTICE_GRACE_S = 5.0  # past the notice's own length: FreeSWITCH never said it ended
LATE_EVENT_GRACE_S = 2.0


def now() -> datetime:
    return datetime.now(UTC)


def _wav_seconds(path: str) -> float:
    """How long a 16-bit mono 8 kHz prompt plays (its size; a header's worth less)."""
    return max(0.0, (os.path.getsize(path) - 44) / 2 / 8000)


class CallActor:
    def __init__(self, controller: CallController, handle: CallHandle) -> None:
        self.controller = controller
        self.handle = handle
        self.call: Call = handle.call
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.socket_legs: set[str] = set()
        self.routing = RoutingMachine()
        self.ring_leg: str | None = None
        self.ring_started: float | None = None
        self.leg_seen: dict[str, float] = {self.call.id: time.monotonic()}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks = TaskOwner(f"call-{self.call.id}")
        self._log = log.bind(call=self.call.id)
        self.recording: RecordingPlan | None = None

    @property
    def finished(self) -> bool:
        return self.routing.finished

    def disown(self) -> None:
        """Another worker owns this call: stop handling it (the caller cancels the task)."""
        self.routing.feed(Route.DISOWNED)

    # -- plumbing ---------------------------------------------------------------------
    def post(self, message: Message) -> None:
        self.queue.put_nowait(message)

    def post_event(self, event: EslEvent) -> None:
        self.queue.put_nowait(Stamped(event, time.perf_counter()))

    def _timer(self, name: str, delay: float) -> None:
        self._cancel_timer(name)
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(delay, self.post, Timer(name))

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.spawn(coro, name)

    async def run(self) -> None:
        try:
            while True:
                message = await self.queue.get()
                try:
                    await self._on(message)
                except CallControlError as exc:
                    self._log.warning("call operation failed", error=str(exc))
                except Exception:  # noqa: BLE001 - one bad event must not end the call's actor
                    self._log.exception("call actor step failed", message=type(message).__name__)
                if self.finished and self.queue.empty():
                    # Absorb late events (the other legs' hangups) for a moment, then go.
                    try:
                        message = await asyncio.wait_for(self.queue.get(), LATE_EVENT_GRACE_S)
                    except TimeoutError:
                        return
                    self.post(message)
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            await self._tasks.aclose()
            self.controller.forget(self)

    async def _on(self, message: Message) -> None:
        if isinstance(message, Stamped):
            await self._on_event(message.event, message.event.received_at or message.received)
        elif isinstance(message, Timer):
            await self._on_timer(message.name)
        elif isinstance(message, OriginateDone):
            await self._on_originate_done(message)
        elif isinstance(message, NoticeDone):
            await self._feed(Route.NOTICE_DONE)
        elif isinstance(message, Adopt):
            await self._on_adopt(message)
        elif isinstance(message, Reconcile):
            await self._on_reconcile(message)
        else:
            await self._on_gone(message)

    # -- records ----------------------------------------------------------------------
    async def _changed(self, leg: Leg) -> None:
        recorder = self.controller.recorder
        recorder.leg(self.call, leg)
        if leg.id == self.call.id:
            recorder.call(self.call)
            await self.controller.publish_call(self.call)

    def _record_last(self) -> None:
        self.controller.recorder.event(self.call, self.call.timeline[-1])

    def _note(self, name: str, **data: object) -> None:
        self.call.note(name, now(), None, **data)
        self._record_last()

    # -- events -----------------------------------------------------------------------
    async def _on_event(self, event: EslEvent, since: float) -> None:
        call = self.call
        leg, new_state = call.apply(event)
        self.leg_seen.setdefault(leg.id, time.monotonic())
        self._record_last()
        metrics = self.controller.metrics
        metrics.esl_events.labels(event.name).inc()
        if new_state is not None:
            await self._changed(leg)
        self.handle.notify(event)
        # Handled: applied, recorded, published, listeners told — from the bytes leaving the
        # socket. What it causes (uuid_answer…) is sent next; FreeSWITCH's time to answer
        # those commands is not callcontrol's and is not counted.
        metrics.event_latency.observe(time.perf_counter() - since)
        if self.finished:
            return
        if leg.id == call.id:
            await self._on_caller_event(event, new_state)
        elif leg.id == self.ring_leg:
            await self._on_ring_leg_event(event, leg, new_state)

    async def _on_caller_event(self, event: EslEvent, new_state: LegState | None) -> None:
        if event.name == "CHANNEL_PARK":
            await self._route()
        elif event.name == "CHANNEL_ANSWER":
            if self.call.action is not None:
                self.controller.emit("call.answered", self.call)
            await self._start_recording()
            await self._feed(Route.CALLER_ANSWERED)
        if new_state is LegState.HANGUP:
            await self._feed(Route.CALLER_GONE)
        if event.name == "CHANNEL_HANGUP_COMPLETE":
            await self._feed(Route.HANGUP_COMPLETE)

    async def _on_ring_leg_event(
        self, event: EslEvent, leg: Leg, new_state: LegState | None
    ) -> None:
        if event.name == "CHANNEL_ANSWER":
            await self._feed(Route.RING_ANSWERED)
        elif event.name == "CHANNEL_PROGRESS":
            await self._feed(Route.RING_PROGRESS)
        elif new_state is LegState.HANGUP:
            await self._feed(Route.RING_HUNG_UP, f"extension {leg.hangup_cause or 'hung up'}")

    async def _on_timer(self, name: str) -> None:
        self._timers.pop(name, None)
        if name == "no_answer":
            await self._feed(Route.NO_ANSWER, "no answer")
        elif name == "finish":
            await self._feed(Route.FINISH_TIMER)

    # -- routing ----------------------------------------------------------------------
    async def _route(self) -> None:
        inp = park_input(self.call.action, self.call.extension)
        if inp is None:
            return  # not handed to callcontrol by the dialplan: tracked only
        if self.routing.state is RouteState.UNROUTED:
            self.controller.emit("call.started", self.call)
        await self._feed(inp, "no extension given" if inp is Route.PARK_NO_EXTENSION else "")

    async def _feed(self, inp: Route, reason: str = "") -> None:
        """Feed the routing table and carry out what it returns, in order.

        ``reason`` is the takeover's, when ``inp`` makes one."""
        caller = self.call.legs.get(self.call.id)  # not call.state: that would add the leg
        ringing = caller is None or caller.state in (LegState.CREATED, LegState.RINGING)
        bot = self.controller.bot_available()
        notice = self.routing.state is RouteState.RINGING and self._notice() is not None
        for action in self.routing.feed(
            inp, caller_ringing=ringing, bot_available=bot, notice=notice
        ):
            await self._perform(action, reason)

    def _notice(self) -> str | None:
        """What the caller hears before being recorded with a person, if anything."""
        if self.recording is not None:
            return self.recording.notice
        recordings = self.controller.recordings
        if recordings is None or self.call.action not in ("bot", "extension"):
            return None
        try:
            return recordings.notice_for(self.call)
        except ValueError:
            return None

    async def _say_notice(self) -> None:
        """Play the recording notice on the caller's leg and wait for its end; then the
        person is bridged. Whatever fails, the caller is still put through (the timeline
        and the log say the notice was not said)."""
        text = self._notice()
        prompts = self.controller.prompts
        try:
            path = None
            if text and prompts is not None:
                path = await prompts.prompt_file(text, self.call.language)
            if path is None:
                self._note("recording_notice_failed", reason="no voice can say it")
                self._log.warning("the recording notice could not be said", notice=text)
                return
            ended = asyncio.Event()

            def on_event(event: EslEvent) -> None:
                if (
                    event.name == "PLAYBACK_STOP"
                    and event.get("Unique-ID") == self.call.id
                    and event.get("Playback-File-Path") == path
                ):
                    ended.set()

            stop_listening = self.handle.listen(on_event)
            try:
                await self.handle.play(path)
                self._note("recording_notice", file=path)
                await asyncio.wait_for(ended.wait(), _wav_seconds(path) + NOTICE_GRACE_S)
            finally:
                stop_listening()
        except (CallControlError, EslError, TimeoutError, OSError) as exc:
            self._note("recording_notice_failed", reason=str(exc) or type(exc).__name__)
            self._log.warning("the recording notice could not be played", error=str(exc))
        finally:
            self.post(NoticeDone())

    async def _refuse_no_bot(self) -> None:
        """No bot can take the call: the fallback destination, or SIP 480."""
        settings = self.controller.settings.calls
        why = self.controller.bot_unavailable_reason()
        fallback = settings.bot_fallback
        self._note("route_refused", action="bot", reason=why, fallback=fallback)
        self._log.warning("no bot can take the call", reason=why, fallback=fallback)
        try:
            if fallback:
                await self.handle.transfer(fallback, settings.bot_fallback_context)
            else:
                # SUBSCRIBER_ABSENT: FreeSWITCH answers an unanswered INVITE with
                # 480 Temporarily Unavailable (an answered call just ends).
                await self.handle.hangup("SUBSCRIBER_ABSENT")
        except CallControlError as exc:
            self._log.error("cannot refuse the call", error=str(exc))

    async def _perform(self, action: Action, reason: str) -> None:
        call = self.call
        if action is Action.NOTE_ROUTE_BOT:
            self._note("route", action="bot")
        elif action is Action.REFUSE_ROUTE:
            self._note("route_refused", action=call.action, reason="unknown callcontrol_action")
            self._log.warning("unknown callcontrol_action; call left alone", action=call.action)
        elif action is Action.REFUSE_NO_EXTENSION:
            self._note("route_refused", action="extension", reason="no callcontrol_extension")
        elif action is Action.REFUSE_NO_BOT:
            await self._refuse_no_bot()
        elif action is Action.ANSWER:
            if self.controller.settings.fork.playback == "stream":
                # A parked channel writes no frames, and streamed audio plays only while it
                # does; park reads this once, when media comes up: set it before answer.
                await self.handle.setvar("send_silence_when_idle", "-1")
            await self.handle.answer()
        elif action is Action.HAND_TO_BOT:
            await self._to_bot()
        elif action is Action.RING_EXTENSION:
            self._ring_extension()
        elif action is Action.DISARM_NO_ANSWER:
            self._cancel_timer("no_answer")
        elif action is Action.NOTE_TAKEOVER:
            rang = time.monotonic() - self.ring_started if self.ring_started else 0.0
            self._note("no_answer_takeover", reason=reason, rang_s=round(rang, 3))
            self._log.info("extension did not answer; bot takes the call", reason=reason)
        elif action is Action.CANCEL_RING:
            ring = call.legs.get(self.ring_leg or "")
            if ring is not None and ring.live:
                await self._kill(ring.id, "ORIGINATOR_CANCEL")
        elif action is Action.KILL_RING:
            if self.ring_leg is not None:
                await self._kill(self.ring_leg, "ORIGINATOR_CANCEL")
        elif action is Action.NOTE_EXTENSION_ANSWERED:
            self._note("extension_answered", leg=self.ring_leg)
        elif action is Action.PLAY_NOTICE:
            self._spawn(self._say_notice(), "recording-notice")
        elif action is Action.STOP_NOTICE:
            await self.handle.stop_playback()
        elif action is Action.BRIDGE_EXTENSION:
            await self.handle.bridge(self.ring_leg or "")
            self.controller.emit(
                "call.transferred", call, kind="extension", to=call.extension, leg=self.ring_leg
            )
        elif action is Action.KILL_EXTENSION_LEGS:
            for leg in call.legs.values():
                if leg.id != call.id and leg.live and leg.role == "extension":
                    await self._kill(leg.id, "ORIGINATOR_CANCEL")
        elif action is Action.ARM_FINISH:
            if "finish" not in self._timers:
                self._timer("finish", HANGUP_COMPLETE_GRACE_S)
        elif action is Action.FINISH:
            await self._finish()

    async def _start_recording(self) -> None:
        """Record a call callcontrol routes from its answer (once): the caller's channel,
        in stereo, so what follows — the bot, a bridge to a person — is in one file."""
        recordings = self.controller.recordings
        call = self.call
        if recordings is None or self.recording is not None or self.finished:
            return
        if call.action not in ("bot", "extension"):
            return  # not handed to callcontrol: not ours to record
        try:
            plan = recordings.plan(call)
        except ValueError as exc:
            self._log.warning("cannot record this call", error=str(exc))
            return
        if plan is None:
            return
        self.recording = plan
        try:
            await self.handle.setvar("RECORD_STEREO", "true")
            await self.handle.record(str(plan.path))
        except CallControlError as exc:
            self._log.warning("recording refused", error=str(exc))
            self._note("recording_failed", error=str(exc))
            self.recording = None
            return
        call.recording_path = str(plan.directory / plan.path.name)
        call.recording_notice = plan.notice
        recordings.started(call, plan)
        self._note("recording_started", directory=str(plan.directory))

    async def _to_bot(self) -> None:
        if self.call.caller_leg.state in (LegState.ANSWERED, LegState.BRIDGED):
            await self._start_recording()  # answered before it was ours (the dialplan)
        if self.call.to_bot(now()) is None:
            return
        self.controller.emit("call.ai_activated", self.call)
        self._record_last()
        await self._changed(self.call.caller_leg)
        await self.controller.hand_to_bot(self.handle)

    # -- no-answer takeover -----------------------------------------------------------
    def _ring_extension(self) -> None:
        call = self.call
        settings = self.controller.settings.calls
        extension = call.extension or ""
        seconds = call.ring_seconds or settings.ring_seconds(extension)
        leg_id = str(uuidlib.uuid4())
        call.legs[leg_id] = Leg(leg_id, role="extension", number=extension, created_at=now())
        self.leg_seen[leg_id] = time.monotonic()
        self.ring_leg = leg_id
        self.ring_started = time.monotonic()
        self.controller.register_leg(leg_id, self)
        variables = {
            VAR_CALL_ID: call.id,
            VAR_ROLE: "extension",
            "origination_caller_id_number": call.caller_number or "unknown",
        }
        try:
            ring = prepare_originate(
                settings.extension_dialstring.format(extension=extension),
                uuid=leg_id,
                app="&park()",
                variables=variables,
                timeout_s=int(seconds) + 5,
            )
        except CallArgumentError as exc:
            # An extension FreeSWITCH would misread: nothing can ring. The caller must not
            # stay parked with no timer running: fail the ring now, the bot takes over.
            self._log.warning("cannot ring the extension", extension=extension, error=str(exc))
            self._note("ring_refused", extension=extension, error=str(exc), leg=leg_id)
            self.post(OriginateDone(leg_id, f"cannot be dialled ({exc})"))
            return
        self._note("ring_extension", extension=extension, seconds=seconds, leg=leg_id)
        self._timer("no_answer", seconds)
        self._spawn(self._originate(ring, seconds + 30), f"ring-{leg_id}")

    async def _originate(self, ring: Originate, wait_s: float) -> None:
        try:
            await self.controller.ops().send_originate(ring, wait_s=wait_s)
        except CallCommandError as exc:
            self.post(OriginateDone(ring.uuid, exc.error))
            return
        except EslError as exc:
            self.post(OriginateDone(ring.uuid, str(exc)))
            return
        self.post(OriginateDone(ring.uuid))

    async def _on_originate_done(self, done: OriginateDone) -> None:
        if done.leg_id != self.ring_leg:
            return
        if done.error is None:
            await self._feed(Route.ORIGINATE_OK)
            return
        reason = done.error
        leg = self.call.legs.get(done.leg_id)
        if leg is not None and leg.live and leg.state is LegState.CREATED:
            leg.hangup_cause = reason if reason.isupper() else leg.hangup_cause
            leg.apply(Input.HANGUP, now())
            await self._changed(leg)
        await self._feed(Route.ORIGINATE_FAILED, f"extension {reason}")

    async def _kill(self, uuid: str, cause: str) -> None:
        try:
            await self.handle.ops.hangup(uuid, cause)
        except CallCommandError as exc:
            if not exc.channel_gone:
                self._log.info("could not hang up leg", leg=uuid, error=str(exc))
        except EslError as exc:
            self._log.info("could not hang up leg", leg=uuid, error=str(exc))

    # -- the end ----------------------------------------------------------------------
    async def _finish(self) -> None:
        self._cancel_timer("finish")
        call = self.call
        record = build_cdr(call, end_at=now())
        call.cdr_written = True
        recorder = self.controller.recorder
        recorder.call(call)
        for leg in call.legs.values():
            recorder.leg(call, leg)
        recorder.cdr(record)
        if self.recording is not None and self.controller.recordings is not None:
            self.controller.recordings.call_ended(call, record, self.recording)
        if call.action is not None:
            self.controller.emit("call.ended", call, cdr=record.as_json())
        self.handle.ended.set()
        await self.controller.call_finished(self, record)

    async def _force_end(self, cause: str, reason: str) -> None:
        at = now()
        ended = self.call.force_hangup(at, cause, reason)
        self._record_last()
        for leg in ended:
            await self._changed(leg)
        await self._feed(Route.FORCE_END)

    async def _on_reconcile(self, message: Reconcile) -> None:
        if self.finished:
            return
        gone = [
            leg
            for leg in self.call.legs.values()
            if leg.live
            and leg.id not in message.live_uuids
            and self.leg_seen.get(leg.id, float("inf")) < message.as_of
        ]
        if not gone:
            return
        if self.call.caller_leg in gone:
            await self._force_end("UNKNOWN", message.reason)
            return
        for leg in gone:
            leg.hangup_cause = leg.hangup_cause or "UNKNOWN"
            leg.apply(Input.HANGUP, now())
            await self._changed(leg)
            if leg.id == self.ring_leg:
                await self._feed(Route.RING_GONE, "extension gone during ESL outage")

    async def _on_gone(self, message: Gone) -> None:
        if self.finished:
            return
        live = await self.controller.still_exists(self.call.id)
        if live is False or live is None:
            await self._force_end("UNKNOWN", message.reason)

    async def _on_adopt(self, message: Adopt) -> None:
        event = message.event
        call = self.call
        call.learn(event)
        leg = call.leg_for(event)
        answer_state = event.get("Answer-State") or ""
        if answer_state == "answered" and leg.state in (LegState.CREATED, LegState.RINGING):
            leg.apply(Input.ANSWER, now())
        elif answer_state in ("ringing", "early") and leg.state is LegState.CREATED:
            leg.apply(Input.RING, now())
        self._note("adopted", answer_state=answer_state or "unknown", parked=message.parked)
        await self._changed(leg)
        if message.parked:
            await self._route()

    async def originate_failed(self, cause: str) -> None:
        """The originate this call was created for failed before any channel existed."""
        if not self.finished and self.call.caller_leg.state is LegState.CREATED:
            self.call.caller_leg.hangup_cause = cause
            await self._force_end(cause, "originate failed")
