"""The seam between a bot conversation and the people behind it (human in the loop).

The dialog asks the desk a question and awaits the outcome; the desk (console
side) decides whether anyone is available, queues the request, and resolves it
when an operator answers or time runs out. Meanwhile the dialog keeps the
caller company (hold phrase, periodic reassurance).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from callcontrol.media.codecs import Int16Array

# low_confidence: retrieval was not sure; sensitive: a topic that always goes to a
# person; caller_request: "a person, please"; not_helpful: "that's not what I asked";
# repeated: the caller asked the same question again after it was answered.
Reason = Literal["low_confidence", "sensitive", "caller_request", "not_helpful", "repeated"]
Status = Literal["answered", "unavailable", "timeout", "cancelled"]


@dataclass(frozen=True, slots=True)
class HitlQuestion:
    call_id: str
    question: str
    reason: Reason
    owner: str | None = None
    caller_number: str | None = None
    # [{"speaker": "caller"|"bot", "text": …}, …] most recent last
    recent_turns: list[dict[str, Any]] = field(default_factory=list)
    # [{"text": …, "score": …, "title": …}, …] what retrieval found for the question
    retrieval: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HitlOutcome:
    status: Status
    request_id: str
    answer: str | None = None
    operator: str | None = None


class PhoneHandoff(Protocol):
    async def hand_off(
        self, question: HitlQuestion, briefing: bytes, sample_rate: int
    ) -> str | None:
        """Put the caller through to an available operator's phone, who first hears
        ``briefing`` (16-bit mono PCM); the operator's name once bridged, or None when
        nobody could take the call (then the question goes to the text desk)."""
        ...


class HitlDesk(Protocol):
    async def ask(self, question: HitlQuestion) -> HitlOutcome:
        """Hand ``question`` to a person.

        Returns at once with ``unavailable`` when no operator is available (the
        request then sits in the unresolved list for a follow-up); otherwise
        waits until an operator answers (``answered``) or the timeout passes
        (``timeout``, also left unresolved). If the awaiting task is cancelled
        (the caller hung up) the request is marked unresolved with that note.
        """
        ...

    async def attach_voicemail(
        self,
        request_id: str,
        audio: Int16Array,
        sample_rate: int,
        transcribe: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        """Keep the caller's message (16-bit mono PCM) with the unresolved request it
        follows, at once; then ``transcribe()`` it in the background (the call may be
        over by then) and add the text (the follow-up list shows both)."""
        ...
