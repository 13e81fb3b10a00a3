"""In-memory call records, fed by ESL events through the state machine. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callcontrol.calls.machine import LIVE_STATES, Input, LegState, input_for, transition
from callcontrol.esl.protocol import EslEvent

# Channel variables the dialplan uses to hand a call to callcontrol.
VAR_ACTION = "callcontrol_action"  # bot | extension
VAR_EXTENSION = "callcontrol_extension"
VAR_OWNER = "callcontrol_owner"
VAR_RING_SECONDS = "callcontrol_ring_seconds"
VAR_CALL_ID = "callcontrol_call_id"  # set by us on legs we originate for a call
VAR_ROLE = "callcontrol_role"  # role of a leg we originate
# The caller's language, from the dialplan (or an originate): "ko", "en-US", or "auto"
# (detected on the first utterance). Anything else is ignored.
VAR_LANGUAGE = "callcontrol_language"
# A campaign's attempt (set by the dialer's originate), and a scripted flow by name for an
# inbound number (dialplan): the bot plays the flow instead of answering questions.
VAR_CAMPAIGN = "callcontrol_campaign"
VAR_CONTACT = "callcontrol_contact"
VAR_FLOW = "callcontrol_flow"
_LANGUAGE = re.compile(r"auto|[a-z]{2,3}(-[A-Za-z]{2,4})?")


def language_code(value: str | None) -> str | None:
    """A dialplan's ``callcontrol_language`` as a language code (None: not one)."""
    if value is None:
        return None
    code = value.strip()
    return code if _LANGUAGE.fullmatch(code) else None


# Headers worth keeping on the timeline (the rest of an event is noise for a person).
_TIMELINE_HEADERS = (
    "Hangup-Cause",
    "Other-Leg-Unique-ID",
    "Application",
    "Application-Data",
    "Application-Response",
    "Playback-Status",
    "DTMF-Digit",
    "Channel-Call-State",
    "Answer-State",
    "variable_playback_ms",
    "Record-File-Path",
)


def event_time(event: EslEvent) -> datetime:
    micros = event.timestamp_us
    if micros is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


def call_id_for(event: EslEvent) -> str | None:
    """Which call a channel belongs to: ours if we tagged it, else FreeSWITCH's call UUID."""
    return (
        event.variable(VAR_CALL_ID)
        or event.get("Channel-Call-UUID")
        or event.unique_id
        or event.get("Unique-ID")
    )


@dataclass(slots=True)
class TimelineEntry:
    at: datetime
    name: str
    leg_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Leg:
    id: str
    role: str = "caller"
    direction: str | None = None
    channel_name: str | None = None
    number: str | None = None
    state: LegState = LegState.CREATED
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hangup_cause: str | None = None
    billsec: int | None = None
    duration: int | None = None
    history: list[LegState] = field(default_factory=lambda: [LegState.CREATED])

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def apply(self, inp: Input, at: datetime) -> LegState | None:
        new = transition(self.state, inp)
        if new is None:
            return None
        self.state = new
        self.history.append(new)
        if new is LegState.ANSWERED and self.answered_at is None:
            self.answered_at = at
        if new is LegState.HANGUP:
            self.ended_at = at
        return new


@dataclass(slots=True)
class Call:
    """One call: the caller's leg (whose UUID is the call id) and any others."""

    id: str
    direction: str = "inbound"
    caller_number: str | None = None
    caller_name: str | None = None
    callee_number: str | None = None
    owner: str | None = None
    action: str | None = None
    extension: str | None = None
    ring_seconds: float | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    legs: dict[str, Leg] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    bridged_to_human: bool = False
    recording_path: str | None = None
    # Said to the caller first when they are recorded (the owner's recording.notice).
    recording_notice: str | None = None
    language: str | None = None
    campaign: str | None = None
    contact: str | None = None
    flow: str | None = None  # a scripted flow's name (callcontrol_flow)
    worker_id: str | None = None
    cdr_written: bool = False

    @property
    def caller_leg(self) -> Leg:
        leg = self.legs.get(self.id)
        if leg is None:
            leg = Leg(self.id, created_at=self.created_at)
            self.legs[self.id] = leg
        return leg

    @property
    def state(self) -> LegState:
        return self.caller_leg.state

    @property
    def ended(self) -> bool:
        return self.caller_leg.state is LegState.HANGUP

    @property
    def answered_at(self) -> datetime | None:
        return self.caller_leg.answered_at

    @property
    def ended_at(self) -> datetime | None:
        return self.caller_leg.ended_at

    @property
    def hangup_cause(self) -> str | None:
        return self.caller_leg.hangup_cause

    @property
    def handled_by(self) -> str:
        bot = LegState.BOT in self.caller_leg.history
        if bot and self.bridged_to_human:
            return "both"
        if bot:
            return "bot"
        if self.bridged_to_human:
            return "human"
        return "none"

    def note(
        self, name: str, at: datetime, leg_id: str | None = None, **data: Any
    ) -> TimelineEntry:
        entry = TimelineEntry(at, name, leg_id, data)
        self.timeline.append(entry)
        return entry

    def leg_for(self, event: EslEvent) -> Leg:
        uuid = event.unique_id or self.id
        leg = self.legs.get(uuid)
        if leg is None:
            role = event.variable(VAR_ROLE) or ("caller" if uuid == self.id else "other")
            leg = Leg(uuid, role=role, created_at=event_time(event))
            self.legs[uuid] = leg
        if leg.direction is None:
            leg.direction = event.get("Call-Direction")
        if leg.channel_name is None:
            leg.channel_name = event.get("Channel-Name")
        if leg.number is None:
            leg.number = event.get("Caller-Destination-Number") if leg.role != "caller" else None
        return leg

    def learn(self, event: EslEvent) -> None:
        """Fill in who/what from the caller leg's headers and our dialplan variables."""
        if event.unique_id not in (None, self.id):
            return
        self.caller_number = self.caller_number or event.get("Caller-Caller-ID-Number")
        self.caller_name = self.caller_name or event.get("Caller-Caller-ID-Name")
        self.callee_number = self.callee_number or event.get("Caller-Destination-Number")
        direction = event.get("Call-Direction")
        if direction and not self.timeline:
            self.direction = direction
        self.action = self.action or event.variable(VAR_ACTION)
        self.extension = self.extension or event.variable(VAR_EXTENSION)
        self.owner = self.owner or event.variable(VAR_OWNER)
        self.language = self.language or language_code(event.variable(VAR_LANGUAGE))
        self.campaign = self.campaign or event.variable(VAR_CAMPAIGN)
        self.contact = self.contact or event.variable(VAR_CONTACT)
        self.flow = self.flow or event.variable(VAR_FLOW)
        ring = event.variable(VAR_RING_SECONDS)
        if ring and self.ring_seconds is None:
            try:
                self.ring_seconds = float(ring)
            except ValueError:
                pass

    def apply(self, event: EslEvent) -> tuple[Leg, LegState | None]:
        """Apply one ESL event: timeline entry, leg state, hangup details."""
        at = event_time(event)
        self.learn(event)
        leg = self.leg_for(event)
        data = {h: event.headers[h] for h in _TIMELINE_HEADERS if h in event.headers}
        self.note(event.key, at, leg.id, **data)
        if event.name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            leg.hangup_cause = event.get("Hangup-Cause") or leg.hangup_cause
            for attr, var in (("billsec", "billsec"), ("duration", "duration")):
                raw = event.variable(var)
                if raw and raw.isdigit():
                    setattr(leg, attr, int(raw))
        if event.name == "CHANNEL_BRIDGE" and leg.id == self.id:
            other = event.get("Other-Leg-Unique-ID")
            other_leg = self.legs.get(other or "")
            if other_leg is None or other_leg.role in ("extension", "operator", "other"):
                self.bridged_to_human = True
        inp = input_for(event)
        if inp is None:
            return leg, None
        return leg, leg.apply(inp, at)

    def to_bot(self, at: datetime) -> LegState | None:
        new = self.caller_leg.apply(Input.TO_BOT, at)
        if new is not None:
            self.note("handover_to_bot", at, self.id)
        return new

    def force_hangup(self, at: datetime, cause: str, reason: str) -> list[Leg]:
        """End every live leg without an event (reconciliation after an outage)."""
        ended = []
        for leg in self.legs.values():
            if leg.live:
                leg.hangup_cause = leg.hangup_cause or cause
                leg.apply(Input.HANGUP, at)
                ended.append(leg)
        self.note("reconciled_hangup", at, None, reason=reason, cause=cause)
        return ended
