"""The call state machine's table, and a call fed real-looking event sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcontrol.calls.cdr import build_cdr
from callcontrol.calls.machine import TRANSITIONS, Input, LegState, transition
from callcontrol.calls.model import Call
from callcontrol.esl.protocol import EslEvent

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def ev(name: str, uuid: str, at: float, **headers: str) -> EslEvent:
    stamp = int((T0 + timedelta(seconds=at)).timestamp() * 1_000_000)
    base = {"Event-Name": name, "Unique-ID": uuid, "Event-Date-Timestamp": str(stamp)}
    return EslEvent(name, {**base, **headers})


def test_every_live_state_can_hang_up_and_hangup_is_terminal() -> None:
    for state in LegState:
        if state is LegState.HANGUP:
            assert all(transition(state, i) is None for i in Input)
        else:
            assert transition(state, Input.HANGUP) is LegState.HANGUP


def test_table_has_only_the_designed_paths() -> None:
    # to_bot needs an answered call; a bridge needs an answered (or bot) call.
    assert transition(LegState.RINGING, Input.TO_BOT) is None
    assert transition(LegState.CREATED, Input.BRIDGE) is None
    assert transition(LegState.BOT, Input.BRIDGE) is LegState.BRIDGED
    assert transition(LegState.BRIDGED, Input.UNBRIDGE) is LegState.ANSWERED
    targets = set(TRANSITIONS.values())
    assert targets == set(LegState) - {LegState.CREATED}


def test_inbound_call_to_bot_and_cdr() -> None:
    call = Call(id="a", created_at=T0)
    caller = {
        "Caller-Caller-ID-Number": "+15551234",
        "Caller-Destination-Number": "5000",
        "Call-Direction": "inbound",
        "variable_callcontrol_action": "bot",
        "variable_callcontrol_owner": "acme",
    }
    call.apply(ev("CHANNEL_CREATE", "a", 0, **caller))
    _, state = call.apply(ev("CHANNEL_PROGRESS", "a", 0.2))
    assert state is LegState.RINGING
    call.apply(ev("CHANNEL_PARK", "a", 0.3))
    _, state = call.apply(ev("CHANNEL_ANSWER", "a", 1.0))
    assert state is LegState.ANSWERED
    assert call.to_bot(T0 + timedelta(seconds=1.1)) is LegState.BOT
    # A second answer changes nothing but stays on the timeline.
    assert call.apply(ev("CHANNEL_ANSWER", "a", 1.2))[1] is None
    call.apply(ev("CHANNEL_HANGUP", "a", 31.0, **{"Hangup-Cause": "NORMAL_CLEARING"}))
    call.apply(
        ev(
            "CHANNEL_HANGUP_COMPLETE",
            "a",
            31.1,
            **{"Hangup-Cause": "NORMAL_CLEARING", "variable_billsec": "30"},
        )
    )
    assert call.ended and call.owner == "acme" and call.action == "bot"
    names = [e.name for e in call.timeline]
    assert names[:4] == ["CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PARK", "CHANNEL_ANSWER"]
    assert "handover_to_bot" in names
    assert all(a.at <= b.at for a, b in zip(call.timeline, call.timeline[1:], strict=False))
    cdr = build_cdr(call)
    assert cdr.caller == "+15551234" and cdr.callee == "5000"
    assert cdr.handled_by == "bot" and cdr.outcome == "bot"
    assert cdr.billsec_s == 30 and cdr.duration_s == 31
    assert cdr.answer_at == T0 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [("NO_ANSWER", "no_answer"), ("USER_BUSY", "busy"), ("ORIGINATOR_CANCEL", "abandoned")],
)
def test_unanswered_calls_have_zero_billsec_and_an_outcome(cause: str, outcome: str) -> None:
    call = Call(id="b", created_at=T0)
    call.apply(ev("CHANNEL_CREATE", "b", 0))
    call.apply(ev("CHANNEL_PROGRESS", "b", 0.1))
    call.apply(ev("CHANNEL_HANGUP_COMPLETE", "b", 10, **{"Hangup-Cause": cause}))
    cdr = build_cdr(call)
    assert cdr.billsec_s == 0 and cdr.duration_s == 10
    assert cdr.hangup_cause == cause and cdr.outcome == outcome and cdr.handled_by == "none"


def test_bridge_to_an_extension_is_human_handled() -> None:
    call = Call(id="a", created_at=T0)
    call.apply(ev("CHANNEL_CREATE", "a", 0))
    call.apply(ev("CHANNEL_ANSWER", "a", 1))
    call.apply(ev("CHANNEL_CREATE", "b", 1, **{"variable_callcontrol_role": "extension"}))
    _, state = call.apply(ev("CHANNEL_BRIDGE", "a", 2, **{"Other-Leg-Unique-ID": "b"}))
    assert state is LegState.BRIDGED
    assert call.legs["b"].role == "extension"
    assert call.handled_by == "human"


def test_force_hangup_ends_every_live_leg() -> None:
    call = Call(id="a", created_at=T0)
    call.apply(ev("CHANNEL_CREATE", "a", 0))
    call.apply(ev("CHANNEL_CREATE", "b", 0))
    ended = call.force_hangup(T0 + timedelta(seconds=5), "UNKNOWN", "test")
    assert {leg.id for leg in ended} == {"a", "b"} and call.ended
    assert call.timeline[-1].name == "reconciled_hangup"
