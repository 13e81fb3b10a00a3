"""Flow documents: the shipped examples are valid; a broken one says every problem and
where; what will fall back at run time is a warning."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from callcontrol.flows.model import FlowError, parse, schema, warnings

EXAMPLES = Path(str(resources.files("callcontrol.flows") / "examples"))


@pytest.mark.parametrize(
    "name", ["payment_reminder", "appointment_reminder", "delivery_confirmation"]
)
def test_the_examples_are_valid_flows_and_match_the_schema(name: str) -> None:
    text = (EXAMPLES / f"{name}.yaml").read_text()
    flow = parse(text)
    assert flow.start in flow.nodes
    jsonschema.validate(yaml.safe_load(text), schema())


def test_the_payment_reminder_warns_only_of_the_briefing_it_says_in_english() -> None:
    flow = parse((EXAMPLES / "payment_reminder.yaml").read_text())
    fields = ["name", "amount", "due_date", "loan_id", "agent_extension"]
    assert warnings(flow, ["en", "es"], fields) == [
        "nodes.agent.briefing: no 'es' text; said in 'en'"
    ]
    assert warnings(flow, ["en"], ["name"]) == [
        "nodes.agent.briefing: no field 'amount' in the contacts",
        "nodes.agent.briefing: no field 'due_date' in the contacts",
        "nodes.agent.briefing: no field 'loan_id' in the contacts",
        "nodes.amount.text: no field 'amount' in the contacts",
        "nodes.amount.text: no field 'due_date' in the contacts",
        "nodes.greet.text: no field 'loan_id' in the contacts",
        "nodes.thanks.say: no field 'due_date' in the contacts",
    ]


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse(text)
    return caught.value.problems


def test_links_answers_and_reachability_are_checked() -> None:
    found = problems(
        """
name: broken
start: ask
nodes:
  ask: {type: ask, prompt: "Pay?", expect: yes_no, branches: {"yes": ok, maybe: ok}}
  ok: {type: hangup}
  lost: {type: say, text: "never said", next: nowhere}
"""
    )
    assert "nodes.ask.branches.maybe: not an answer of yes_no (no, yes)" in found
    assert "nodes.ask: nothing follows no (add branches or next)" in found
    assert "nodes.lost.next: no node 'nowhere'" in found


def test_an_unreachable_node_and_a_bad_template_are_reported() -> None:
    assert problems(
        """
name: x
start: a
nodes:
  a: {type: hangup, say: "Bye {name:shout}"}
  b: {type: hangup}
"""
    ) == ["nodes.b: never reached from 'a'"]
    assert problems(
        """
name: x
start: a
nodes:
  a: {type: hangup, say: "Bye {name:shout}"}
"""
    ) == ["nodes.a.say: {name:shout} — formats are money, date, time, number, digits"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed", "not YAML or JSON at line 1"),
        ("- a list", "a flow is a mapping"),
        ("name: x\nstart: a\nnodes: {a: {type: dance}}", "nodes.a: Input tag 'dance'"),
        (
            "name: x\nstart: a\nnodes: {a: {type: say, text: hi}}",
            "nodes.a.say.next: Field required",
        ),
        ("name: x\nstart: b\nnodes: {a: {type: hangup}}", "start: no node 'b'"),
    ],
)
def test_errors_say_where(text: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(text)), problems(text)


def test_a_text_per_language_needs_the_flows_own() -> None:
    assert problems(
        """
name: x
language: en
start: a
nodes:
  a: {type: hangup, say: {es: "Adiós"}}
"""
    ) == ["nodes.a.say: no text in the flow's language 'en'"]
