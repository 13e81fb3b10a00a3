"""The routing table of one call: every transition, and what does not apply."""

from __future__ import annotations

import pytest

from callcontrol.calls.routing import (
    PASSING,
    TABLE,
    Action,
    Input,
    RoutingMachine,
    State,
    park_input,
)

S, I, A = State, Input, Action  # noqa: E741

TAKEOVER = (A.DISARM_NO_ANSWER, A.NOTE_TAKEOVER, A.CANCEL_RING)
GONE = (A.DISARM_NO_ANSWER, A.KILL_EXTENSION_LEGS, A.ARM_FINISH)
STEADY = [s for s in State if s not in PASSING]


def machine(state: State) -> RoutingMachine:
    return RoutingMachine(state=state)


# Every (state, input) the table knows, with where it ends and what it does, for a
# caller that is already answered / still ringing. Written out, not derived from TABLE.
EXPECTED: dict[tuple[State, Input], tuple[State, tuple[Action, ...], tuple[Action, ...]]] = {
    (S.UNROUTED, I.PARK_BOT): (
        S.BOT,
        (A.NOTE_ROUTE_BOT, A.HAND_TO_BOT),
        (A.NOTE_ROUTE_BOT, A.ANSWER),
    ),
    (S.UNROUTED, I.PARK_EXTENSION): (S.RINGING, (A.RING_EXTENSION,), (A.RING_EXTENSION,)),
    (S.UNROUTED, I.PARK_NO_EXTENSION): (
        S.BOT,
        (A.REFUSE_NO_EXTENSION, *TAKEOVER, A.HAND_TO_BOT),
        (A.REFUSE_NO_EXTENSION, *TAKEOVER, A.ANSWER),
    ),
    (S.UNROUTED, I.PARK_UNKNOWN): (S.REFUSED, (A.REFUSE_ROUTE,), (A.REFUSE_ROUTE,)),
    (S.ANSWERING, I.CALLER_ANSWERED): (S.BOT, (A.HAND_TO_BOT,), (A.HAND_TO_BOT,)),
    (S.RINGING, I.RING_ANSWERED): (
        S.BRIDGED,
        (A.DISARM_NO_ANSWER, A.NOTE_EXTENSION_ANSWERED, A.BRIDGE_EXTENSION),
        (A.DISARM_NO_ANSWER, A.NOTE_EXTENSION_ANSWERED, A.ANSWER, A.BRIDGE_EXTENSION),
    ),
    **{
        (S.RINGING, inp): (S.BOT, (*TAKEOVER, A.HAND_TO_BOT), (*TAKEOVER, A.ANSWER))
        for inp in (I.NO_ANSWER, I.RING_HUNG_UP, I.RING_GONE, I.ORIGINATE_FAILED)
    },
    **{
        (state, inp): (state, (A.CANCEL_RING,), (A.CANCEL_RING,))
        for state in (S.ANSWERING, S.BOT, S.ENDING, S.REFUSED)
        for inp in (I.RING_ANSWERED, I.RING_PROGRESS)
    },
    **{
        (state, I.ORIGINATE_OK): (state, (A.KILL_RING,), (A.KILL_RING,))
        for state in (S.ANSWERING, S.BOT, S.ENDING, S.REFUSED, S.FINISHED)
    },
    (S.ENDING, I.FINISH_TIMER): (S.FINISHED, (A.FINISH,), (A.FINISH,)),
    (S.NOTICE, I.NOTICE_DONE): (S.BRIDGED, (A.BRIDGE_EXTENSION,), (A.BRIDGE_EXTENSION,)),
    **{
        (S.NOTICE, inp): (
            S.BOT,
            (A.STOP_NOTICE, *TAKEOVER, A.HAND_TO_BOT),
            (A.STOP_NOTICE, *TAKEOVER, A.ANSWER),
        )
        for inp in (I.RING_HUNG_UP, I.RING_GONE)
    },
    **{
        (state, I.CALLER_GONE): (S.ENDING, GONE, GONE)
        for state in STEADY
        if state not in (S.ENDING, S.FINISHED)
    },
    **{
        (state, inp): (S.FINISHED, (A.FINISH,), (A.FINISH,))
        for state in STEADY
        if state is not S.FINISHED
        for inp in (I.HANGUP_COMPLETE, I.FORCE_END)
    },
    **{(state, I.DISOWNED): (S.FINISHED, (), ()) for state in STEADY if state is not S.FINISHED},
}


@pytest.mark.parametrize(("state", "inp"), sorted(EXPECTED))
@pytest.mark.parametrize("ringing", [False, True], ids=["caller_up", "caller_ringing"])
def test_every_transition(state: State, inp: Input, ringing: bool) -> None:
    end, up_actions, ringing_actions = EXPECTED[(state, inp)]
    m = machine(state)
    actions = m.feed(inp, caller_ringing=ringing)
    if end is S.BOT and ringing and ringing_actions[-1] is A.ANSWER:
        end = S.ANSWERING  # the bot waits for the caller's answer
    assert (m.state, actions) == (end, ringing_actions if ringing else up_actions)
    assert m.history[0][:2] == (state, inp)


def test_the_table_has_nothing_else() -> None:
    steady = {key for key in TABLE if key[0] not in PASSING}
    assert steady == set(EXPECTED)
    # Passing states are left by the caller's answer state (and to_bot by the bot's
    # absence), and by nothing else.
    passing = {key for key in TABLE if key[0] in PASSING}
    assert passing == {
        (state, inp) for state in PASSING for inp in (I.CALLER_ANSWERED, I.CALLER_RINGING)
    } | {(S.TO_BOT, I.BOT_UNAVAILABLE), (S.CONNECTING, I.NOTICE_DUE)}


@pytest.mark.parametrize("ringing", [False, True], ids=["caller_up", "caller_ringing"])
@pytest.mark.parametrize(
    ("state", "inp", "before"),
    [
        (S.UNROUTED, I.PARK_BOT, (A.NOTE_ROUTE_BOT,)),
        (S.UNROUTED, I.PARK_NO_EXTENSION, (A.REFUSE_NO_EXTENSION, *TAKEOVER)),
        (S.RINGING, I.NO_ANSWER, TAKEOVER),
        (S.RINGING, I.ORIGINATE_FAILED, TAKEOVER),
    ],
)
def test_with_no_bot_a_call_for_it_is_refused_never_answered(
    state: State, inp: Input, before: tuple[Action, ...], ringing: bool
) -> None:
    m = machine(state)
    actions = m.feed(inp, caller_ringing=ringing, bot_available=False)
    assert (m.state, actions) == (S.REFUSED, (*before, A.REFUSE_NO_BOT))
    assert A.ANSWER not in actions and A.HAND_TO_BOT not in actions


def test_a_bot_missing_later_changes_nothing_already_decided() -> None:
    m = machine(S.ANSWERING)  # answered for the bot while it was there
    assert m.feed(I.CALLER_ANSWERED, bot_available=False) == (A.HAND_TO_BOT,)
    assert m.state is S.BOT


@pytest.mark.parametrize("state", STEADY)
def test_inputs_that_do_not_apply_change_nothing(state: State) -> None:
    for inp in Input:
        if (state, inp) in TABLE:
            continue
        for ringing in (False, True):
            m = machine(state)
            assert m.feed(inp, caller_ringing=ringing) == ()
            assert m.state is state and m.history == []


def test_no_feed_leaves_the_machine_in_a_passing_state() -> None:
    for state, inp in TABLE:
        if state in PASSING:
            continue
        for ringing in (False, True):
            m = machine(state)
            m.feed(inp, caller_ringing=ringing)
            assert m.state not in PASSING


def test_finished_is_final_but_kills_a_late_ring_leg() -> None:
    m = machine(S.FINISHED)
    assert m.finished
    for inp in Input:
        actions = m.feed(inp)
        assert m.state is S.FINISHED
        assert actions == ((A.KILL_RING,) if inp is I.ORIGINATE_OK else ())


def test_a_bot_call_that_rings_is_answered_then_handed_over() -> None:
    m = RoutingMachine()
    assert m.feed(I.CALLER_ANSWERED) == ()  # not routed yet: an answer alone does nothing
    assert m.feed(I.PARK_BOT, caller_ringing=True) == (A.NOTE_ROUTE_BOT, A.ANSWER)
    assert m.state is S.ANSWERING
    assert m.feed(I.PARK_BOT) == ()  # routed once
    assert m.feed(I.CALLER_ANSWERED) == (A.HAND_TO_BOT,)
    assert m.feed(I.CALLER_ANSWERED) == ()  # a second answer event changes nothing
    assert m.feed(I.CALLER_GONE) == GONE
    assert m.feed(I.HANGUP_COMPLETE) == (A.FINISH,)
    assert m.feed(I.FINISH_TIMER) == ()
    assert [(a, i, b) for a, i, b in m.history] == [
        (S.UNROUTED, I.PARK_BOT, S.TO_BOT),
        (S.TO_BOT, I.CALLER_RINGING, S.ANSWERING),
        (S.ANSWERING, I.CALLER_ANSWERED, S.BOT),
        (S.BOT, I.CALLER_GONE, S.ENDING),
        (S.ENDING, I.HANGUP_COMPLETE, S.FINISHED),
    ]


def test_no_answer_takeover_then_the_extension_answers_too_late() -> None:
    m = RoutingMachine()
    assert m.feed(I.PARK_EXTENSION, caller_ringing=True) == (A.RING_EXTENSION,)
    assert m.feed(I.RING_PROGRESS, caller_ringing=True) == ()
    assert m.feed(I.NO_ANSWER, caller_ringing=True) == (*TAKEOVER, A.ANSWER)
    assert m.feed(I.NO_ANSWER) == ()  # one takeover
    assert m.feed(I.RING_HUNG_UP) == ()
    assert m.feed(I.ORIGINATE_FAILED) == ()
    assert m.feed(I.RING_ANSWERED) == (A.CANCEL_RING,)
    assert m.feed(I.RING_GONE) == ()  # after an outage: the takeover happened already
    assert m.feed(I.CALLER_ANSWERED) == (A.HAND_TO_BOT,)
    assert m.feed(I.RING_GONE) == ()
    assert m.feed(I.ORIGINATE_OK) == (A.KILL_RING,)
    assert m.state is S.BOT


def test_the_extension_answers_in_time() -> None:
    m = RoutingMachine()
    m.feed(I.PARK_EXTENSION)
    assert m.feed(I.RING_ANSWERED) == (
        A.DISARM_NO_ANSWER,
        A.NOTE_EXTENSION_ANSWERED,
        A.BRIDGE_EXTENSION,
    )
    for late in (I.NO_ANSWER, I.RING_HUNG_UP, I.RING_GONE, I.ORIGINATE_OK, I.CALLER_ANSWERED):
        assert m.feed(late) == ()
    assert m.state is S.BRIDGED
    assert m.feed(I.CALLER_GONE) == GONE
    assert m.feed(I.RING_ANSWERED) == (A.CANCEL_RING,)  # the caller is gone
    assert m.feed(I.FORCE_END) == (A.FINISH,)


@pytest.mark.parametrize("ringing", [False, True], ids=["caller_up", "caller_ringing"])
def test_a_recording_notice_plays_before_the_person_comes_on(ringing: bool) -> None:
    m = RoutingMachine()
    m.feed(I.PARK_EXTENSION)
    answered = (A.DISARM_NO_ANSWER, A.NOTE_EXTENSION_ANSWERED)
    first = (A.ANSWER, A.PLAY_NOTICE) if ringing else (A.PLAY_NOTICE,)
    assert m.feed(I.RING_ANSWERED, caller_ringing=ringing, notice=True) == (*answered, *first)
    assert m.state is S.NOTICE
    # Nothing bridges the person before the notice has played.
    for early in (I.CALLER_ANSWERED, I.ORIGINATE_OK, I.NO_ANSWER, I.RING_ANSWERED):
        assert m.feed(early, notice=True) == ()
    assert m.feed(I.NOTICE_DONE) == (A.BRIDGE_EXTENSION,)
    assert m.state is S.BRIDGED
    assert m.feed(I.NOTICE_DONE) == ()  # a late one changes nothing


def test_the_person_hangs_up_during_the_notice_and_the_bot_takes_the_call() -> None:
    m = RoutingMachine()
    m.feed(I.PARK_EXTENSION)
    m.feed(I.RING_ANSWERED, notice=True)
    assert m.feed(I.RING_HUNG_UP) == (A.STOP_NOTICE, *TAKEOVER, A.HAND_TO_BOT)
    assert m.feed(I.NOTICE_DONE) == ()  # the notice's end no longer bridges anyone
    assert m.state is S.BOT


def test_the_caller_hangs_up_during_the_notice() -> None:
    m = RoutingMachine()
    m.feed(I.PARK_EXTENSION)
    m.feed(I.RING_ANSWERED, notice=True)
    assert m.feed(I.CALLER_GONE) == GONE  # the waiting person's leg is hung up
    assert m.feed(I.NOTICE_DONE) == ()


def test_a_notice_matters_only_when_the_person_answers() -> None:
    m = RoutingMachine()
    assert m.feed(I.PARK_BOT, notice=True) == (A.NOTE_ROUTE_BOT, A.HAND_TO_BOT)


@pytest.mark.parametrize(
    ("action", "extension", "expected"),
    [
        (None, None, None),
        (None, "1001", None),
        ("bot", None, I.PARK_BOT),
        ("extension", "1001", I.PARK_EXTENSION),
        ("extension", None, I.PARK_NO_EXTENSION),
        ("extension", "", I.PARK_NO_EXTENSION),
        ("voicemail", "1001", I.PARK_UNKNOWN),
        ("", None, I.PARK_UNKNOWN),
    ],
)
def test_what_a_parked_caller_asks_for(
    action: str | None, extension: str | None, expected: Input | None
) -> None:
    assert park_input(action, extension) is expected
