"""The flow document: YAML or JSON, validated at upload with errors that say where.

::

    name: payment-reminder
    language: en                 # the templates' default language
    start: greet
    nodes:
      greet:   {type: say, text: "Hello {name}, this is Acme Bank.", next: amount}
      amount:  {type: say, text: "You owe {amount:money} due on {due_date:date}.", next: can_pay}
      can_pay: {type: ask, prompt: "Can you pay by then?", expect: yes_no,
                branches: {"yes": thanks, "no": when}, on_failure: agent}
      ...

A text is one template or one per language (``{en: "…", es: "…"}``); ``{field}`` and
``{field:money|date|time|number}`` take the contact's fields and what the flow stored.
Every node names what comes next; the flow ends at a ``hangup`` or a ``transfer``.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Text = str | dict[str, str]
Expect = Literal["yes_no", "number", "date", "choice", "text"]
NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
FORMATS = ("money", "date", "time", "number", "digits")


class FlowError(ValueError):
    """A flow document that cannot run: every problem, each with where it is."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Say(_Node):
    type: Literal["say"]
    text: Text
    next: str


class Ask(_Node):
    type: Literal["ask"]
    prompt: Text
    expect: Expect
    # choice: label → words that mean it ({"reschedule": ["change", "move", "another day"]})
    choices: dict[str, list[str]] = Field(default_factory=dict)
    store: str | None = Field(None, pattern=NAME)  # the answer kept as this field
    branches: dict[str, str] = Field(default_factory=dict)  # answer label → node
    next: str | None = None  # any other (or every) answer
    retries: int = Field(2, ge=0, le=5)  # re-asks after no answer or one not understood
    no_match: Text | None = None  # said before a re-ask when the answer was not understood
    no_input: Text | None = None  # … when nothing was said
    on_failure: str | None = None  # out of retries (default: hang up, outcome no_answer)
    timeout_s: float = Field(6.0, gt=0, le=60)


class Branch(_Node):
    type: Literal["branch"]
    field: str = Field(pattern=NAME)
    cases: dict[str, str]  # value → node
    default: str


class AnswerQuestions(_Node):
    type: Literal["answer_questions"]
    prompt: Text | None = None  # "What would you like to know?"
    max_questions: int = Field(3, ge=1, le=20)
    next: str  # when the caller has no more questions (or after max_questions)


class CollectDtmf(_Node):
    type: Literal["collect_dtmf"]
    prompt: Text
    min_digits: int = Field(1, ge=1, le=32)
    max_digits: int = Field(1, ge=1, le=32)
    terminator: Literal["#", "*", ""] = "#"
    timeout_s: float = Field(8.0, gt=0, le=60)
    store: str | None = Field(None, pattern=NAME)
    branches: dict[str, str] = Field(default_factory=dict)  # digits → node
    next: str | None = None
    retries: int = Field(2, ge=0, le=5)
    no_match: Text | None = None
    on_failure: str | None = None


class Transfer(_Node):
    type: Literal["transfer"]
    to: str  # an extension or a number (a template: "{agent}")
    warm: bool = False  # the agent hears ``briefing`` before the caller is put through
    briefing: Text | None = None
    say: Text | None = None  # to the caller first ("Putting you through to an agent.")
    outcome: str = "agent_transfer"
    on_failure: str | None = None  # nobody answered (default: hang up)


class SetFields(_Node):
    type: Literal["set"]
    fields: dict[str, str] = Field(default_factory=dict)  # field → template
    outcome: str | None = None
    next: str


class Hangup(_Node):
    type: Literal["hangup"]
    say: Text | None = None
    outcome: str = "completed"


Node = Annotated[
    Say | Ask | Branch | AnswerQuestions | CollectDtmf | Transfer | SetFields | Hangup,
    Field(discriminator="type"),
]


class Flow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    start: str
    nodes: dict[str, Node]

    @model_validator(mode="after")
    def _links(self) -> Flow:
        problems = link_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def texts(self) -> Iterable[tuple[str, str, Text]]:
        """Every text of the flow: (node, field, text)."""
        for node_id, node in self.nodes.items():
            for name in ("text", "prompt", "no_match", "no_input", "briefing", "say"):
                value = getattr(node, name, None)
                if isinstance(value, (str, dict)):
                    yield node_id, name, value
            if isinstance(node, SetFields):
                for key, value in node.fields.items():
                    yield node_id, f"fields.{key}", value

    def languages(self) -> set[str]:
        found = {self.language}
        for _node, _field, text in self.texts():
            if isinstance(text, dict):
                found |= set(text)
        return found


def _targets(node: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in ("next", "on_failure", "default"):
        value = getattr(node, name, None)
        if isinstance(value, str):
            out.append((name, value))
    for name in ("branches", "cases"):
        for key, value in (getattr(node, name, None) or {}).items():
            out.append((f"{name}.{key}", value))
    return out


def link_problems(flow: Flow) -> list[str]:
    problems: list[str] = []
    if flow.start not in flow.nodes:
        problems.append(f"start: no node {flow.start!r}")
    for node_id, node in flow.nodes.items():
        if not re.match(NAME, node_id):
            problems.append(f"nodes.{node_id}: a node id is a letter then letters, digits, _ or -")
        for where, target in _targets(node):
            if target not in flow.nodes:
                problems.append(f"nodes.{node_id}.{where}: no node {target!r}")
        if isinstance(node, Ask):
            if node.expect == "choice" and not node.choices:
                problems.append(f"nodes.{node_id}.choices: a choice needs its options")
            labels = (
                {"yes", "no"}
                if node.expect == "yes_no"
                else set(node.choices)
                if node.expect == "choice"
                else set()
            )
            for label in node.branches:
                if labels and label not in labels:
                    problems.append(
                        f"nodes.{node_id}.branches.{label}: not an answer of {node.expect}"
                        f" ({', '.join(sorted(labels))})"
                    )
            if node.next is None and (not labels or labels - set(node.branches)):
                missing = sorted(labels - set(node.branches)) if labels else ["any answer"]
                problems.append(
                    f"nodes.{node_id}: nothing follows {', '.join(missing)} (add branches or next)"
                )
        if isinstance(node, CollectDtmf):
            if node.min_digits > node.max_digits:
                problems.append(f"nodes.{node_id}: min_digits is more than max_digits")
            if node.next is None and not node.branches:
                problems.append(f"nodes.{node_id}: nothing follows the digits (next or branches)")
    if not problems:
        reachable = _reachable(flow)
        for node_id in flow.nodes:
            if node_id not in reachable:
                problems.append(f"nodes.{node_id}: never reached from {flow.start!r}")
    return problems


def _reachable(flow: Flow) -> set[str]:
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        todo.extend(target for _where, target in _targets(flow.nodes[node_id]))
    return seen


def template_fields(text: str) -> list[tuple[str, str]]:
    """The ``{field}`` / ``{field:format}`` of a template, in order."""
    out = []
    for _lit, name, spec, _conv in string.Formatter().parse(text):
        if name is not None:
            out.append((name, spec or ""))
    return out


def parse(text: str) -> Flow:
    """A flow from its YAML or JSON text; :class:`FlowError` lists every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FlowError([f"not YAML or JSON{where}: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise FlowError(["a flow is a mapping with name, start and nodes"])
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        problems: list[str] = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.extend(f"{where}: {m}" if where else m for m in message.split("; "))
        raise FlowError(problems) from None
    problems = template_problems(flow)
    if problems:
        raise FlowError(problems)
    return flow


def template_problems(flow: Flow) -> list[str]:
    problems: list[str] = []
    for node_id, name, text in flow.texts():
        for lang, value in text.items() if isinstance(text, dict) else [(flow.language, text)]:
            try:
                fields = template_fields(value)
            except ValueError as exc:
                problems.append(f"nodes.{node_id}.{name}.{lang}: {exc}")
                continue
            for field, spec in fields:
                if not re.match(NAME, field):
                    problems.append(f"nodes.{node_id}.{name}: {{{field}}} is not a field name")
                if spec and spec not in FORMATS:
                    problems.append(
                        f"nodes.{node_id}.{name}: {{{field}:{spec}}} — formats are "
                        + ", ".join(FORMATS)
                    )
        if isinstance(text, dict) and flow.language not in text:
            problems.append(
                f"nodes.{node_id}.{name}: no text in the flow's language {flow.language!r}"
            )
    return problems


def warnings(flow: Flow, languages: Iterable[str] = (), fields: Iterable[str] = ()) -> list[str]:
    """What will fall back at run time: a language a text lacks (said in the flow's
    language) and fields the contacts do not have (said empty)."""
    out: list[str] = []
    wanted = set(languages) - {flow.language}
    known = set(fields)
    stored = {n.store for n in flow.nodes.values() if isinstance(n, (Ask, CollectDtmf)) and n.store}
    stored |= {k for n in flow.nodes.values() if isinstance(n, SetFields) for k in n.fields}
    for node_id, name, text in flow.texts():
        have = set(text) if isinstance(text, dict) else {flow.language}
        for lang in sorted(wanted - have):
            out.append(f"nodes.{node_id}.{name}: no {lang!r} text; said in {flow.language!r}")
        if known:
            for value in text.values() if isinstance(text, dict) else [text]:
                for field, _spec in template_fields(value):
                    if field not in known | stored | {"name", "phone"}:
                        out.append(f"nodes.{node_id}.{name}: no field {field!r} in the contacts")
    return sorted(set(out))


def schema() -> dict[str, Any]:
    """The JSON Schema of a flow document (``callcontrol flow schema``)."""
    return Flow.model_json_schema()


def dump(flow: Flow) -> str:
    return json.dumps(flow.model_dump(mode="json", exclude_defaults=True), indent=2)
