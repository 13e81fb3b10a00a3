"""What a :class:`~callcontrol.calls.actor.CallActor` takes from its queue, in order."""

from __future__ import annotations

from dataclasses import dataclass

from callcontrol.esl.protocol import EslEvent


@dataclass(frozen=True, slots=True)
class Timer:
    name: str


@dataclass(frozen=True, slots=True)
class OriginateDone:
    """The ring leg's originate ended: ``error`` is FreeSWITCH's reason when it failed."""

    leg_id: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NoticeDone:
    """The recording notice has played to the caller (or could not be played)."""


@dataclass(frozen=True, slots=True)
class Adopt:
    """A channel found by reconciliation or handed to us on an outbound socket."""

    event: EslEvent
    parked: bool


@dataclass(frozen=True, slots=True)
class Reconcile:
    """FreeSWITCH's channel list, requested at ``as_of`` (``time.monotonic``).

    Only legs seen before ``as_of`` are judged by it: a channel created while the
    reply was on its way is simply not in the list yet.
    """

    live_uuids: frozenset[str]
    reason: str
    as_of: float


@dataclass(frozen=True, slots=True)
class Gone:
    """The connection that controls this call closed."""

    reason: str


@dataclass(frozen=True, slots=True)
class Stamped:
    event: EslEvent
    received: float


Message = Stamped | Timer | OriginateDone | NoticeDone | Adopt | Reconcile | Gone
