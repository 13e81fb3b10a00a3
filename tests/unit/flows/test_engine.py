"""Walking a flow: the payment reminder's every path, the delivery's keypad and
questions, retries, failures, and a flow that loops without asking."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from callcontrol.flows.engine import Digits, End, FlowRun, Listen, Questions, TransferTo
from callcontrol.flows.intents import Answer
from callcontrol.flows.model import parse

EXAMPLES = Path(str(resources.files("callcontrol.flows") / "examples"))
CONTACT = {
    "name": "Dana",
    "amount": "125.50",
    "due_date": "2026-12-10",
    "loan_id": "4017",
    "agent_extension": "1001",
}


def payment(language: str = "en") -> FlowRun:
    return FlowRun(parse((EXAMPLES / "payment_reminder.yaml").read_text()), language, CONTACT)


def test_the_reminder_greets_by_name_states_the_debt_and_asks() -> None:
    state, step = payment().begin()
    assert step.say == (
        "Hello Dana, this is Northgate Finance calling about your loan ending 4 0 1 7.",
        "A payment of one hundred and twenty-five dollars, fifty cents is due on "
        "December 10, 2026.",
        "Will you be able to make this payment by the due date?",
    )
    assert step.wait == Listen("can_pay", "yes_no", 6.0) and step.end is None
    assert state.node == "can_pay" and state.path == ("greet", "amount", "can_pay")


def test_yes_closes_with_the_promise_noted() -> None:
    run = payment()
    state, _ = run.begin()
    state, step = run.answered(state, Answer("yes", "yes"))
    assert step.end == End("will_pay") and state.outcome == "will_pay"
    assert (
        step.text
        == "Thank you, Dana. We have noted that you will pay by December 10, 2026. Goodbye."
    )
    assert state.fields == {"can_pay": "yes"}


def test_no_then_a_date_keeps_the_promised_date() -> None:
    run = payment()
    state, _ = run.begin()
    state, step = run.answered(state, Answer("no", "no"))
    assert step.wait == Listen("when", "date", 6.0)
    state, step = run.answered(state, Answer("date", "2026-12-18"))
    assert step.end == End("promised")
    assert state.fields == {"can_pay": "no", "promised_date": "2026-12-18"}
    assert step.text == "Thank you. I have noted a payment on December 18, 2026. Goodbye."
    assert state.path[-3:] == ("when", "promised", "confirm")


def test_not_understood_re_asks_then_goes_to_an_agent_warm() -> None:
    run = payment()
    state, _ = run.begin()
    for _ in range(2):  # retries: 2
        state, step = run.answered(state, None)
        assert step.say == (
            "Sorry, I did not catch that. Please say yes or no.",
            "Will you be able to make this payment by the due date?",
        )
    state, step = run.silent(state)  # a third failure, silent this time
    assert isinstance(step.end, TransferTo)
    assert step.end.to == "1001" and step.end.warm
    assert step.end.briefing.startswith("Payment reminder for Dana, loan 4 0 1 7")
    assert step.text == "Let me put you through to one of our team."
    assert state.outcome == "agent_transfer"
    # Nobody took it: the flow's fallback.
    state, step = run.transfer_failed(state)
    assert step.end == End("callback") and state.outcome == "callback"


def test_silence_says_the_no_input_words_before_the_question() -> None:
    run = payment()
    state, _ = run.begin()
    _, step = run.silent(state)
    assert step.say[0] == "Are you still there?"


def test_dont_call_me_ends_the_flow_with_dnc_in_the_callers_language() -> None:
    run = payment("es")
    state, step = run.begin()
    assert step.say[0].startswith("Hola Dana")
    state, step = run.answered(state, Answer("dont_call", "no me llamen"))
    assert step.end == End("dnc") and step.text.startswith("Entendido.")


def delivery() -> FlowRun:
    flow = parse((EXAMPLES / "delivery_confirmation.yaml").read_text())
    return FlowRun(
        flow, "en", {"name": "Lee", "order_id": "77", "address": "4 Elm Road", "date": "2026-12-05"}
    )


def test_delivery_keypad_then_questions_then_goodbye() -> None:
    run = delivery()
    state, step = run.begin()
    assert step.say[-1] == "Should we deliver it to 4 Elm Road?"
    state, step = run.answered(state, Answer("yes", "yes"))
    assert step.wait == Digits("slot", 1, 1, "", 8.0)
    state, step = run.keyed(state, "7")  # not an option: re-asked
    assert step.say[0] == "Sorry, please press 1 or 2."
    state, step = run.keyed(state, "2")
    assert step.wait == Questions("questions")
    assert step.text == (
        "Your delivery is booked for the afternoon. Do you have any questions about it?"
    )
    state, step = run.questioned(state, done=False)
    assert step.wait == Questions("questions") and state.questions == 1
    state, step = run.questioned(state, done=True)
    assert step.end == End("confirmed") and state.fields["slot"] == "2"
    assert step.text == "Thank you for choosing Swiftline. Goodbye."


def test_a_wrong_address_is_a_blind_transfer_to_the_contacts_agent() -> None:
    run = delivery()
    run.values["agent_extension"] = "2002"
    state, _ = run.begin()
    state, step = run.answered(state, Answer("no", "no"))
    assert isinstance(step.end, TransferTo) and not step.end.warm and step.end.to == "2002"


def test_a_flow_that_loops_without_asking_is_stopped() -> None:
    flow = parse(
        "name: loop\nstart: a\nnodes:\n"
        "  a: {type: say, text: one, next: b}\n  b: {type: say, text: two, next: a}\n"
    )
    with pytest.raises(RuntimeError, match="without asking"):
        FlowRun(flow, "en", {}).begin()
