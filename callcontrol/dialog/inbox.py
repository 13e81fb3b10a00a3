"""What a dialog session's one task takes, in order, from its inbox."""

from __future__ import annotations

from dataclasses import dataclass

from callcontrol.dialog.attempt import TurnAttempt
from callcontrol.dialog.machine import Input, State
from callcontrol.dialog.reply import Reply
from callcontrol.hitl.base import HitlOutcome
from callcontrol.media.base import PlaybackEvent
from callcontrol.media.endpoint import EndpointEvent

# The machine's states in which the bot's voice is (about to be) on the line: caller
# speech then is a barge-in, judged by the endpointer's stricter rule.
BOT_TALKING = frozenset(
    {
        State.GREETING,
        State.REPROMPTING,
        State.THINKING,
        State.SPEAKING,
        State.PROMPTING,
        State.TRANSFERRING,
    }
)
# Inputs that belong to one reply: once that reply was cancelled they mean nothing.
REPLY_INPUTS = frozenset({Input.REPLY_DONE, Input.REPLY_AUDIO, Input.LOW_CONFIDENCE})


@dataclass(frozen=True, slots=True)
class Endpoint:
    event: EndpointEvent


@dataclass(frozen=True, slots=True)
class Transcribed:
    attempt: TurnAttempt


@dataclass(frozen=True, slots=True)
class Feed:
    inp: Input
    run: Reply | None = None


@dataclass(frozen=True, slots=True)
class Human:
    outcome: HitlOutcome


@dataclass(frozen=True, slots=True)
class Keyed:
    """A key the caller pressed (DTMF)."""

    digit: str


@dataclass(frozen=True, slots=True)
class Transferred:
    """A transfer the flow asked for: put through, or not."""

    ok: bool


@dataclass(frozen=True, slots=True)
class Playback:
    event: PlaybackEvent


Message = Endpoint | Transcribed | Feed | Human | Keyed | Transferred | Playback
