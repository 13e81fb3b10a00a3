"""``call_direct``'s wait for the bot's reply: the pure state on scripted event sequences,
and the client against a scripted dialog server (no models)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from callcontrol.media.base import AudioOutput, ForkConsumer, MediaLink
from callcontrol.media.direct_client import CallEnd, ReplyWait, call_direct, last_speech_frame
from callcontrol.media.direct_wire import DirectHello, direct_event
from callcontrol.media.fork_server import ForkServer
from tests.fakes.media import FakeRegistry

from .test_direct import SECRET, settings


def started(wait: ReplyWait, at: float, text: str = "") -> None:
    wait.on_event({"type": "playback", "event": "started", "id": "p", "text": text}, at)


def finished(wait: ReplyWait, at: float) -> None:
    wait.on_event({"type": "playback", "event": "finished", "id": "p"}, at)


def turn(wait: ReplyWait, at: float, speaker: str, text: str, interrupted: bool = False) -> None:
    wait.on_event(
        {"type": "turn", "speaker": speaker, "text": text, "interrupted": interrupted}, at
    )


def audio(wait: ReplyWait, start: float, end: float) -> None:
    """Bot audio frames every 20 ms from ``start`` to ``end``."""
    for at in np.arange(start, end, 0.02):
        wait.on_audio(float(at))


def ends(wait: ReplyWait, times: list[float]) -> list[CallEnd | None]:
    return [wait.check(t, file_sent=True) for t in times]


def greeting_cut_by_the_caller(wait: ReplyWait) -> None:
    """The greeting starts at once; the clip starts with speech and barges in at 0.3 s;
    its last speech frame goes out at 3.78 s (the file is 3.8 s)."""
    started(wait, 0.1, "Hello, thanks for calling.")
    audio(wait, 0.1, 0.3)
    wait.on_event({"type": "clear", "playedMs": 200}, 0.3)
    turn(wait, 0.31, "bot", "Hello,", interrupted=True)
    assert wait.check(1.0, file_sent=False) is None
    wait.speech_sent(3.78)


def test_waits_for_the_reply_to_a_question_that_barged_in_on_the_greeting() -> None:
    wait = ReplyWait(0.0, expects_speech=True, linger_s=3.0)
    greeting_cut_by_the_caller(wait)
    # The old rule ended here: nothing playing, quiet for 3.5 s > linger_s.
    assert wait.waiting_for == "the transcript of the caller's last words"
    assert ends(wait, [3.8, 6.0, 8.0]) == [None, None, None]
    turn(wait, 4.6, "caller", "When is the weekly meeting?")
    assert wait.waiting_for == "the bot's reply"
    assert ends(wait, [5.0, 8.0]) == [None, None]
    started(wait, 5.4, "The weekly meeting is on Monday at 10 am in room 3.")
    audio(wait, 5.4, 8.4)
    assert ends(wait, [6.0]) == [None]
    finished(wait, 8.5)
    turn(wait, 8.51, "bot", "The weekly meeting is on Monday at 10 am in room 3.")
    assert wait.waiting_for is None
    assert ends(wait, [9.0, 11.0, 11.52]) == [None, None, CallEnd.ANSWERED]


def test_a_stale_bot_turn_after_the_caller_turn_is_not_the_reply() -> None:
    """A caller turn can cut the greeting after it was recorded (greeting → question): the
    greeting's bot turn then follows the caller turn, before the answer has even started."""
    wait = ReplyWait(0.0, expects_speech=True, linger_s=3.0)
    started(wait, 0.1, "Hello, thanks for calling.")
    audio(wait, 0.1, 2.0)
    wait.speech_sent(2.0)
    turn(wait, 2.6, "caller", "When is the weekly meeting?")
    wait.on_event({"type": "clear", "playedMs": 2500}, 2.61)
    turn(wait, 2.62, "bot", "Hello, thanks for calling.", interrupted=True)
    assert wait.waiting_for == "the bot's reply"
    assert ends(wait, [6.0, 9.0]) == [None, None]  # a slow LLM: still waiting
    started(wait, 9.5)
    audio(wait, 9.5, 11.0)
    finished(wait, 11.0)
    turn(wait, 11.01, "bot", "On Monday.")
    assert ends(wait, [13.0, 14.02]) == [None, CallEnd.ANSWERED]


def test_a_file_of_silence_ends_after_the_greeting() -> None:
    wait = ReplyWait(0.0, expects_speech=False, linger_s=3.0)
    started(wait, 0.1, "Hello, thanks for calling.")
    audio(wait, 0.1, 2.9)
    assert ends(wait, [1.0]) == [None]  # a short file: the greeting is still playing
    finished(wait, 3.0)
    turn(wait, 3.01, "bot", "Hello, thanks for calling. How can I help you?")
    assert wait.waiting_for is None
    assert ends(wait, [4.0, 6.0, 6.02]) == [None, None, CallEnd.QUIET]


def test_hand_off_waits_for_the_hold_phrase_and_the_follow_up_promise() -> None:
    wait = ReplyWait(0.0, expects_speech=True, linger_s=3.0)
    greeting_cut_by_the_caller(wait)
    turn(wait, 4.6, "caller", "Can I talk to a person please?")
    wait.on_event({"type": "handoff", "reason": "caller_request"}, 4.62)
    started(wait, 4.65, "Let me check that with a colleague, please hold.")
    audio(wait, 4.65, 7.0)
    finished(wait, 7.0)
    started(wait, 7.0, "I could not reach a colleague right now.")  # queued behind it
    turn(wait, 7.01, "bot", "Let me check that with a colleague, please hold.")
    assert wait.waiting_for == "the hand-off to a person"
    audio(wait, 7.0, 10.0)
    finished(wait, 10.0)
    turn(wait, 10.01, "bot", "I could not reach a colleague right now. Someone will call you back.")
    assert wait.waiting_for is None
    assert ends(wait, [12.0, 13.02]) == [None, CallEnd.ANSWERED]


def test_hand_off_to_an_operator_who_answers_later() -> None:
    """No reply timeout while on hold (the server bounds the wait); the operator's answer,
    rephrased by the bot, is the reply."""
    wait = ReplyWait(0.0, expects_speech=True, linger_s=3.0, reply_timeout_s=10.0)
    greeting_cut_by_the_caller(wait)
    turn(wait, 4.6, "caller", "Can I talk to a person please?")
    wait.on_event({"type": "handoff", "reason": "caller_request"}, 4.62)
    started(wait, 4.65)
    audio(wait, 4.65, 7.0)
    finished(wait, 7.0)
    turn(wait, 7.01, "bot", "Let me check that with a colleague, please hold.")
    assert ends(wait, [10.1, 20.0, 39.0]) == [None, None, None]
    turn(wait, 40.0, "operator", "Room 3, on Monday.")
    assert wait.waiting_for == "the bot's reply"
    assert ends(wait, [42.0]) == [None]
    started(wait, 41.5)
    audio(wait, 41.5, 44.0)
    finished(wait, 44.0)
    turn(wait, 44.01, "bot", "It is on Monday in room 3.")
    assert ends(wait, [46.0, 47.02]) == [None, CallEnd.ANSWERED]


def test_max_s_caps_the_wait() -> None:
    wait = ReplyWait(0.0, expects_speech=True, linger_s=3.0, max_s=60.0)
    greeting_cut_by_the_caller(wait)
    turn(wait, 4.6, "caller", "Can I talk to a person please?")
    wait.on_event({"type": "handoff", "reason": "caller_request"}, 4.62)
    started(wait, 4.65)
    finished(wait, 7.0)
    turn(wait, 7.01, "bot", "Let me check that with a colleague, please hold.")
    assert ends(wait, [59.9, 60.0]) == [None, CallEnd.TIMEOUT]
    assert wait.waiting_for == "the hand-off to a person"
    # ... and a file longer than max_s is cut
    assert ReplyWait(0.0, expects_speech=True, max_s=5).check(5.0, file_sent=False) is (
        CallEnd.TIMEOUT
    )


def test_an_utterance_the_server_drops_ends_after_the_reply_timeout() -> None:
    """The server reports no dropped utterance (a cough): a bounded wait."""
    wait = ReplyWait(0.0, expects_speech=True, linger_s=3.0, reply_timeout_s=10.0)
    started(wait, 0.1)
    audio(wait, 0.1, 3.0)
    finished(wait, 3.0)
    turn(wait, 3.01, "bot", "Hello, thanks for calling. How can I help you?")
    wait.speech_sent(4.0)
    assert ends(wait, [7.5, 13.9]) == [None, None]
    assert ends(wait, [14.0]) == [CallEnd.NO_REPLY]
    assert wait.waiting_for == "the transcript of the caller's last words"


def test_a_turn_without_a_reply_ends_after_the_reply_timeout() -> None:
    wait = ReplyWait(0.0, expects_speech=True, linger_s=3.0, reply_timeout_s=10.0)
    greeting_cut_by_the_caller(wait)
    turn(wait, 4.6, "caller", "When is the weekly meeting?")
    assert ends(wait, [14.5, 14.6]) == [None, CallEnd.NO_REPLY]
    assert wait.waiting_for == "the bot's reply"


def test_earlier_caller_turns_are_not_the_last_words() -> None:
    """A turn that arrives before the file's last speech went out is for earlier words."""
    wait = ReplyWait(0.0, expects_speech=True, linger_s=1.0)
    turn(wait, 2.0, "caller", "Hello.")
    started(wait, 2.5)
    finished(wait, 3.0)
    turn(wait, 3.01, "bot", "Hi!")
    wait.speech_sent(5.0)
    assert wait.waiting_for == "the transcript of the caller's last words"
    assert ends(wait, [6.5]) == [None]
    turn(wait, 6.6, "caller", "When is the weekly meeting?")
    started(wait, 7.0)
    finished(wait, 8.0)
    turn(wait, 8.01, "bot", "On Monday.")
    assert ends(wait, [9.02]) == [CallEnd.ANSWERED]


def test_a_server_without_turns_ends_when_playback_has_been_quiet() -> None:
    wait = ReplyWait(0.0, expects_speech=True, linger_s=0.5)
    wait.speech_sent(1.0)
    started(wait, 1.2)
    assert ends(wait, [2.0]) == [None]
    finished(wait, 1.5)
    assert wait.waiting_for is None
    assert ends(wait, [1.9, 2.0]) == [None, CallEnd.QUIET]


def test_last_speech_frame() -> None:
    quiet = np.zeros(160 * 10, np.int16)
    assert last_speech_frame(quiet, 160) is None
    assert last_speech_frame(np.zeros(0, np.int16), 160) is None
    loud = quiet.copy()
    loud[320:480] = 2000
    loud[1590:] = 1000  # the last 10 samples: RMS 250 over its frame, below the level
    assert last_speech_frame(loud, 160) == 2
    assert last_speech_frame(np.full(170, 3000, np.int16), 160) == 1  # a partial last frame


# --- the client against a scripted dialog server -------------------------------------


class ScriptedBot:
    """A dialog server's side of a direct call, without models: it greets; loud caller
    audio over the greeting barges in; 0.3 s of quiet after the caller's words makes a
    caller turn, then a pause (thinking, longer than the client's linger) and the reply."""

    def __init__(self, link: MediaLink, output: AudioOutput, *, goodbye: bool = False) -> None:
        self.link, self.output, self.goodbye = link, output, goodbye
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task[None]] = set()
        self.speaking = False  # the caller, as this bot's crude VAD hears it
        self.quiet_samples = 0
        self.greeting = self.spawn(self.say("Hello, thanks for calling.", 1.5))

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def say(self, text: str, seconds: float) -> None:
        handle = await self.output.play(np.full(int(8000 * seconds), 800, np.int16), 8000, text)
        result = await handle.wait()
        await self.link.send_text(
            direct_event("turn", speaker="bot", text=text, interrupted=result.interrupted)
        )

    async def answer(self) -> None:
        await self.link.send_text(
            direct_event("turn", speaker="caller", text="When is the weekly meeting?")
        )
        await asyncio.sleep(0.6)
        if self.goodbye:
            await self.say("Goodbye.", 0.2)
            await self.link.close(1000, "goodbye")
        else:
            await self.say("On Monday.", 0.3)

    def on_audio(self, samples: np.ndarray, sample_rate: int) -> bool:
        loud = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) >= 300
        if loud:
            if not self.speaking and not self.greeting.done():
                self.spawn(self.output.clear())
            self.speaking, self.quiet_samples = True, 0
        elif self.speaking:
            self.quiet_samples += len(samples)
            if self.quiet_samples >= 0.3 * sample_rate:
                self.speaking = False
                self.spawn(self.answer())
        return True

    def on_text(self, text: str) -> None:
        pass

    def on_close(self, code: int, reason: str) -> None:
        for task in self.tasks:
            task.cancel()


class ScriptedRegistry(FakeRegistry):
    goodbye: bool = False

    def open_direct(
        self, call_id: str, hello: DirectHello, link: MediaLink, output: AudioOutput
    ) -> ForkConsumer | None:
        return ScriptedBot(link, output, goodbye=self.goodbye)


def question() -> np.ndarray:
    """0.4 s of 'speech' from the first sample, as the clip that barges in on the greeting."""
    return np.full(3200, 3000, np.int16)


@pytest.mark.parametrize("realtime", [True, False])
async def test_the_client_waits_for_the_reply_after_a_barge_in(realtime: bool) -> None:
    registry = ScriptedRegistry()
    events: list[dict[str, Any]] = []
    async with ForkServer(registry, settings(), direct=registry, host="127.0.0.1") as srv:
        result = await call_direct(
            f"ws://127.0.0.1:{srv.port}/direct",
            question(),
            8000,
            owner="test",
            token=SECRET,
            realtime=realtime,
            linger_s=0.3,
            max_s=30,
            on_event=events.append,
        )
    turns = [(e["speaker"], e["text"], e.get("interrupted")) for e in events if e["type"] == "turn"]
    assert turns == [
        ("bot", "Hello, thanks for calling.", True),
        ("caller", "When is the weekly meeting?", None),
        ("bot", "On Monday.", False),
    ]
    assert any(e["type"] == "clear" for e in events)
    assert result.ended is CallEnd.ANSWERED and result.waiting_for is None
    assert result.close_code == 1000


async def test_the_bot_hanging_up_ends_the_call() -> None:
    registry = ScriptedRegistry()
    registry.goodbye = True
    events: list[dict[str, Any]] = []
    async with ForkServer(registry, settings(), direct=registry, host="127.0.0.1") as srv:
        result = await call_direct(
            f"ws://127.0.0.1:{srv.port}/direct",
            question(),
            8000,
            owner="test",
            token=SECRET,
            realtime=False,
            linger_s=0.3,
            max_s=30,
            on_event=events.append,
        )
    assert [e["text"] for e in events if e["type"] == "turn"][-1] == "Goodbye."
    assert result.ended is CallEnd.HUNG_UP
    assert result.close_code == 1000 and result.close_reason == "goodbye"


async def test_the_client_gives_up_at_max_s() -> None:
    registry = ScriptedRegistry()
    async with ForkServer(registry, settings(), direct=registry, host="127.0.0.1") as srv:
        # the caller talks on (5 s, in real time): the call ends at max_s, in the file
        result = await call_direct(
            f"ws://127.0.0.1:{srv.port}/direct",
            np.full(8000 * 5, 3000, np.int16),
            8000,
            owner="test",
            token=SECRET,
            linger_s=0.3,
            max_s=0.5,
        )
    assert result.ended is CallEnd.TIMEOUT
