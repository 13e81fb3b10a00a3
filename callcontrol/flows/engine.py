"""Walking a flow: pure, no I/O. A :class:`FlowState` is where a call is in its flow;
each function returns the next state and the :class:`Step` the call takes now — what to
say, then what to wait for (an answer, digits, questions) or how it ends (hang up with an
outcome, or a transfer). Say, set and branch nodes are passed through on the way.

The dialog commits a state only when the turn that produced it is final (an answer
being spoken may be cancelled by the caller talking on), so nothing here mutates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from callcontrol.flows.intents import Answer
from callcontrol.flows.model import (
    AnswerQuestions,
    Ask,
    Branch,
    CollectDtmf,
    Expect,
    Flow,
    Hangup,
    Say,
    SetFields,
    Text,
    Transfer,
)
from callcontrol.flows.render import pick, render

MAX_PASS_THROUGH = 64  # say/set/branch nodes in a row before a flow is called a loop
DONT_CALL = {
    "en": "Understood. We will not call you again. Goodbye.",
    "es": "Entendido. No le volveremos a llamar. Adiós.",
    "ko": "알겠습니다. 다시 연락드리지 않겠습니다. 안녕히 계세요.",
    "hi": "समझ गए। हम आपको फिर से कॉल नहीं करेंगे। नमस्ते।",
}


@dataclass(frozen=True, slots=True)
class Listen:
    node: str
    expect: Expect
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Digits:
    node: str
    min_digits: int
    max_digits: int
    terminator: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Questions:
    node: str


@dataclass(frozen=True, slots=True)
class End:
    outcome: str


@dataclass(frozen=True, slots=True)
class TransferTo:
    to: str
    warm: bool
    briefing: str
    outcome: str
    node: str


Wait = Listen | Digits | Questions


@dataclass(frozen=True, slots=True)
class Step:
    say: tuple[str, ...] = ()
    wait: Wait | None = None
    end: End | TransferTo | None = None

    @property
    def text(self) -> str:
        return " ".join(t for t in self.say if t)


@dataclass(frozen=True, slots=True)
class FlowState:
    node: str
    tries: int = 0
    questions: int = 0
    fields: Mapping[str, str] = field(default_factory=dict)  # what the flow stored
    outcome: str | None = None
    path: tuple[str, ...] = ()  # nodes visited, in order (kept with the contact)


class FlowRun:
    """One call's flow: its document, its language and the contact's fields."""

    def __init__(self, flow: Flow, language: str, values: Mapping[str, Any]) -> None:
        self.flow = flow
        self.language = language
        self.values = dict(values)

    # -- texts ------------------------------------------------------------------------
    def text(self, template: Text | None, state: FlowState) -> str:
        if template is None:
            return ""
        chosen = pick(template, self.language, self.flow.language)
        return render(chosen, {**self.values, **state.fields}, self.language)

    # -- walking ----------------------------------------------------------------------
    def begin(self) -> tuple[FlowState, Step]:
        return self._walk(FlowState(self.flow.start), self.flow.start, ())

    def _walk(
        self, state: FlowState, node_id: str, said: tuple[str, ...]
    ) -> tuple[FlowState, Step]:
        for _ in range(MAX_PASS_THROUGH):
            node = self.flow.nodes[node_id]
            state = replace(state, node=node_id, tries=0, path=(*state.path, node_id))
            if isinstance(node, Say):
                said = (*said, self.text(node.text, state))
                node_id = node.next
            elif isinstance(node, SetFields):
                fields = dict(state.fields)
                for key, template in node.fields.items():
                    fields[key] = self.text(template, state)
                state = replace(state, fields=fields, outcome=node.outcome or state.outcome)
                node_id = node.next
            elif isinstance(node, Branch):
                value = str({**self.values, **state.fields}.get(node.field, ""))
                node_id = node.cases.get(value, node.cases.get(value.lower(), node.default))
            elif isinstance(node, Ask):
                step = Step(
                    (*said, self.text(node.prompt, state)),
                    Listen(node_id, node.expect, node.timeout_s),
                )
                return state, step
            elif isinstance(node, CollectDtmf):
                wait = Digits(
                    node_id, node.min_digits, node.max_digits, node.terminator, node.timeout_s
                )
                return state, Step((*said, self.text(node.prompt, state)), wait)
            elif isinstance(node, AnswerQuestions):
                return state, Step((*said, self.text(node.prompt, state)), Questions(node_id))
            elif isinstance(node, Transfer):
                to = render(node.to, {**self.values, **state.fields}, self.language)
                spec = TransferTo(
                    to, node.warm, self.text(node.briefing, state), node.outcome, node_id
                )
                state = replace(state, outcome=node.outcome)
                return state, Step((*said, self.text(node.say, state)), end=spec)
            elif isinstance(node, Hangup):
                # A hang-up's own outcome, unless it is the default and the flow set one.
                explicit = node.outcome != "completed"
                outcome = node.outcome if explicit else (state.outcome or node.outcome)
                state = replace(state, outcome=outcome)
                return state, Step((*said, self.text(node.say, state)), end=End(outcome))
        raise RuntimeError(
            f"flow {self.flow.name!r} passes {MAX_PASS_THROUGH} nodes without asking"
        )

    def _retry(
        self, state: FlowState, node: Ask | CollectDtmf, why: Text | None
    ) -> tuple[FlowState, Step]:
        if state.tries >= node.retries:
            if node.on_failure is not None:
                return self._walk(state, node.on_failure, ())
            state = replace(state, outcome="no_answer")
            return state, Step(end=End("no_answer"))
        state = replace(state, tries=state.tries + 1)
        prompt = self.text(node.prompt, state)
        wait: Wait
        if isinstance(node, Ask):
            wait = Listen(state.node, node.expect, node.timeout_s)
        else:
            wait = Digits(
                state.node, node.min_digits, node.max_digits, node.terminator, node.timeout_s
            )
        return state, Step((self.text(why, state), prompt), wait)

    # -- what the call heard ----------------------------------------------------------
    def answered(self, state: FlowState, answer: Answer | None) -> tuple[FlowState, Step]:
        """The caller answered the question the flow waits on (None: not understood)."""
        node = self.flow.nodes[state.node]
        if answer is not None and answer.label == "dont_call":
            state = replace(state, outcome="dnc")
            text = DONT_CALL.get(self.language.split("-")[0], DONT_CALL["en"])
            return state, Step((text,), end=End("dnc"))
        if not isinstance(node, Ask):
            return state, Step()
        if answer is None:
            return self._retry(state, node, node.no_match)
        fields = dict(state.fields)
        if node.store:
            fields[node.store] = answer.value
        state = replace(state, fields=fields)
        target = node.branches.get(answer.label) or node.next
        if target is None:  # validation makes every answer lead somewhere
            return self._retry(state, node, node.no_match)
        return self._walk(state, target, ())

    def silent(self, state: FlowState) -> tuple[FlowState, Step]:
        """Nothing was said (or keyed) in time."""
        node = self.flow.nodes[state.node]
        if isinstance(node, Ask):
            return self._retry(state, node, node.no_input)
        if isinstance(node, CollectDtmf):
            return self._retry(state, node, node.no_match)
        if isinstance(node, AnswerQuestions):
            return self._walk(state, node.next, ())
        return state, Step()

    def keyed(self, state: FlowState, digits: str) -> tuple[FlowState, Step]:
        """The caller keyed ``digits`` (terminator taken off) at a DTMF node."""
        node = self.flow.nodes[state.node]
        if not isinstance(node, CollectDtmf):
            return state, Step()
        if not node.min_digits <= len(digits) <= node.max_digits or (
            node.branches and digits not in node.branches and node.next is None
        ):
            return self._retry(state, node, node.no_match)
        fields = dict(state.fields)
        if node.store:
            fields[node.store] = digits
        state = replace(state, fields=fields)
        target = node.branches.get(digits) or node.next
        assert target is not None
        return self._walk(state, target, ())

    def questioned(self, state: FlowState, done: bool) -> tuple[FlowState, Step]:
        """At an answer_questions node: one more question answered, or none left."""
        node = self.flow.nodes[state.node]
        if not isinstance(node, AnswerQuestions):
            return state, Step()
        asked = state.questions + (0 if done else 1)
        if done or asked >= node.max_questions:
            return self._walk(replace(state, questions=asked), node.next, ())
        return replace(state, questions=asked), Step(wait=Questions(state.node))

    def transfer_failed(self, state: FlowState) -> tuple[FlowState, Step]:
        node = self.flow.nodes[state.node]
        if isinstance(node, Transfer) and node.on_failure is not None:
            return self._walk(replace(state, outcome=None), node.on_failure, ())
        state = replace(state, outcome="transfer_failed")
        return state, Step(end=End("transfer_failed"))
