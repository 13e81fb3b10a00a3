"""The direct path: a caller on the worker's ``/direct`` websocket, audio in real time.

Frame ``k`` of a clip is sent once it has been "spoken" (at ``(k + 1) × 20 ms``), and
silence keeps flowing between questions, as from a phone. Caller-side voice-to-voice is
the arrival of the first bot audio frame after the end of speech minus the send time of
the frame that holds the end of speech.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from callcontrol.media.codecs import pcm_bytes
from callcontrol.media.direct_wire import DirectHello, direct_event, parse_direct_event
from tests.eval.records import Observed
from tests.eval.speech import FRAME_MS, RATE, Clip
from tests.eval.waiting import PATIENCE, Patience, verdict

STEP = RATE * FRAME_MS // 1000  # samples per frame
SILENCE = bytes(STEP * 2)


@dataclass
class _Window:
    """Everything that arrived while one question was asked and answered."""

    events: list[dict[str, Any]] = field(default_factory=list)
    eos_at: float | None = None  # monotonic send time of the end-of-speech frame
    first_audio_at: float | None = None


@dataclass
class _State:
    window: _Window = field(default_factory=_Window)
    playing: int = 0
    last_message: float = field(default_factory=time.monotonic)
    closed: bool = False


class _Pacer:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.start = time.monotonic()
        self.sent = 0

    async def send(self, frame: bytes) -> float:
        """Send ``frame`` when its 20 ms have elapsed; returns when it was sent."""
        delay = self.start + (self.sent + 1) * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await self.ws.send(frame)
        self.sent += 1
        return time.monotonic()


async def _receive(ws: ClientConnection, state: _State) -> None:
    try:
        async for message in ws:
            now = time.monotonic()
            state.last_message = now
            window = state.window
            if isinstance(message, bytes):
                if window.eos_at is not None and window.first_audio_at is None:
                    window.first_audio_at = now
                continue
            event = parse_direct_event(message)
            kind = event.get("type")
            if kind == "playback":
                state.playing = max(0, state.playing + (1 if event["event"] == "started" else -1))
            elif kind == "clear":
                state.playing = 0
            elif kind in ("turn", "handoff"):
                window.events.append(event)
    except ConnectionClosed:
        pass
    finally:
        state.closed = True


def _split(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return [e for e in events if e["type"] == "turn"], [e for e in events if e["type"] == "handoff"]


async def direct_call(
    url: str,
    owner: str,
    clips: list[Clip],
    *,
    hold_phrase: str,
    patience: Patience = PATIENCE,
    greeting_timeout_s: float = 60.0,
    token: str | None = None,
) -> tuple[str, list[Observed]]:
    """One call: greeting, then each clip, each answered in full. (call id, observations)"""
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(DirectHello(owner=owner, sample_rate=RATE, token=token).to_json())
        ready = parse_direct_event(await asyncio.wait_for(ws.recv(), 10))
        if ready.get("type") != "ready":
            raise RuntimeError(f"expected a ready event, got {ready!r}")
        state = _State()
        receiver = asyncio.create_task(_receive(ws, state))
        pacer = _Pacer(ws)
        observed: list[Observed] = []
        try:
            await _greeting(pacer, state, greeting_timeout_s)
            for clip in clips:
                observed.append(await _ask(pacer, state, clip, hold_phrase, patience))
                if state.closed:
                    break
            with contextlib.suppress(ConnectionClosed):
                await ws.send(direct_event("hangup"))
        except ConnectionClosed:
            pass
        finally:
            await ws.close()
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
        for _ in range(len(clips) - len(observed)):
            observed.append(Observed(outcome="hung_up"))
        return str(ready.get("callId", "")), observed


async def _greeting(pacer: _Pacer, state: _State, timeout_s: float) -> None:
    """Silence until the greeting has been played (a bot turn, nothing playing)."""
    deadline = time.monotonic() + timeout_s
    while not state.closed:
        turns, _ = _split(state.window.events)
        quiet = time.monotonic() - state.last_message
        if any(t.get("speaker") == "bot" for t in turns) and not state.playing and quiet > 0.3:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the greeting did not finish playing")
        await pacer.send(SILENCE)


async def _ask(
    pacer: _Pacer, state: _State, clip: Clip, hold_phrase: str, patience: Patience
) -> Observed:
    window = state.window = _Window()
    data = pcm_bytes(np.asarray(clip.samples, dtype=np.int16))
    frames = [data[i : i + STEP * 2].ljust(STEP * 2, b"\0") for i in range(0, len(data), STEP * 2)]
    eos_frame = max(0, -(-clip.eos_sample // STEP) - 1)
    for k, frame in enumerate(frames):
        sent_at = await pacer.send(frame)
        if k == eos_frame:
            window.eos_at = sent_at
    assert window.eos_at is not None
    outcome: str | None = None
    while outcome is None:
        if state.closed:
            outcome = "hung_up"
            break
        await pacer.send(SILENCE)
        now = time.monotonic()
        turns, handoffs = _split(window.events)
        outcome = verdict(
            turns=turns,
            handoffs=handoffs,
            hold_phrase=hold_phrase,
            since_eos_s=now - window.eos_at,
            quiet_s=now - state.last_message,
            playing=state.playing > 0,
            patience=patience,
        )
    turns, handoffs = _split(window.events)
    v2v = None
    if window.first_audio_at is not None:
        v2v = round((window.first_audio_at - window.eos_at) * 1000, 1)
    return Observed(turns, handoffs, v2v, outcome)
