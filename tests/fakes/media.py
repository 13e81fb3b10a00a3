"""Fakes for the media seams (registry, consumer, ESL playback control) and raw-socket
helpers that replay FreeSWITCH's recorded websocket bytes."""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from callcontrol.media.base import AudioOutput, ForkConsumer, ForkLink, MediaLink
from callcontrol.media.codecs import Int16Array
from callcontrol.media.direct_wire import DirectHello
from callcontrol.media.fork_esl import KillAudioEvent, PlayAudioEvent
from callcontrol.media.fork_wire import (
    ForkMetadata,
    KillAudio,
    PlayAudio,
    ServerMessage,
    new_fork_token,
    parse_server_message,
)
from callcontrol.media.playback import ForkPlayback

REC = Path(__file__).parents[1] / "data" / "recordings" / "freeswitch-1.10.12"


class RecordingConsumer:
    """Keeps what it is given. ``accept=False`` refuses frames; ``explode`` raises."""

    def __init__(self, call_id: str, *, accept: bool = True, explode: bool = False) -> None:
        self.call_id = call_id
        self.accept = accept
        self.explode = explode
        self.frames: list[Int16Array] = []
        self.rates: set[int] = set()
        self.texts: list[str] = []
        self.closed: list[tuple[int, str]] = []
        self.got_frame = asyncio.Event()
        self.link: MediaLink | None = None

    def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
        if self.explode:
            raise RuntimeError("consumer bug")
        self.frames.append(samples.copy())
        self.rates.add(sample_rate)
        self.got_frame.set()
        return self.accept

    def on_text(self, text: str) -> None:
        if self.explode:
            raise RuntimeError("consumer bug")
        self.texts.append(text)

    def on_close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))
        if self.explode:
            raise RuntimeError("consumer bug in on_close")

    @property
    def samples(self) -> Int16Array:
        if not self.frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self.frames)


@dataclass
class FakeRegistry:
    """A ForkRegistry (and DirectRegistry) backed by a dict of call id → token."""

    tokens: dict[str, str] = field(default_factory=dict)
    consumers: dict[str, RecordingConsumer] = field(default_factory=dict)
    metadata: dict[str, ForkMetadata] = field(default_factory=dict)
    refuse_attach: bool = False
    explode: bool = False
    consumer_options: dict[str, dict[str, bool]] = field(default_factory=dict)
    outputs: dict[str, AudioOutput] = field(default_factory=dict)
    hellos: dict[str, DirectHello] = field(default_factory=dict)

    def add_call(self, call_id: str, token: str | None = None) -> str:
        self.tokens[call_id] = token or new_fork_token()
        return self.tokens[call_id]

    def expected_token(self, call_id: str) -> str | None:
        if self.explode:
            raise RuntimeError("registry bug")
        return self.tokens.get(call_id)

    def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> ForkConsumer | None:
        if self.refuse_attach:
            return None
        consumer = RecordingConsumer(call_id, **self.consumer_options.get(call_id, {}))
        consumer.link = link
        self.consumers[call_id] = consumer
        self.metadata[call_id] = metadata
        return consumer

    def open_direct(
        self, call_id: str, hello: DirectHello, link: MediaLink, output: AudioOutput
    ) -> ForkConsumer | None:
        if self.explode:
            raise RuntimeError("registry bug")
        if self.refuse_attach:
            return None
        consumer = RecordingConsumer(call_id)
        consumer.link = link
        self.consumers[call_id] = consumer
        self.outputs[call_id] = output
        self.hellos[call_id] = hello
        return consumer


class FakeControl:
    """PlaybackControl that records commands; a test plays FreeSWITCH's part."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.broadcasted = asyncio.Event()

    async def broadcast(self, file: str) -> None:
        self.calls.append(("broadcast", file))
        self.broadcasted.set()

    async def break_all(self) -> None:
        self.calls.append(("break_all", ""))


# --- raw websocket bytes ----------------------------------------------------------------


def mask_frame(opcode: int, payload: bytes, key: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    """A masked client frame (FIN set), as libwebsockets sends them."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def split_frames(data: bytes) -> list[tuple[int, bytes, int]]:
    """Whole frames of a (masked or not) byte stream: (opcode, raw frame, payload length).
    A trailing partial frame is dropped."""
    out = []
    pos = 0
    while pos + 2 <= len(data):
        b0, b1 = data[pos], data[pos + 1]
        size, head = b1 & 0x7F, 2
        if size == 126:
            size, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        elif size == 127:
            size, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
        if b1 & 0x80:
            head += 4
        if pos + head + size > len(data):
            break
        out.append((b0 & 0x0F, data[pos : pos + head + size], size))
        pos += head + size
    return out


def unmasked_payloads(data: bytes) -> list[tuple[int, bytes]]:
    """Server frames (unmasked): (opcode, payload)."""
    out = []
    for opcode, raw, size in split_frames(data):
        out.append((opcode, raw[len(raw) - size :]))
    return out


@dataclass
class RawResult:
    status: str
    headers: dict[str, str]
    frames: list[tuple[int, bytes]]

    @property
    def close(self) -> tuple[int, str] | None:
        for opcode, payload in self.frames:
            if opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode()
        return None


async def raw_session(
    port: int, request: bytes, frames: bytes, *, then_close: bool = True
) -> RawResult:
    """Send a recorded HTTP upgrade and recorded/built client frames over plain TCP."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ": " in line:
                k, v = line.split(": ", 1)
                headers[k.lower()] = v
        if not lines[0].startswith("HTTP/1.1 101"):
            return RawResult(lines[0], headers, [])
        writer.write(frames)
        if then_close:
            writer.write(mask_frame(8, struct.pack("!H", 1000)))
        await writer.drain()
        data = b""
        answered = then_close
        async with asyncio.timeout(10):
            while chunk := await reader.read(65536):
                data += chunk
                if not answered and any(op == 8 for op, _p in unmasked_payloads(data)):
                    writer.write(mask_frame(8, struct.pack("!H", 1000)))  # finish the handshake
                    answered = True
        return RawResult(lines[0], headers, unmasked_payloads(data))
    finally:
        writer.close()
        await writer.wait_closed()


def recorded_metadata(name: str) -> dict[str, object]:
    first = json.loads((REC / f"{name}.frames.jsonl").read_text().splitlines()[0])
    value: dict[str, object] = json.loads(first["text"])
    return value


START_DELAY = 0.02  # broadcast → PLAYBACK_START (FreeSWITCH: ~180 ms)


class ScriptedForkPeer:
    """What ForkPlayback talks to, scripted with fast timings: the fork link (playAudio →
    ``play_audio`` event) and the ESL PlaybackControl (broadcast → PLAYBACK_START/STOP).
    Not a FreeSWITCH: the emulator (tests/fakes/freeswitch) is that; this is the two
    seams of one unit, for its unit tests."""

    def __init__(self, *, answer_play_audio: bool = True, send_stop: bool = True) -> None:
        self.call_id = "call-1"
        self.closed = False
        self.answer_play_audio = answer_play_audio
        self.send_stop = send_stop
        self.playback: ForkPlayback | None = None
        self.messages: list[ServerMessage] = []
        self.commands: list[tuple[str, str]] = []
        self.files: dict[str, float] = {}  # file -> duration (s)
        self.current: str | None = None
        self._counter = itertools.count(2)
        self._timers: list[asyncio.TimerHandle] = []
        self.withheld: list[PlayAudioEvent] = []

    # ForkLink
    async def send_text(self, text: str) -> None:
        await self.send_message(parse_server_message(text))

    async def send_message(self, message: ServerMessage) -> None:
        if self.closed:
            return
        # the module re-serialises compactly; make sure ours is valid on the wire
        message = parse_server_message(message.to_json())
        self.messages.append(message)
        assert self.playback is not None
        if isinstance(message, PlayAudio):
            file = f"/opt/fs/tmp/{self.call_id}_{next(self._counter)}.tmp.r16"
            self.files[file] = len(message.audio) / 2 / message.sample_rate
            event = PlayAudioEvent(file, "raw", message.sample_rate, message.text)
            if self.answer_play_audio:
                self._later(0.001, self.playback.on_fork_event, event)
            else:
                self.withheld.append(event)
        elif isinstance(message, KillAudio):
            self._later(0.001, self.playback.on_fork_event, KillAudioEvent())
            self._stop_current()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    # PlaybackControl
    async def broadcast(self, file: str) -> None:
        assert self.playback is not None
        assert self.current is None, "broadcast while a file plays would run nested"
        self.commands.append(("broadcast", file))
        self.current = file
        self._later(START_DELAY, self.playback.on_playback_start, file)
        if self.send_stop:
            self._later(START_DELAY + self.files[file], self._finish, file)

    async def break_all(self) -> None:
        self.commands.append(("break_all", ""))
        self._stop_current()

    # internals
    def _later(self, delay: float, fn: Callable[..., object], *args: object) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, fn, *args))

    def _finish(self, file: str) -> None:
        if self.current == file:
            self.current = None
            assert self.playback is not None
            self.playback.on_playback_stop(file)

    def _stop_current(self) -> None:
        if self.current is not None:
            file, self.current = self.current, None
            assert self.playback is not None
            self._later(0.001, self.playback.on_playback_stop, file)

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
