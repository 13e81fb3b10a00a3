"""The dialog policy: what the bot makes of a caller's utterance, per call.

The session owns a conversation's *mechanics* — listening, speculation, barge-in,
playback, the hold and the human desk. A policy owns its *content*: what an utterance
asks for and what to say back. Today's policy is question answering from the owner's
knowledge with hand-over to a person (:class:`~callcontrol.dialog.qa.QaPolicy`); a
scripted flow is another policy, chosen per call when the conversation is opened
(:meth:`~callcontrol.dialog.conversations.Conversations.open`), without touching the
session.

A policy writes its decisions on the :class:`~callcontrol.dialog.attempt.TurnAttempt`:

* ``attempt.classify(kind, reason)`` — a question, goodbye, a person wanted (with the
  reason), or nothing usable (``Input.QUESTION``/``GOODBYE``/``WANTS_PERSON``/``EMPTY_TURN``);
* ``attempt.passages = …`` — what the answer rests on (kept with the turn, shown to an
  operator on a hand-over);
* ``attempt.decide(verdict)`` — ``"answer"``, ``"low_confidence"`` (a person should
  answer) or ``"not_a_question"``;
* ``await attempt.say(segments)`` — the reply's audio, phrase by phrase.

The attempt may be cancelled at any await (the caller kept talking): a policy must
keep no state that a cancelled attempt would leave half-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from callcontrol.pipeline.base import ChatMessage, Transcript

if TYPE_CHECKING:
    from callcontrol.dialog.attempt import TurnAttempt


@dataclass(frozen=True, slots=True)
class TurnContext:
    """Where an utterance was said: whose line, what was said before, the output rate."""

    owner: str | None
    history: Sequence[ChatMessage]
    sample_rate: int


class DialogPolicy(Protocol):
    async def hearing_prompt(self, owner: str | None) -> str | None:
        """Words to bias speech recognition with (names, terms), or None."""
        ...

    async def respond(
        self, attempt: TurnAttempt, transcript: Transcript, context: TurnContext
    ) -> None:
        """Classify and answer one transcribed utterance (see the module's docstring)."""
        ...
