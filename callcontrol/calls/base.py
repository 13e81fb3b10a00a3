"""Seams of call control: where call records go, and who takes a call for the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from callcontrol.calls.cdr import CdrRecord
from callcontrol.calls.model import Call, Leg, TimelineEntry

if TYPE_CHECKING:
    from callcontrol.calls.handle import CallHandle


class CallRecorder(Protocol):
    """Durable record of calls. Methods must not block: they queue."""

    def call(self, call: Call) -> None: ...

    def leg(self, call: Call, leg: Leg) -> None: ...

    def event(self, call: Call, entry: TimelineEntry) -> None: ...

    def cdr(self, record: CdrRecord) -> None: ...


class BotHandover(Protocol):
    """Receives calls that the bot should now talk to (answered, ready for media)."""

    async def start_bot(self, handle: CallHandle) -> None:
        """Start the bot on this call; return once it is started (it runs on its own)."""
        ...

    def refusal(self) -> str | None:
        """Why a call handed now would get no bot (its models failed to load…); None:
        it would (while the models load, a call waits for them)."""
        ...
