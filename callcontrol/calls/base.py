"""Seams of call control: where call records go, who takes a call for the bot, and
what says a fixed phrase to a caller no bot talks to."""

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


class SpokenPrompts(Protocol):
    """Fixed phrases as files FreeSWITCH can play (``uuid_broadcast``), for calls no bot
    talks to — the recording notice before a caller is put through to a person."""

    async def prompt_file(self, text: str, language: str | None = None) -> str | None:
        """The path of a file saying ``text``, as FreeSWITCH sees it; None when nothing
        can say it (no voice loaded, nowhere shared to write): the caller of this says
        what happens instead."""
        ...
