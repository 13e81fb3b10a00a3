"""The call/leg state machine: one transition table, no I/O.

Every channel (leg) of a call moves through the same states; the call's state is
its caller leg's state::

    created ──ring──▶ ringing ──answer──▶ answered ──bridge──▶ bridged
       │                 │                   │  ▲                 │
       │                 │                   │  └───unbridge──────┘
       │                 │                 to_bot
       │                 │                   ▼
       │                 │                  bot ──bridge──▶ bridged (an operator took over)
       └────────┴────────┴── hangup (from any live state) ──▶ hangup

Inputs that do not apply in a state (a second CHANNEL_ANSWER, a late PROGRESS)
change nothing; :func:`transition` returns ``None`` for them and the caller
keeps them on the timeline only.
"""

from __future__ import annotations

from enum import StrEnum

from callcontrol.esl.protocol import EslEvent


class LegState(StrEnum):
    CREATED = "created"
    RINGING = "ringing"
    ANSWERED = "answered"
    BRIDGED = "bridged"
    BOT = "bot"
    HANGUP = "hangup"


class Input(StrEnum):
    RING = "ring"
    ANSWER = "answer"
    BRIDGE = "bridge"
    UNBRIDGE = "unbridge"
    TO_BOT = "to_bot"
    HANGUP = "hangup"


S, I = LegState, Input  # noqa: E741 - keeps the table readable

TRANSITIONS: dict[tuple[LegState, Input], LegState] = {
    (S.CREATED, I.RING): S.RINGING,
    (S.CREATED, I.ANSWER): S.ANSWERED,
    (S.RINGING, I.ANSWER): S.ANSWERED,
    (S.ANSWERED, I.BRIDGE): S.BRIDGED,
    (S.ANSWERED, I.TO_BOT): S.BOT,
    (S.BRIDGED, I.UNBRIDGE): S.ANSWERED,
    (S.BOT, I.BRIDGE): S.BRIDGED,
    (S.CREATED, I.HANGUP): S.HANGUP,
    (S.RINGING, I.HANGUP): S.HANGUP,
    (S.ANSWERED, I.HANGUP): S.HANGUP,
    (S.BRIDGED, I.HANGUP): S.HANGUP,
    (S.BOT, I.HANGUP): S.HANGUP,
}

LIVE_STATES = frozenset(s for s in LegState if s is not S.HANGUP)

# Which ESL event drives which input.
EVENT_INPUTS: dict[str, Input] = {
    "CHANNEL_PROGRESS": I.RING,
    "CHANNEL_PROGRESS_MEDIA": I.RING,
    "CHANNEL_ANSWER": I.ANSWER,
    "CHANNEL_BRIDGE": I.BRIDGE,
    "CHANNEL_UNBRIDGE": I.UNBRIDGE,
    "CHANNEL_HANGUP": I.HANGUP,
    "CHANNEL_HANGUP_COMPLETE": I.HANGUP,
}


def transition(state: LegState, inp: Input) -> LegState | None:
    """The next state, or ``None`` when ``inp`` does not apply in ``state``."""
    return TRANSITIONS.get((state, inp))


def input_for(event: EslEvent) -> Input | None:
    return EVENT_INPUTS.get(event.name)
