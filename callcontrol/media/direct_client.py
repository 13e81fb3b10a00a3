"""A client of the direct endpoint: talk to the bot from a file, without a phone.

What ``callcontrol call FILE.wav`` needs::

    audio = read_wav("question.wav")
    result = await call_direct("ws://127.0.0.1:8765/direct", audio.mono(), audio.sample_rate,
                               owner="cli", on_event=print)
    write_wav("answer.wav", result.bot_audio, result.sample_rate)

The file is streamed in real time (20 ms frames) followed by silence, as a caller would,
until the bot has answered the caller's last words (:class:`ReplyWait` decides when).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from callcontrol.errors import MediaError
from callcontrol.media.codecs import Int16Array, pcm_bytes
from callcontrol.media.direct_wire import DirectHello, direct_event, parse_direct_event
from callcontrol.media.fork_wire import ForkWireError

# A 20 ms frame at least this loud (RMS, ≈ -40 dBFS) counts as the caller talking. Only the
# wait uses it: hiss above it costs at most ``reply_timeout_s`` of waiting for a turn that
# the server's VAD never makes; speech below it would end the call before the reply.
SPEECH_RMS: Final = 300.0


class CallEnd(StrEnum):
    """Why a direct call ended."""

    ANSWERED = "answered"  # the bot answered the caller's last words, then went quiet
    QUIET = "quiet"  # there was nothing to answer (a silent file); the bot went quiet
    NO_REPLY = "no_reply"  # no turn or reply came for reply_timeout_s (dropped as noise?)
    TIMEOUT = "timeout"  # max_s passed while still waiting
    HUNG_UP = "hung_up"  # the bot closed the call (it said goodbye)


@dataclass(slots=True)
class ReplyWait:
    """When a caller that has finished talking may hang up. Pure: the times are given.

    With a dialog server (one that sends ``turn`` events) the call goes on until a
    ``caller`` turn has arrived after the file's last speech was sent, the bot has played a
    reply after the last caller (or operator) turn and has reported it as a ``bot`` turn,
    a hand-off has been resolved (an operator's answer, or a second bot phrase after the
    hold phrase: the follow-up promise; the server does not say which phrase it is, so a
    "still looking" reassurance ends the wait too), nothing is playing and the server has
    been quiet for ``linger_s``. The server does not report utterances it drops (noise, a
    cough), nor a turn that gets no reply: after ``reply_timeout_s`` without a message
    while waiting for one the call ends as :attr:`CallEnd.NO_REPLY` (not during a
    hand-off, which the server bounds itself). A server that sends no turns ends once
    nothing has played for ``linger_s``. ``max_s`` bounds the whole call.
    """

    started: float
    expects_speech: bool  # the file holds something that sounds like speech
    linger_s: float = 3.0
    reply_timeout_s: float = 10.0
    max_s: float = 120.0
    last_message: float = -1.0  # set to ``started`` when negative
    playing: int = 0  # playbacks started and not finished
    dialog: bool = False  # the server reports turns
    speech_sent_at: float | None = None  # when the file's last speech frame went out
    heard_last: bool = False  # a caller turn arrived after that
    turns: int = 0  # caller and operator turns
    replying: bool = False  # a playback started since the last caller/operator turn
    answered: bool = False  # ... and a bot turn arrived after it
    holding: bool = False  # a hand-off is waiting for its outcome
    hold_phrases: int = 0  # bot turns since the hand-off

    def __post_init__(self) -> None:
        if self.last_message < 0:
            self.last_message = self.started

    def speech_sent(self, now: float) -> None:
        """The file's last frame of speech has just been sent."""
        self.speech_sent_at = now

    def on_audio(self, now: float) -> None:
        self.last_message = now

    def on_event(self, event: Mapping[str, Any], now: float) -> None:
        self.last_message = now
        kind = event.get("type")
        if kind == "playback":
            if event.get("event") == "started":
                self.playing += 1
                self.replying = True
            else:
                self.playing = max(0, self.playing - 1)
        elif kind == "clear":  # barge-in: the current playback ended, the queue is gone
            self.playing = 0
        elif kind == "handoff":
            self.dialog = True
            self.holding, self.hold_phrases = True, 0
        elif kind == "turn":
            self.dialog = True
            speaker = event.get("speaker")
            if speaker == "bot":
                self.answered = self.answered or self.replying
                if self.holding:
                    self.hold_phrases += 1
                    self.holding = self.hold_phrases < 2
            elif speaker in ("caller", "operator"):
                self.turns += 1
                self.replying = self.answered = False
                if speaker == "caller" and self.speech_sent_at is not None:
                    self.heard_last = True
                if speaker == "operator":
                    self.holding = False  # its answer is the reply to wait for

    @property
    def waiting_for(self) -> str | None:
        """What the call still waits for (None: only for the bot to go quiet)."""
        if not self.dialog:
            return None
        if self.holding:
            return "the hand-off to a person"
        if self.expects_speech and not self.heard_last:
            return "the transcript of the caller's last words"
        if self.turns and not self.answered:
            return "the bot's reply"
        return None

    def check(self, now: float, *, file_sent: bool) -> CallEnd | None:
        """Whether to end the call now (None: keep streaming)."""
        if now - self.started >= self.max_s:
            return CallEnd.TIMEOUT
        if not file_sent:
            return None
        if self.waiting_for is not None:
            if self.holding:
                return None
            since = max(self.last_message, self.speech_sent_at or self.last_message)
            return CallEnd.NO_REPLY if now - since >= self.reply_timeout_s else None
        if self.playing == 0 and now - self.last_message >= self.linger_s:
            return CallEnd.ANSWERED if self.turns else CallEnd.QUIET
        return None


@dataclass
class DirectCallResult:
    call_id: str
    sample_rate: int
    events: list[dict[str, Any]] = field(default_factory=list)
    bot_chunks: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    ended: CallEnd = CallEnd.QUIET
    waiting_for: str | None = None  # what was still missing when the call ended
    reply_timeout_s: float = 10.0

    @property
    def bot_audio(self) -> Int16Array:
        """Everything the bot sent, back to back (L16 mono at ``sample_rate``)."""
        return np.frombuffer(b"".join(self.bot_chunks), dtype="<i2").astype(np.int16)


def last_speech_frame(samples: Int16Array, step: int, level: float = SPEECH_RMS) -> int | None:
    """Index of the last ``step``-sample frame whose RMS reaches ``level`` (None: none)."""
    data = np.asarray(samples, dtype=np.float64)
    count = -(-len(data) // step)
    if count == 0:
        return None
    padded = np.zeros(count * step)
    padded[: len(data)] = data
    loud = np.flatnonzero(np.sqrt(np.mean(padded.reshape(count, step) ** 2, axis=1)) >= level)
    return int(loud[-1]) if len(loud) else None


async def call_direct(
    url: str,
    samples: Int16Array,
    sample_rate: int,
    *,
    owner: str,
    token: str | None = None,
    frame_ms: int = 20,
    realtime: bool = True,
    linger_s: float = 3.0,
    reply_timeout_s: float = 10.0,
    max_s: float = 120.0,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> DirectCallResult:
    """Stream ``samples`` to ``url``, then silence until the bot has answered; collect the
    bot's audio and events. ``max_s`` bounds the whole call (file included); see
    :class:`ReplyWait` for the rest. A bot that hangs up ends the call normally."""
    hello = DirectHello(owner=owner, sample_rate=sample_rate, token=token)
    step = sample_rate * frame_ms // 1000
    last_speech = last_speech_frame(samples, step)
    try:
        async with connect(url, compression=None, max_size=None) as ws:
            await ws.send(hello.to_json())
            ready, early = await _ready(ws)
            result = DirectCallResult(
                str(ready.get("callId", "")), sample_rate, reply_timeout_s=reply_timeout_s
            )
            wait = ReplyWait(
                time.monotonic(),
                expects_speech=last_speech is not None,
                linger_s=linger_s,
                reply_timeout_s=reply_timeout_s,
                max_s=max_s,
            )
            for message in early:
                _take(message, result, wait, on_event)
            receiver = asyncio.create_task(_receive(ws, result, wait, on_event))
            try:
                result.ended = await _send(
                    ws, samples, step, frame_ms, realtime, last_speech, wait, receiver
                )
                result.waiting_for = wait.waiting_for
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(direct_event("hangup"))
                await ws.close()
                await receiver
            finally:
                if not receiver.done():
                    receiver.cancel()
                    await asyncio.gather(receiver, return_exceptions=True)
            result.close_code, result.close_reason = ws.close_code, ws.close_reason
            return result
    except (OSError, ConnectionClosed, ForkWireError, TimeoutError) as exc:
        raise MediaError(f"direct call to {url} failed: {exc}") from exc


async def _send(
    ws: ClientConnection,
    samples: Int16Array,
    step: int,
    frame_ms: int,
    realtime: bool,
    last_speech: int | None,
    wait: ReplyWait,
    receiver: asyncio.Task[None],
) -> CallEnd:
    """Send the file (paced in real time unless ``realtime`` is false), then paced silence
    until ``wait`` says the call is over; a bot that closes the call ends it too."""
    silence = pcm_bytes(np.zeros(step, dtype=np.int16))
    data = pcm_bytes(np.asarray(samples, dtype=np.int16))
    frames = -(-len(data) // (step * 2))
    origin, paced = time.monotonic(), 0  # pacing: ``paced`` frames since ``origin``
    n = 0
    try:
        while True:
            if receiver.done():
                receiver.result()  # raises what broke the receiver (a bad event)
            ended = wait.check(time.monotonic(), file_sent=n >= frames)
            if ended is not None:
                return ended
            frame = data[n * step * 2 : (n + 1) * step * 2] if n < frames else silence
            await ws.send(frame)
            if n == last_speech:
                wait.speech_sent(time.monotonic())
            n += 1
            if not realtime and n <= frames:
                origin, paced = time.monotonic(), 0
                continue
            paced += 1
            delay = origin + paced * frame_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    except ConnectionClosedOK:
        return CallEnd.HUNG_UP


async def _ready(ws: ClientConnection) -> tuple[dict[str, Any], list[str | bytes]]:
    """The ``ready`` event, and what came before it (the bot may start its greeting first)."""
    early: list[str | bytes] = []
    async with asyncio.timeout(10):
        while True:
            message = await ws.recv()
            if isinstance(message, str):
                event = parse_direct_event(message)
                if event.get("type") == "ready":
                    return event, early
            early.append(message)


def _take(
    message: str | bytes,
    result: DirectCallResult,
    wait: ReplyWait,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> None:
    now = time.monotonic()
    if isinstance(message, bytes):
        result.bot_chunks.append(message)
        wait.on_audio(now)
        return
    event = parse_direct_event(message)
    result.events.append(event)
    wait.on_event(event, now)
    if on_event is not None:
        on_event(event)


async def _receive(
    ws: ClientConnection,
    result: DirectCallResult,
    wait: ReplyWait,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> None:
    try:
        async for message in ws:
            _take(message, result, wait, on_event)
    except ConnectionClosed:
        pass
