"""A scripted flow as the call's :class:`~callcontrol.dialog.policy.DialogPolicy`.

The flow leads: its first words replace the greeting; each answer is read against
what the current question expects (``intents.py``) and the walk's next words are the
reply; keys pressed fill a ``collect_dtmf`` node (or are said: "one two three four"
works too); silence re-asks the question or moves on; at an ``answer_questions`` node
the owner's knowledge answers (:class:`~callcontrol.dialog.qa.QaPolicy`) until the
caller has no more questions. A ``hangup`` closes the call with the flow's words, a
``transfer`` puts the caller through (warm: the person hears a briefing first).

Each attempt computes its next state and keeps it aside; only :meth:`commit` (the turn
is final) makes it the flow's state, so a cancelled speculative attempt changes nothing.
``on_change`` is told every committed state (the campaign keeps outcome and fields).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import structlog

from callcontrol.dialog.machine import Input
from callcontrol.dialog.policy import Close, Directive, Prompt, PutThrough, TurnContext
from callcontrol.dialog.qa import QaPolicy
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.flows.engine import (
    Digits,
    End,
    FlowRun,
    FlowState,
    Listen,
    Questions,
    Step,
    TransferTo,
    Wait,
)
from callcontrol.flows.intents import hearing_words, interpret, yes_no
from callcontrol.flows.model import Ask
from callcontrol.language import language_pack
from callcontrol.pipeline.base import Transcript
from callcontrol.pipeline.reply import FixedText, speak

if TYPE_CHECKING:
    from callcontrol.dialog.attempt import TurnAttempt

log = structlog.get_logger(__name__)

_SPOKEN_DIGITS = re.compile(r"\d")


def directive(step: Step) -> Directive | None:
    """How the dialog goes on after ``step``'s words."""
    if isinstance(step.end, End):
        return Close(step.text)
    if isinstance(step.end, TransferTo):
        return PutThrough(step.text, step.end.to, step.end.briefing if step.end.warm else "")
    if step.wait is not None:
        return Prompt(step.text)
    return None


class FlowPolicy:
    """A :class:`~callcontrol.dialog.policy.DialogPolicy` that plays one flow."""

    def __init__(
        self,
        voice: VoicePipeline,
        run: FlowRun,
        *,
        today: date,
        on_change: Callable[[FlowState, Step], None] | None = None,
    ) -> None:
        self.voice = voice
        self.run = run
        self.today = today
        self.pack = language_pack(run.language)
        self.qa = QaPolicy(voice)
        self._on_change = on_change
        self.state, first = run.begin()
        self._opening = first
        self.waiting: Wait | None = first.wait
        self.digits = ""
        self._pending: dict[int, tuple[FlowState, Step]] = {}

    # -- keeping a step ---------------------------------------------------------------
    def _keep(self, state: FlowState, step: Step) -> Directive | None:
        self.state, self.waiting, self.digits = state, step.wait, ""
        log.info(
            "flow step",
            flow=self.run.flow.name,
            node=state.node,
            outcome=state.outcome,
            ends=type(step.end).__name__ if step.end else None,
        )
        if self._on_change is not None:
            self._on_change(state, step)
        return directive(step)

    @property
    def ended(self) -> bool:
        return self.waiting is None

    # -- DialogPolicy -----------------------------------------------------------------
    def opening(self) -> str | None:
        if self._opening.end is not None:
            log.warning("a flow that ends before asking anything", flow=self.run.flow.name)
        return self._opening.text

    async def hearing_prompt(self, owner: str | None) -> str | None:
        """The owner's terms for questions; else the words the awaited answer takes."""
        wait = self.waiting
        if isinstance(wait, Questions):
            return await self.qa.hearing_prompt(owner)
        if isinstance(wait, Listen):
            node = self.run.flow.nodes[wait.node]
            choices = node.choices if isinstance(node, Ask) else {}
            return hearing_words(wait.expect, self.pack, choices)
        if isinstance(wait, Digits):
            return hearing_words("digits", self.pack)
        return None

    def _done_asking(self, text: str) -> bool:
        rules = self.pack.intents
        short = len(text.split()) <= rules.max_goodbye_words
        return bool(
            rules.done.match(text)
            or (short and rules.farewell.search(text))
            or (short and yes_no(text, self.pack) == "no")
        )

    def _next(self, transcript: Transcript) -> tuple[FlowState, Step] | None:
        """What the flow does with this utterance (None: a question for the knowledge)."""
        wait, text = self.waiting, transcript.text
        if isinstance(wait, Questions):
            node = self.run.flow.nodes[wait.node]
            limit = getattr(node, "max_questions", 1)
            if self._done_asking(text) or self.state.questions >= limit:
                return self.run.questioned(self.state, done=True)
            return None
        if isinstance(wait, Listen):
            node = self.run.flow.nodes[wait.node]
            choices = node.choices if isinstance(node, Ask) else {}
            answer = interpret(text, wait.expect, self.pack, today=self.today, choices=choices)
            return self.run.answered(self.state, answer)
        if isinstance(wait, Digits):
            said = "".join(_SPOKEN_DIGITS.findall(text))  # "one two three four" → 1234
            if said:
                return self.run.keyed(self.state, said[: wait.max_digits])
            return self.run.silent(self.state)
        return self.state, Step()  # the flow is over: nothing more to say

    async def respond(
        self, attempt: TurnAttempt, transcript: Transcript, context: TurnContext
    ) -> None:
        found = self._next(transcript)
        if found is None:  # a question at an answer_questions node
            self._pending[id(attempt)] = self.run.questioned(self.state, done=False)
            await self.qa.respond(attempt, transcript, context)
            return
        state, step = found
        self._pending[id(attempt)] = (state, step)
        if step.end is not None:
            # Said by the dialog's goodbye or transfer, once the turn is final.
            attempt.classify(Input.GOODBYE if isinstance(step.end, End) else Input.TRANSFER)
            attempt.decide("not_a_question")
            return
        attempt.classify(Input.QUESTION)
        if not step.text:
            attempt.decide("not_a_question")
            return
        attempt.decide("answer")
        await attempt.say(
            speak(
                FixedText(step.text),
                self.voice.tts,
                [],
                sample_rate=context.sample_rate,
                language=self.run.language,
                sentence_rules=self.pack.sentences,
            )
        )

    def commit(self, attempt: TurnAttempt) -> Directive | None:
        pending = self._pending.pop(id(attempt), None)
        self._pending.clear()  # other attempts of this turn were cancelled
        if pending is None:
            return None
        found = self._keep(*pending)
        # The reply says a question's words itself; only an end needs the dialog.
        return found if isinstance(found, (Close, PutThrough)) else None

    def silence(self) -> Directive | None:
        if self.waiting is None:
            return None
        if isinstance(self.waiting, Digits) and self.digits:
            return self._keep(*self.run.keyed(self.state, self.digits))
        return self._keep(*self.run.silent(self.state))

    def dtmf(self, digit: str) -> Directive | None:
        wait = self.waiting
        if not isinstance(wait, Digits):
            return None
        if wait.terminator and digit == wait.terminator:
            return self._keep(*self.run.keyed(self.state, self.digits))
        self.digits += digit
        if len(self.digits) >= wait.max_digits:
            return self._keep(*self.run.keyed(self.state, self.digits))
        return None

    def transfer_failed(self) -> Directive | None:
        return self._keep(*self.run.transfer_failed(self.state))
