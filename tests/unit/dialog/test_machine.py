"""The dialog machine's table and the utterance classifier."""

from __future__ import annotations

import pytest

from callcontrol.dialog.machine import TABLE, Action, DialogMachine, Input, State, classify


def run(machine: DialogMachine, *inputs: Input) -> list[tuple[Action, ...]]:
    return [machine.feed(i) for i in inputs]


def test_a_question_answered_then_goodbye() -> None:
    m = DialogMachine()
    assert m.feed(Input.START) == (Action.SAY_GREETING,)
    assert m.feed(Input.PLAYBACK_DONE) == (Action.ARM_SILENCE,)
    assert m.state is State.LISTENING
    assert m.feed(Input.QUESTION) == (Action.DISARM_SILENCE, Action.ANSWER)
    assert m.feed(Input.REPLY_AUDIO) == () and m.state is State.SPEAKING
    assert m.feed(Input.REPLY_DONE) == (Action.ARM_SILENCE,) and m.state is State.LISTENING
    assert m.feed(Input.GOODBYE) == (Action.DISARM_SILENCE, Action.SAY_GOODBYE)
    assert m.feed(Input.PLAYBACK_DONE) == (Action.HANGUP, Action.STOP)
    assert m.state is State.ENDED


def test_barge_in_stops_playback_before_cancelling_generation() -> None:
    m = DialogMachine()
    run(m, Input.START, Input.PLAYBACK_DONE, Input.QUESTION, Input.REPLY_AUDIO)
    # Order matters: clearing first lets the output report how much was heard.
    assert m.feed(Input.BARGE_IN) == (Action.STOP_PLAYBACK, Action.CANCEL_REPLY)
    assert m.state is State.LISTENING


def test_silence_reprompts_then_says_goodbye() -> None:
    m = DialogMachine(max_reprompts=1)
    run(m, Input.START, Input.PLAYBACK_DONE)
    assert m.feed(Input.SILENCE) == (Action.SAY_REPROMPT,)
    assert m.state is State.REPROMPTING and m.reprompts == 1
    # The second wait starts when the re-prompt has been played, not when it starts.
    assert m.feed(Input.PLAYBACK_DONE) == (Action.ARM_SILENCE,)
    assert m.state is State.LISTENING
    assert m.feed(Input.SILENCE) == (Action.SAY_GOODBYE,)
    assert m.state is State.CLOSING


def test_speech_resets_the_reprompt_count() -> None:
    m = DialogMachine(max_reprompts=1)
    run(m, Input.START, Input.PLAYBACK_DONE, Input.SILENCE)
    run(m, Input.QUESTION, Input.REPLY_DONE)
    assert m.feed(Input.SILENCE) == (Action.SAY_REPROMPT,)


def test_low_confidence_goes_to_a_person_and_back() -> None:
    m = DialogMachine()
    run(m, Input.START, Input.PLAYBACK_DONE, Input.QUESTION)
    assert m.feed(Input.LOW_CONFIDENCE) == (
        Action.SAY_HOLD,
        Action.ASK_HUMAN,
        Action.ARM_REASSURANCE,
    )
    # Music once the hold phrase is said; an update stops it, and it comes back after.
    assert m.feed(Input.PLAYBACK_DONE) == (Action.START_MUSIC,)
    assert m.feed(Input.REASSURE) == (
        Action.STOP_MUSIC,
        Action.SAY_REASSURANCE,
        Action.ARM_REASSURANCE,
    )
    assert m.feed(Input.PLAYBACK_DONE) == (Action.START_MUSIC,)
    assert m.feed(Input.HUMAN_ANSWER) == (Action.STOP_PLAYBACK, Action.SAY_HUMAN_ANSWER)
    assert m.state is State.THINKING


def test_a_timed_out_wait_queues_the_follow_up_without_cutting_the_hold_phrase() -> None:
    m = DialogMachine()
    run(m, Input.START, Input.PLAYBACK_DONE, Input.WANTS_PERSON)
    assert m.state is State.HOLD
    assert m.feed(Input.HUMAN_UNAVAILABLE) == (Action.STOP_MUSIC, Action.SAY_FOLLOW_UP)


def test_nobody_at_the_desk_says_the_away_message_instead() -> None:
    m = DialogMachine()
    run(m, Input.START, Input.PLAYBACK_DONE, Input.WANTS_PERSON)
    assert m.feed(Input.HUMAN_AWAY) == (Action.STOP_MUSIC, Action.SAY_AWAY)
    assert m.state is State.THINKING
    with_voicemail = DialogMachine(voicemail=True)
    run(with_voicemail, Input.START, Input.PLAYBACK_DONE, Input.WANTS_PERSON)
    assert with_voicemail.feed(Input.HUMAN_AWAY) == (
        Action.STOP_MUSIC,
        Action.SAY_VOICEMAIL_PROMPT,
    )


def test_with_voicemail_nobody_to_answer_means_taking_a_message() -> None:
    m = DialogMachine(voicemail=True)
    run(m, Input.START, Input.PLAYBACK_DONE, Input.WANTS_PERSON)
    assert m.feed(Input.HUMAN_UNAVAILABLE) == (Action.STOP_MUSIC, Action.SAY_VOICEMAIL_PROMPT)
    assert m.state is State.VOICEMAIL
    assert m.feed(Input.QUESTION) == ()  # speech over the prompt is not a turn
    assert m.feed(Input.PLAYBACK_DONE) == (Action.START_RECORDING,)  # after the tone
    assert m.state is State.RECORDING
    assert m.feed(Input.MESSAGE_DONE) == (Action.STOP_RECORDING, Action.SAY_VOICEMAIL_THANKS)
    assert m.state is State.CLOSING
    assert m.feed(Input.PLAYBACK_DONE) == (Action.HANGUP, Action.STOP)


def test_a_caller_hanging_up_mid_message_leaves_it() -> None:
    m = DialogMachine(state=State.RECORDING, voicemail=True)
    actions = m.feed(Input.HANGUP)
    assert actions[0] is Action.STOP_RECORDING and Action.STOP in actions
    other = DialogMachine(state=State.HOLD, voicemail=True)
    assert Action.STOP_RECORDING not in other.feed(Input.HANGUP)


@pytest.mark.parametrize("state", [s for s in State if s is not State.ENDED])
@pytest.mark.parametrize("inp", [Input.HANGUP, Input.BRIDGED])
def test_the_call_can_end_in_every_state(state: State, inp: Input) -> None:
    m = DialogMachine(state=state)
    actions = m.feed(inp)
    assert m.state is State.ENDED and Action.STOP in actions and Action.CANCEL_REPLY in actions


def test_ended_takes_no_input_and_unlisted_inputs_change_nothing() -> None:
    assert not [key for key in TABLE if key[0] is State.ENDED]
    m = DialogMachine(state=State.CLOSING)
    assert m.feed(Input.QUESTION) == () and m.state is State.CLOSING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thank you. Goodbye.", Input.GOODBYE),
        ("okay bye bye!", Input.GOODBYE),
        ("That is all.", Input.GOODBYE),
        ("No thanks.", Input.GOODBYE),
        ("Can I talk to a person please?", Input.WANTS_PERSON),
        ("put me through to an agent", Input.WANTS_PERSON),
        ("I want a real human", Input.WANTS_PERSON),
        ("I need a refund", Input.WANTS_PERSON),
        ("When is the weekly meeting?", Input.QUESTION),
        (
            "Goodbye street is where, can you tell me how to get there from the station?",
            Input.QUESTION,
        ),
        ("  ...  ", Input.EMPTY_TURN),
    ],
)
def test_classify(text: str, expected: Input) -> None:
    kind, reason = classify(text, ["refund"])
    assert kind is expected
    if text == "I need a refund":
        assert reason == "sensitive"


@pytest.mark.parametrize(
    "text",
    [
        "No, that's not what I asked.",
        "That didn't help at all",
        "you didn't answer my question",
        "That is not right.",
        "Not what I meant, I asked about the price",
    ],
)
def test_an_answer_that_did_not_help_goes_to_a_person(text: str) -> None:
    assert classify(text, []) == (Input.WANTS_PERSON, "not_helpful")


@pytest.mark.parametrize(
    ("text", "earlier", "expected"),
    [
        # The same question again after an answer: it did not help.
        ("When is the weekly meeting?", "When is the weekly meeting?", "repeated"),
        ("So when is the weekly team meeting?", "When is the weekly team meeting?", "repeated"),
        # A follow-up or another question is not a repeat.
        ("And on Saturday?", "When do you open on weekdays?", None),
        ("Where is the weekly meeting?", "When is the weekly meeting room booked?", None),
        ("How much is parking for a day?", "When is the weekly meeting?", None),
    ],
)
def test_a_question_asked_again_after_its_answer_goes_to_a_person(
    text: str, earlier: str, expected: str | None
) -> None:
    kind, reason = classify(text, [], answered_question=earlier)
    assert reason == expected
    assert kind is (Input.WANTS_PERSON if expected else Input.QUESTION)
    assert classify(text, []) == (Input.QUESTION, None)  # nothing was answered before


def test_the_caller_answering_the_reprompt_is_heard() -> None:
    m = DialogMachine(max_reprompts=1)
    run(m, Input.START, Input.PLAYBACK_DONE, Input.SILENCE)
    assert m.feed(Input.BARGE_IN) == (Action.STOP_PLAYBACK, Action.DISARM_SILENCE)
    assert m.state is State.LISTENING and m.reprompts == 0
    run(m, Input.SILENCE)
    assert m.feed(Input.QUESTION) == (Action.STOP_PLAYBACK, Action.ANSWER)
    run(m, Input.REPLY_DONE, Input.SILENCE)
    assert m.feed(Input.GOODBYE) == (Action.STOP_PLAYBACK, Action.SAY_GOODBYE)
    assert m.state is State.CLOSING
