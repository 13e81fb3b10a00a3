"""The conversation as one state machine: a single transition table, no I/O.

::

    greeting ─done─▶ listening ─question─▶ thinking ─audio─▶ speaking ─done─▶ listening
        │               │  │ ▲                 │  │              │
        │ barge-in      │  │ └──reprompt──┐    │  └─no answer────┤ barge-in ─▶ listening
        └──────────▶────┘  │   (silence)  │    │                 │
                           │              │    └─low confidence / person / sensitive ─▶ hold
                           └─silence, out of reprompts / goodbye ─▶ closing ─done─▶ ended
    hold ─answer─▶ speaking;  hold ─timeout─▶ speaking (follow-up promise)
    hold ─nobody at the desk─▶ speaking (away message);  either, voicemail on ─▶ voicemail
    any ─hangup / bridged to a person─▶ ended

A scripted flow (``flows/``) adds two ways on: ``prompting`` (the flow says its next
question unasked — after a keypad entry, a silence, a failed transfer — then listens)
and ``transferring`` (what the flow says before it puts the caller through, then the
transfer; put through: ended; not: the flow goes on).

The session feeds :class:`Input` values and performs the returned :class:`Action`\\ s.
Which silence input applies (re-prompt or give up) is decided here, from the
machine's own counter, before the table is consulted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from callcontrol.language import ENGLISH, LanguagePack
from callcontrol.pipeline.lexical import content_tokens


class State(StrEnum):
    GREETING = "greeting"
    LISTENING = "listening"
    REPROMPTING = "reprompting"  # "Are you still there?" is playing
    THINKING = "thinking"
    SPEAKING = "speaking"
    HOLD = "hold"
    PROMPTING = "prompting"  # the flow's next words, said without a question asked
    TRANSFERRING = "transferring"  # the flow puts the caller through to a person
    VOICEMAIL = "voicemail"  # nobody could answer: the prompt and the tone are playing
    RECORDING = "recording"  # the caller's message is being recorded
    CLOSING = "closing"
    ENDED = "ended"


class Input(StrEnum):
    START = "start"
    RESUME = "resume"  # the media came back mid-call: listen again, without a greeting
    PLAYBACK_DONE = "playback_done"  # everything queued has been played
    BARGE_IN = "barge_in"  # the caller talks over the bot
    QUESTION = "question"  # a turn ended with something to answer
    EMPTY_TURN = "empty_turn"  # speech that produced no usable text
    GOODBYE = "goodbye"  # the caller says goodbye
    WANTS_PERSON = "wants_person"  # "let me talk to a person", or a sensitive topic
    LOW_CONFIDENCE = "low_confidence"  # retrieval found nothing good enough
    REPLY_AUDIO = "reply_audio"  # the reply's first audio went out
    REPLY_DONE = "reply_done"  # generation finished and its audio was played
    SILENCE = "silence"  # the caller said nothing for a while
    SILENCE_REPROMPT = "silence_reprompt"
    SILENCE_GIVE_UP = "silence_give_up"
    HUMAN_ANSWER = "human_answer"
    HUMAN_UNAVAILABLE = "human_unavailable"  # the wait for a person timed out
    HUMAN_AWAY = "human_away"  # nobody at the desk at all (everyone away or offline)
    TAKE_MESSAGE = "take_message"  # resolved: HUMAN_UNAVAILABLE/AWAY with voicemail on
    MESSAGE_DONE = "message_done"  # the caller stopped talking, or the time is up
    REASSURE = "reassure"  # time to tell a waiting caller we are still on it
    PROMPT = "prompt"  # the flow speaks next, unasked (keypad entry, silence, transfer failed)
    TRANSFER = "transfer"  # the flow puts the caller through
    TRANSFER_FAILED = "transfer_failed"  # nobody took the call: the flow goes on
    HANGUP = "hangup"
    BRIDGED = "bridged"  # a person took the call over


class Action(StrEnum):
    SAY_GREETING = "say_greeting"
    SAY_REPROMPT = "say_reprompt"
    SAY_GOODBYE = "say_goodbye"
    SAY_HOLD = "say_hold"
    SAY_REASSURANCE = "say_reassurance"
    SAY_FOLLOW_UP = "say_follow_up"
    SAY_AWAY = "say_away"  # the away message: nobody at the desk, a call-back is noted
    SAY_HUMAN_ANSWER = "say_human_answer"
    SAY_PROMPT = "say_prompt"  # the flow's words (PROMPT)
    SAY_TRANSFER = "say_transfer"  # what the flow says before it puts the caller through
    TRANSFER = "transfer"  # put the caller through (blind, or warm with a briefing)
    SAY_VOICEMAIL_PROMPT = "say_voicemail_prompt"  # the prompt, then the tone
    SAY_VOICEMAIL_THANKS = "say_voicemail_thanks"
    START_RECORDING = "start_recording"  # keep the caller's audio; arm the limits
    STOP_RECORDING = "stop_recording"  # save, transcribe, attach to the follow-up
    ANSWER = "answer"  # run the turn: retrieval → LLM → TTS
    STOP_PLAYBACK = "stop_playback"  # barge-in: clear the output now (hold music too)
    START_MUSIC = "start_music"  # hold music, looped, until stopped
    STOP_MUSIC = "stop_music"  # only the hold music (a phrase still playing goes on)
    CANCEL_REPLY = "cancel_reply"  # stop generating
    ASK_HUMAN = "ask_human"
    CANCEL_HUMAN = "cancel_human"
    ARM_SILENCE = "arm_silence"
    DISARM_SILENCE = "disarm_silence"
    ARM_REASSURANCE = "arm_reassurance"
    HANGUP = "hangup"
    STOP = "stop"  # end the session (the call is gone or in human hands)


S, I, A = State, Input, Action  # noqa: E741 - keeps the table readable

# Handing a question to a person: the hold phrase, the question sent, the first spoken
# update scheduled (pipeline.hold_updates_s, counted from now).
_TO_HOLD = (A.SAY_HOLD, A.ASK_HUMAN, A.ARM_REASSURANCE)

TABLE: dict[tuple[State, Input], tuple[State, tuple[Action, ...]]] = {
    (S.GREETING, I.START): (S.GREETING, (A.SAY_GREETING,)),
    (S.GREETING, I.PLAYBACK_DONE): (S.LISTENING, (A.ARM_SILENCE,)),
    (S.GREETING, I.RESUME): (S.LISTENING, (A.ARM_SILENCE,)),
    (S.GREETING, I.BARGE_IN): (S.LISTENING, (A.STOP_PLAYBACK, A.DISARM_SILENCE)),
    (S.GREETING, I.QUESTION): (S.THINKING, (A.STOP_PLAYBACK, A.ANSWER)),
    (S.LISTENING, I.BARGE_IN): (S.LISTENING, (A.DISARM_SILENCE,)),
    (S.LISTENING, I.QUESTION): (S.THINKING, (A.DISARM_SILENCE, A.ANSWER)),
    (S.LISTENING, I.EMPTY_TURN): (S.LISTENING, (A.ARM_SILENCE,)),
    (S.LISTENING, I.GOODBYE): (S.CLOSING, (A.DISARM_SILENCE, A.SAY_GOODBYE)),
    (S.LISTENING, I.WANTS_PERSON): (S.HOLD, (A.DISARM_SILENCE, *_TO_HOLD)),
    # The next silence is counted from the end of the re-prompt, as from the greeting's.
    (S.LISTENING, I.SILENCE_REPROMPT): (S.REPROMPTING, (A.SAY_REPROMPT,)),
    (S.LISTENING, I.SILENCE_GIVE_UP): (S.CLOSING, (A.SAY_GOODBYE,)),
    (S.LISTENING, I.PLAYBACK_DONE): (S.LISTENING, ()),
    (S.REPROMPTING, I.PLAYBACK_DONE): (S.LISTENING, (A.ARM_SILENCE,)),
    (S.REPROMPTING, I.BARGE_IN): (S.LISTENING, (A.STOP_PLAYBACK, A.DISARM_SILENCE)),
    (S.REPROMPTING, I.QUESTION): (S.THINKING, (A.STOP_PLAYBACK, A.ANSWER)),
    (S.REPROMPTING, I.GOODBYE): (S.CLOSING, (A.STOP_PLAYBACK, A.SAY_GOODBYE)),
    (S.REPROMPTING, I.WANTS_PERSON): (S.HOLD, (A.STOP_PLAYBACK, *_TO_HOLD)),
    (S.THINKING, I.REPLY_AUDIO): (S.SPEAKING, ()),
    (S.THINKING, I.REPLY_DONE): (S.LISTENING, (A.ARM_SILENCE,)),
    (S.THINKING, I.LOW_CONFIDENCE): (S.HOLD, _TO_HOLD),
    (S.THINKING, I.WANTS_PERSON): (S.HOLD, _TO_HOLD),
    (S.THINKING, I.BARGE_IN): (S.LISTENING, (A.CANCEL_REPLY, A.STOP_PLAYBACK)),
    (S.THINKING, I.GOODBYE): (S.CLOSING, (A.CANCEL_REPLY, A.SAY_GOODBYE)),
    (S.SPEAKING, I.REPLY_DONE): (S.LISTENING, (A.ARM_SILENCE,)),
    (S.SPEAKING, I.PLAYBACK_DONE): (S.SPEAKING, ()),
    (S.SPEAKING, I.BARGE_IN): (S.LISTENING, (A.STOP_PLAYBACK, A.CANCEL_REPLY)),
    (S.SPEAKING, I.QUESTION): (S.THINKING, (A.STOP_PLAYBACK, A.CANCEL_REPLY, A.ANSWER)),
    (S.HOLD, I.HUMAN_ANSWER): (S.THINKING, (A.STOP_PLAYBACK, A.SAY_HUMAN_ANSWER)),
    # Nobody to ask (or the wait is over): the follow-up promise is queued after the hold
    # phrase, not cut into it; hold music is stopped for it.
    (S.HOLD, I.HUMAN_UNAVAILABLE): (S.THINKING, (A.STOP_MUSIC, A.SAY_FOLLOW_UP)),
    (S.HOLD, I.HUMAN_AWAY): (S.THINKING, (A.STOP_MUSIC, A.SAY_AWAY)),
    # The hold phrase or an update has been said: music until the next one.
    (S.HOLD, I.PLAYBACK_DONE): (S.HOLD, (A.START_MUSIC,)),
    (S.HOLD, I.REASSURE): (S.HOLD, (A.STOP_MUSIC, A.SAY_REASSURANCE, A.ARM_REASSURANCE)),
    (S.HOLD, I.GOODBYE): (S.CLOSING, (A.CANCEL_HUMAN, A.STOP_PLAYBACK, A.SAY_GOODBYE)),
    # Voicemail: prompt and tone, then the message until silence or the limit, thanks, bye.
    (S.HOLD, I.TAKE_MESSAGE): (S.VOICEMAIL, (A.STOP_MUSIC, A.SAY_VOICEMAIL_PROMPT)),
    (S.VOICEMAIL, I.PLAYBACK_DONE): (S.RECORDING, (A.START_RECORDING,)),
    (S.RECORDING, I.MESSAGE_DONE): (S.CLOSING, (A.STOP_RECORDING, A.SAY_VOICEMAIL_THANKS)),
    (S.CLOSING, I.PLAYBACK_DONE): (S.ENDED, (A.HANGUP, A.STOP)),
    (S.CLOSING, I.BARGE_IN): (S.CLOSING, ()),
    # A flow's words said unasked: like the greeting, then listening.
    (S.PROMPTING, I.PLAYBACK_DONE): (S.LISTENING, (A.ARM_SILENCE,)),
    (S.PROMPTING, I.BARGE_IN): (S.LISTENING, (A.STOP_PLAYBACK, A.DISARM_SILENCE)),
    (S.PROMPTING, I.QUESTION): (S.THINKING, (A.STOP_PLAYBACK, A.ANSWER)),
    (S.PROMPTING, I.GOODBYE): (S.CLOSING, (A.STOP_PLAYBACK, A.SAY_GOODBYE)),
    (S.PROMPTING, I.WANTS_PERSON): (S.HOLD, (A.STOP_PLAYBACK, *_TO_HOLD)),
    (S.TRANSFERRING, I.PLAYBACK_DONE): (S.TRANSFERRING, (A.TRANSFER,)),
    (S.TRANSFERRING, I.TRANSFER_FAILED): (S.PROMPTING, (A.SAY_PROMPT,)),
    (S.TRANSFERRING, I.GOODBYE): (S.CLOSING, (A.SAY_GOODBYE,)),
}
# The flow speaks next unasked, or puts the caller through, from wherever the caller is
# listening or being spoken to (a key pressed during a question cuts it short).
for _state, _stop in (
    (S.GREETING, (A.STOP_PLAYBACK,)),
    (S.LISTENING, (A.DISARM_SILENCE,)),
    (S.REPROMPTING, (A.STOP_PLAYBACK,)),
    (S.PROMPTING, (A.STOP_PLAYBACK,)),
    (S.THINKING, (A.CANCEL_REPLY, A.STOP_PLAYBACK)),
    (S.SPEAKING, (A.STOP_PLAYBACK, A.CANCEL_REPLY)),
):
    TABLE[(_state, I.PROMPT)] = (S.PROMPTING, (*_stop, A.SAY_PROMPT))
    TABLE[(_state, I.TRANSFER)] = (S.TRANSFERRING, (*_stop, A.SAY_TRANSFER))
    if (_state, I.GOODBYE) not in TABLE:
        TABLE[(_state, I.GOODBYE)] = (S.CLOSING, (*_stop, A.SAY_GOODBYE))
# Whatever the state: the call ended, or a person took it over.
for _state in State:
    if _state is not S.ENDED:
        # A message being recorded is kept when the caller hangs up (or is put through).
        keep = (A.STOP_RECORDING,) if _state is S.RECORDING else ()
        TABLE[(_state, I.HANGUP)] = (S.ENDED, (*keep, A.CANCEL_REPLY, A.CANCEL_HUMAN, A.STOP))
        TABLE[(_state, I.BRIDGED)] = (S.ENDED, (*keep, A.CANCEL_REPLY, A.CANCEL_HUMAN, A.STOP))


@dataclass(slots=True)
class DialogMachine:
    """Current state plus the counters the table's guards need."""

    max_reprompts: int = 1
    voicemail: bool = False  # nobody to answer: take a message (else the promise)
    state: State = State.GREETING
    reprompts: int = 0
    history: list[tuple[State, Input, State]] = field(default_factory=list)

    def feed(self, inp: Input) -> tuple[Action, ...]:
        """Apply ``inp``; returns the actions to perform (empty when it does not apply)."""
        if inp is Input.SILENCE:
            inp = (
                Input.SILENCE_REPROMPT
                if self.reprompts < self.max_reprompts
                else Input.SILENCE_GIVE_UP
            )
        elif inp in (Input.HUMAN_UNAVAILABLE, Input.HUMAN_AWAY) and self.voicemail:
            inp = Input.TAKE_MESSAGE
        entry = TABLE.get((self.state, inp))
        if entry is None:
            return ()
        new_state, actions = entry
        if inp is Input.SILENCE_REPROMPT:
            self.reprompts += 1
        elif inp in (Input.QUESTION, Input.BARGE_IN):
            self.reprompts = 0
        self.history.append((self.state, inp, new_state))
        self.state = new_state
        return actions


# -- classifying what the caller said ------------------------------------------------


def classify(
    text: str,
    sensitive_topics: list[str],
    language: LanguagePack = ENGLISH,
    *,
    answered_question: str | None = None,
) -> tuple[Input, str | None]:
    """What a caller's utterance asks for: (input, reason).

    The goodbye, "a person, please" and "that's not what I asked" patterns are the
    language pack's (:class:`~callcontrol.language.base.IntentRules`); sensitive topics
    are matched as word prefixes, in any language. ``answered_question``: the caller's
    previous question, when the bot answered it — asked again, nearly word for word,
    the answer did not help (``repeated``): a person takes it.
    """
    intents = language.intents
    cleaned = text.strip()
    if not re.search(r"\w", cleaned):
        return Input.EMPTY_TURN, None
    short = len(cleaned.split()) <= intents.max_goodbye_words
    if (short and intents.farewell.search(cleaned)) or intents.done.match(cleaned):
        return Input.GOODBYE, None
    if intents.person.search(cleaned):
        return Input.WANTS_PERSON, "caller_request"
    if intents.not_helpful.search(cleaned):
        return Input.WANTS_PERSON, "not_helpful"
    lowered = cleaned.lower()
    for topic in sensitive_topics:
        if topic and re.search(rf"\b{re.escape(topic.lower())}", lowered):
            return Input.WANTS_PERSON, "sensitive"
    if answered_question is not None and same_question(cleaned, answered_question):
        return Input.WANTS_PERSON, "repeated"
    return Input.QUESTION, None


def same_question(text: str, earlier: str) -> bool:
    """Whether ``text`` asks ``earlier`` again: (nearly) the same content words, at
    least two of them ("and on Saturday?" is a follow-up, not a repeat)."""
    now, before = set(content_tokens(text)), set(content_tokens(earlier))
    if len(now) < 2 or len(before) < 2:
        return False
    return len(now & before) / len(now | before) >= 0.75
