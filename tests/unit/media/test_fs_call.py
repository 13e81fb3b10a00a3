"""FsCallMedia — one bot call's FreeSWITCH media — against a fake channel, fake sockets
and a fake conversation: the fork's start, retries and stop, reconnects, and the call's
events routed to the right place."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from callcontrol.config import ForkSettings
from callcontrol.errors import EslCommandError
from callcontrol.esl.protocol import EslEvent
from callcontrol.media.base import AudioOutput
from callcontrol.media.fork_esl import build_fork_start_command, can_stream
from callcontrol.media.fork_wire import ForkWireError, OtherMessage, ServerMessage
from callcontrol.media.fs_call import Channel, Conversation, FsCallMedia
from callcontrol.media.playback import ForkPlayback
from callcontrol.media.stream_playback import StreamPlayback
from callcontrol.metrics import Metrics

CALL = "6f1c2a54-0000-4000-8000-000000000001"


class FakeChannel:
    def __init__(self) -> None:
        self.commands: list[str] = []
        self.hangups: list[str] = []
        self.played: list[str] = []
        self.breaks = 0
        self.listeners: list[Callable[[EslEvent], None]] = []
        self._ended = asyncio.Event()
        self.refuse: str | None = None  # a command prefix answered with -ERR

    @property
    def id(self) -> str:
        return CALL

    @property
    def ended(self) -> asyncio.Event:
        return self._ended

    def listen(self, listener: Callable[[EslEvent], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    async def api(self, command: str, *, timeout: float | None = None) -> Any:
        self.commands.append(command)
        if self.refuse and command.startswith(self.refuse):
            raise EslCommandError(command, "-ERR refused")
        return None

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        self.hangups.append(cause)

    async def play(self, path: str) -> None:
        self.played.append(path)

    async def stop_playback(self) -> None:
        self.breaks += 1

    def event(self, name: str, body: str | None = None, **headers: str) -> None:
        fields = {"Unique-ID": CALL, **headers}
        if name.startswith("mod_audio_fork::"):
            fields["Event-Subclass"] = name
            name = "CUSTOM"
        event = EslEvent(name, fields, body)
        for listener in list(self.listeners):
            listener(event)


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[ServerMessage] = []
        self._closed = False

    @property
    def call_id(self) -> str:
        return CALL

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_text(self, text: str) -> None:
        return None

    async def send_message(self, message: ServerMessage) -> None:
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._closed = True


class FakeConversation:
    def __init__(self, playback: AudioOutput, greet: bool) -> None:
        self.playback = playback
        self.greet = greet
        self.endings: list[bool] = []
        self.texts: list[str] = []
        self._ended = asyncio.Event()

    @property
    def ended(self) -> asyncio.Event:
        return self._ended

    def end(self, *, bridged: bool = False) -> None:
        self.endings.append(bridged)
        self._ended.set()

    def on_audio(self, samples: Any, sample_rate: int) -> bool:
        return True

    def on_text(self, text: str) -> None:
        self.texts.append(text)

    def on_close(self, code: int, reason: str) -> None:
        return None


_channel: Channel = FakeChannel()  # the fakes satisfy the seams (checked by mypy)


def _conversation_type_check(playback: ForkPlayback) -> Conversation:
    return FakeConversation(playback, True)


class Rig:
    def __init__(self, retries: int = 2) -> None:
        self.channel = FakeChannel()
        self.conversations: list[FakeConversation] = []
        self.hung_up: list[FsCallMedia] = []
        self.media = FsCallMedia(
            self.channel,
            ForkSettings(connect_retries=retries, sample_rate=8000),
            fork_url=f"ws://127.0.0.1:8090/fork/{CALL}",
            metrics=Metrics(),
            open_conversation=self.open,
            on_hangup=self.hung_up.append,
        )

    def open(self, playback: AudioOutput, greet: bool) -> Conversation:
        conversation = FakeConversation(playback, greet)
        self.conversations.append(conversation)
        return conversation


async def until(predicate: Callable[[], object], what: str) -> None:
    for _ in range(5000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def starts(channel: FakeChannel) -> list[str]:
    return [c for c in channel.commands if c.startswith(f"uuid_audio_fork {CALL} start")]


async def test_start_sends_the_fork_with_its_token_and_listens() -> None:
    rig = Rig()
    await rig.media.start()
    (command,) = rig.channel.commands
    assert command.startswith(f"uuid_audio_fork {CALL} start ws://127.0.0.1:8090/fork/{CALL}")
    assert command.split()[4:6] == ["mono", "8k"]
    metadata = json.loads(command[command.index("{") :])
    assert metadata == {"callId": CALL, "token": rig.media.token}
    assert rig.channel.listeners
    await rig.media.aclose()
    assert not rig.channel.listeners


async def test_connect_failed_is_retried_with_a_stop_first_then_gives_up_with_a_hangup() -> None:
    rig = Rig(retries=1)
    await rig.media.start()
    rig.channel.event("mod_audio_fork::connect_failed", json.dumps({"reason": "refused"}))
    await until(lambda: len(starts(rig.channel)) == 2, "a second start")
    # The failed fork's media bug stays attached: it is stopped before the restart.
    assert rig.channel.commands[1] == f"uuid_audio_fork {CALL} stop audio_fork"
    rig.channel.event("mod_audio_fork::connect_failed", json.dumps({"reason": "refused"}))
    await until(lambda: rig.channel.hangups, "the hang-up")
    assert rig.channel.hangups == ["NORMAL_TEMPORARY_FAILURE"]
    assert len(starts(rig.channel)) == 2 and rig.media.ending
    await rig.media.aclose()


async def test_a_refused_restart_is_logged_not_raised() -> None:
    rig = Rig(retries=3)
    await rig.media.start()
    rig.channel.refuse = f"uuid_audio_fork {CALL} start"
    rig.channel.event("mod_audio_fork::connect_failed", "{}")
    await until(lambda: len(starts(rig.channel)) == 2, "the restart was tried")
    await rig.media.tasks.join()
    assert rig.media.tasks.failures == 0 and rig.channel.hangups == []
    await rig.media.aclose()


async def test_attach_opens_one_conversation_and_refuses_a_second_socket() -> None:
    rig = Rig()
    await rig.media.start()
    first = FakeLink()
    assert rig.media.attach(first) is rig.conversations[0]
    assert rig.conversations[0].greet
    assert rig.media.attach(FakeLink()) is None  # the first socket is still open
    await first.close()
    # The fork came back on a new socket: the conversation goes on without a hello.
    second = rig.media.attach(FakeLink())
    assert second is rig.conversations[1] and not rig.conversations[1].greet
    assert rig.conversations[0].endings == [False]
    await rig.media.aclose()


async def test_play_audio_and_playback_events_reach_the_calls_playback() -> None:
    rig = Rig()
    await rig.media.start()
    link = FakeLink()
    rig.media.attach(link)
    playback = rig.conversations[0].playback
    handle = await playback.play(np.zeros(800, dtype=np.int16), 8000, "hello")
    assert link.sent  # playAudio went out on the socket
    rig.channel.event("mod_audio_fork::play_audio", json.dumps({"file": "/tmp/a.r8"}))
    await until(lambda: rig.channel.played == ["/tmp/a.r8"], "uuid_broadcast of the file")
    rig.channel.event("PLAYBACK_START", **{"Playback-File-Path": "/tmp/a.r8"})
    rig.channel.event("PLAYBACK_STOP", **{"Playback-File-Path": "/tmp/a.r8"})
    finished = await handle.wait()
    assert not finished.interrupted and finished.text == "hello"
    await rig.media.aclose()
    await playback.aclose()


async def test_a_bridge_ends_the_conversation_and_stops_the_fork_but_not_the_call() -> None:
    rig = Rig()
    await rig.media.start()
    rig.media.attach(FakeLink())
    rig.channel.event("CHANNEL_BRIDGE")
    assert rig.conversations[0].endings == [True]
    await rig.media.tasks.join()
    # ending is set by the bridge: the fork is left for the person's call (no stop).
    assert rig.hung_up == [] and rig.channel.listeners
    await rig.media.aclose()


async def test_hangup_ends_the_conversation_and_retires_the_media() -> None:
    rig = Rig()
    await rig.media.start()
    rig.media.attach(FakeLink())
    rig.channel.event("CHANNEL_HANGUP")
    assert rig.conversations[0].endings == [False]
    assert rig.hung_up == [rig.media] and not rig.channel.listeners
    assert rig.media.attach(FakeLink()) is None  # a late socket for a gone call
    await rig.media.aclose()


async def test_the_conversation_saying_goodbye_hangs_up_the_call() -> None:
    rig = Rig()
    await rig.media.start()
    await rig.media.hangup()
    assert rig.channel.hangups == ["NORMAL_CLEARING"] and rig.media.ending
    await rig.media.aclose()


class StreamingLink(FakeLink):
    """A fork socket that also takes binary frames (the streaming module's)."""

    def __init__(self) -> None:
        super().__init__()
        self.binary: list[bytes] = []

    async def send_bytes(self, data: bytes) -> None:
        self.binary.append(data)


def streaming_rig() -> Rig:
    rig = Rig()
    rig.media = FsCallMedia(
        rig.channel,
        ForkSettings(sample_rate=8000, playback="stream", stream_rate=8000),
        fork_url=f"ws://127.0.0.1:8090/fork/{CALL}",
        metrics=Metrics(),
        open_conversation=rig.open,
        stream=True,
    )
    return rig


async def test_a_streaming_fork_starts_with_all_ten_fields_and_the_literal_true() -> None:
    rig = streaming_rig()
    await rig.media.start()
    (command,) = rig.channel.commands
    fields = command.split()
    assert fields[1:2] == [CALL] and fields[2] == "start" and len(fields) == 11
    assert fields[4:7] == ["mono", "8k", "audio_fork"]
    assert json.loads(fields[7])["token"] == rig.media.token
    assert fields[8:] == ["true", "true", "8000"]
    await rig.media.aclose()


async def test_a_streaming_call_speaks_on_the_socket_and_marks_reach_its_playback() -> None:
    rig = streaming_rig()
    await rig.media.start()
    link = StreamingLink()
    consumer = rig.media.attach(link)
    assert consumer is not None and consumer is not rig.conversations[0]
    playback = rig.conversations[0].playback
    assert isinstance(playback, StreamPlayback)
    handle = await playback.play(np.zeros(800, dtype=np.int16), 8000, "hi")
    await until(lambda: link.sent, "the mark went out after the audio")
    assert link.binary  # the audio went out as binary frames, no playAudio
    mark = link.sent[-1]
    assert isinstance(mark, OtherMessage) and mark.type == "mark" and mark.data is not None
    # The module's notice comes back as a text frame on the same socket.
    consumer.on_text(
        json.dumps({"type": "mark", "data": {"name": mark.data["name"], "event": "playout"}})
    )
    assert not (await handle.wait()).interrupted
    consumer.on_text('{"type":"transcript","text":"not a mark"}')
    assert rig.conversations[0].texts == ['{"type":"transcript","text":"not a mark"}']
    assert rig.channel.played == []  # no uuid_broadcast on this path
    await rig.media.aclose()
    await playback.aclose()


async def test_a_socket_without_binary_frames_falls_back_to_file_playback() -> None:
    rig = streaming_rig()
    await rig.media.start()
    rig.media.attach(FakeLink())
    assert isinstance(rig.conversations[0].playback, ForkPlayback)
    await rig.media.aclose()


def test_what_the_module_answers_tells_whether_it_streams() -> None:
    drachtio = (
        "-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown ] "
        "[wss-url | path] [mono | mixed | stereo] [8000 | 16000 | 24000 | 32000 | 64000] "
        "[bugname] [metadata]\n"
    )
    jambonz = drachtio.replace("graceful-shutdown ]", "graceful-shutdown | stop_play ]").replace(
        "[metadata]",
        "[metadata] [bidirectionalAudio_enabled] [bidirectionalAudio_stream_enabled] "
        "[bidirectionalAudio_stream_samplerate]",
    )
    assert can_stream(jambonz) and not can_stream(drachtio)
    with pytest.raises(ForkWireError):  # the streaming form needs a bug name and metadata
        build_fork_start_command(CALL, "ws://h/f", stream_rate=8000)
    with pytest.raises(ForkWireError):
        build_fork_start_command(CALL, "ws://h/f", metadata={}, bugname="b", stream_rate=11025)
