r"""The dialog policy: what the bot makes of a caller's utterance, per call.

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
keep no state that a cancelled attempt would leave half-written. What an attempt
decided is kept when the session commits it (:meth:`~DialogPolicy.commit`: the turn
is final). A policy that leads the conversation (a scripted flow) also says what comes
next when the caller keys digits, stays silent, or a transfer fails — a
:data:`Directive` — and what the bot says first and last.
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


@dataclass(frozen=True, slots=True)
class Prompt:
    """Say ``text``, then listen."""

    text: str


@dataclass(frozen=True, slots=True)
class Close:
    """Say ``text``, then hang up."""

    text: str


@dataclass(frozen=True, slots=True)
class PutThrough:
    """Say ``text``, then put the caller through to ``to`` (an extension or a number);
    ``briefing``: what the person hears first (a warm transfer), or empty."""

    text: str
    to: str
    briefing: str = ""


Directive = Prompt | Close | PutThrough


class DialogPolicy(Protocol):
    async def hearing_prompt(self, owner: str | None) -> str | None:
        """Words to bias speech recognition with (names, terms), or None."""
        ...

    async def respond(
        self, attempt: TurnAttempt, transcript: Transcript, context: TurnContext
    ) -> None:
        """Classify and answer one transcribed utterance (see the module's docstring)."""
        ...

    def opening(self) -> str | None:
        """What the bot says first, instead of the owner's greeting (None: the greeting)."""
        ...

    def commit(self, attempt: TurnAttempt) -> Directive | None:
        """The turn is final: keep what ``attempt`` decided. A :class:`Close` or a
        :class:`PutThrough` ends the bot's part (the attempt was classified GOODBYE or
        TRANSFER and says nothing itself); None: listen after its reply."""
        ...

    def silence(self) -> Directive | None:
        """The caller said nothing for a while (None: the usual re-prompt or goodbye)."""
        ...

    def dtmf(self, digit: str) -> Directive | None:
        """The caller pressed a key (None: nothing to do with it yet)."""
        ...

    def transfer_failed(self) -> Directive | None:
        """Nobody took the call a :class:`PutThrough` rang (None: say goodbye)."""
        ...
