"""A client of the direct endpoint: talk to the bot from a file, without a phone.

What ``callcontrol call FILE.wav`` needs::

    audio = read_wav("question.wav")
    result = await call_direct("ws://127.0.0.1:8765/direct", audio.mono(), audio.sample_rate,
                               owner="cli", on_event=print)
    write_wav("answer.wav", result.bot_audio, result.sample_rate)

The file is streamed in real time (20 ms frames) followed by silence, as a caller would;
the call ends once the bot has been quiet for ``linger_s`` after its last playback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from callcontrol.errors import MediaError
from callcontrol.media.codecs import Int16Array, pcm_bytes
from callcontrol.media.direct_wire import DirectHello, direct_event, parse_direct_event
from callcontrol.media.fork_wire import ForkWireError


@dataclass
class DirectCallResult:
    call_id: str
    sample_rate: int
    events: list[dict[str, Any]] = field(default_factory=list)
    bot_chunks: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None

    @property
    def bot_audio(self) -> Int16Array:
        """Everything the bot sent, back to back (L16 mono at ``sample_rate``)."""
        return np.frombuffer(b"".join(self.bot_chunks), dtype="<i2").astype(np.int16)


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
    max_s: float = 120.0,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> DirectCallResult:
    """Stream ``samples`` to ``url`` and collect the bot's audio and events."""
    hello = DirectHello(owner=owner, sample_rate=sample_rate, token=token)
    try:
        async with connect(url, compression=None, max_size=None) as ws:
            await ws.send(hello.to_json())
            ready = parse_direct_event(await asyncio.wait_for(ws.recv(), 10))
            if ready.get("type") != "ready":
                raise MediaError(f"expected a ready event, got {ready!r}")
            result = DirectCallResult(str(ready.get("callId", "")), sample_rate)
            state = _State()
            async with asyncio.TaskGroup() as tg:
                receiver = tg.create_task(_receive(ws, result, state, on_event))
                await _send(ws, samples, sample_rate, frame_ms, realtime, linger_s, max_s, state)
                await ws.send(direct_event("hangup"))
                await ws.close()
                await receiver
            result.close_code, result.close_reason = ws.close_code, ws.close_reason
            return result
    except (OSError, ConnectionClosed, ForkWireError, TimeoutError) as exc:
        raise MediaError(f"direct call to {url} failed: {exc}") from exc


@dataclass
class _State:
    last_message: float = field(default_factory=time.monotonic)
    playing: int = 0  # playbacks started and not finished


async def _send(
    ws: ClientConnection,
    samples: Int16Array,
    rate: int,
    frame_ms: int,
    realtime: bool,
    linger_s: float,
    max_s: float,
    state: _State,
) -> None:
    step = rate * frame_ms // 1000
    silence = pcm_bytes(np.zeros(step, dtype=np.int16))
    data = pcm_bytes(np.asarray(samples, dtype=np.int16))
    start = time.monotonic()
    n = 0
    while True:
        offset = n * step * 2
        if offset < len(data):
            frame = data[offset : offset + step * 2]
        else:
            quiet = time.monotonic() - state.last_message
            if (state.playing == 0 and quiet >= linger_s) or time.monotonic() - start > max_s:
                return
            frame = silence
        await ws.send(frame)
        n += 1
        if realtime or offset >= len(data):
            delay = start + n * frame_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


async def _receive(
    ws: ClientConnection,
    result: DirectCallResult,
    state: _State,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> None:
    try:
        async for message in ws:
            state.last_message = time.monotonic()
            if isinstance(message, bytes):
                result.bot_chunks.append(message)
                continue
            event = parse_direct_event(message)
            result.events.append(event)
            kind = event.get("type")
            if kind == "playback":
                state.playing += 1 if event.get("event") == "started" else -1
                state.playing = max(0, state.playing)
            elif kind == "clear":  # barge-in: the current playback ended, the queue is gone
                state.playing = 0
            if on_event is not None:
                on_event(event)
    except ConnectionClosed:
        pass
