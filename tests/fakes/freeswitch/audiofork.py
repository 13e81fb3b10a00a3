"""mod_audio_fork (drachtio, 88e1465) as the client side of the audio websocket.

``uuid_audio_fork`` parsing, replies and events follow mod_audio_fork.c / lws_glue.cpp /
audio_pipe.cpp; the websocket is a real one (the ``websockets`` package) offering
``audio.drachtio.org``: metadata text frame first, then binary L16LE frames paced in real
time, one per caller packet (ptime) — mono always, stereo/mixed only while something is
played to the caller. Server messages become CUSTOM events; ``playAudio`` is written to a
temp file that is *not* played (the application must ``uuid_broadcast`` it).

``SwitchConfig.audio_fork = "jambonz"`` models jambonz freeswitch-modules 1.2.22 (what the
compose image ships) where the two differ on the wire: ``uuid_audio_fork`` arguments are
split into 10 tokens, not 7 (metadata with spaces is cut at its first space; tokens 7-9
are the bidirectional-audio arguments). Both were checked against a real FreeSWITCH 1.10.12.

jambonz also **streams audio back** on a bug started with ``… true true <rate>``
(tests/data/recordings/jambonz-mod-audio-fork): binary frames from the server go through
``stream.StreamBuffer`` and are added to what the channel writes, one frame per write tick,
only while the channel writes frames (``ChannelRunner.writing``); marks are answered as
text frames; ``killAudio`` also clears the playout buffer; ``playAudio`` is refused there;
``stop_play`` clears the playout buffer of the default bug.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection, connect

from . import cjson
from .fsargs import separate_string
from .playback import StreamRun
from .stream import StreamBuffer

if TYPE_CHECKING:
    from .channel import Channel
    from .switch import FakeFreeSwitch

log = logging.getLogger(__name__)

SUBPROTOCOL = "audio.drachtio.org"
MAX_RECV_BUF_SIZE = 65 * 1024 * 10  # audio_pipe.cpp: longer text messages are discarded
DEFAULT_BUG = "audio_fork"
SITE = ("mod_audio_fork.c", "responseHandler", 22)
USAGE = (
    "-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown ] "
    "[wss-url | path] "
    "[mono | mixed | stereo] [8000 | 16000 | 24000 | 32000 | 64000] [bugname] [metadata]\n"
)
# jambonz mod_audio_fork.c FORK_API_SYNTAX (30f2189)
JAMBONZ_USAGE = (
    "-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown | stop_play ] "
    "[wss-url | path] "
    "[mono | mixed | stereo] [8000 | 16000 | 24000 | 32000 | 64000] [bugname] [metadata] "
    "[bidirectionalAudio_enabled] [bidirectionalAudio_stream_enabled] "
    "[bidirectionalAudio_stream_samplerate]\n"
)
_RAW_TYPES = {
    8000: ".r8",
    16000: ".r16",
    24000: ".r24",
    32000: ".r32",
    48000: ".r48",
    64000: ".r64",
}
_URI = re.compile(r"^(.+?):?(\d+)?(/.*)?$")


def parse_ws_uri(uri: str) -> tuple[str, int, str, bool] | None:
    """lws_glue.cpp parse_ws_uri: (host, port, path, tls) or None for a bad scheme."""
    for scheme, port, tls in (
        ("https://", 443, True),
        ("wss://", 443, True),
        ("http://", 80, False),
        ("ws://", 80, False),
    ):
        if uri[: len(scheme)].lower() == scheme:
            match = _URI.search(uri[len(scheme) :])
            if not match:
                return None
            host = match.group(1)
            if match.group(2):
                port = int(match.group(2))
            return host, port, match.group(3) or "/", tls
    return None


def atoi(text: str) -> int:
    """C ``atoi``: optional sign and leading digits, 0 when there are none."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


@dataclass(eq=False)
class ForkSession:
    """One media bug: a websocket to the service for one channel."""

    forks: AudioForks
    channel: Channel
    bugname: str
    url: str
    mix: str  # mono | mixed | stereo
    rate: int
    metadata: str | None
    state: str = "connecting"  # connecting | connected | failed | dropped | closed
    frames_sent: int = 0
    bytes_sent: int = 0
    texts_sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)
    paused: bool = False
    graceful: bool = False
    origin: float = 0.0
    attached: bool = True
    # jambonz: (enabled, stream, sample rate) as given after the metadata
    bidirectional: tuple[str, str, str] | None = None
    play_audio_enabled: bool = True  # bidirectional_audio_enable && !bidirectional_audio_stream
    stream: StreamBuffer | None = None  # set on a streaming bug (SMBF_WRITE_REPLACE)
    tick_origin: float = 0.0  # loop time of write tick 0 (the start)
    ticks: int = 0  # write ticks that reached the bug (the channel was writing)
    marks_sent: list[str] = field(default_factory=list)
    ws: ClientConnection | None = None
    _texts: deque[str] = field(default_factory=deque)
    _zero_frame: bool = False
    _closing: bool = False
    _poke: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def channels(self) -> int:
        return 2 if self.mix == "stereo" else 1

    @property
    def sw(self) -> FakeFreeSwitch:
        return self.forks.sw

    def event(self, name: str, body: str | None = None) -> None:
        ch = self.channel
        self.sw.channel_event(
            ch, "CUSTOM", subclass=f"mod_audio_fork::{name}", body=body, site=SITE
        )

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        parsed = parse_ws_uri(self.url)
        assert parsed is not None
        host, port, path, tls = parsed
        uri = f"{'wss' if tls else 'ws'}://{host}:{port}{path}"
        try:
            self.ws = await connect(
                uri,
                subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
                origin=websockets.Origin(f"http://{host}"),
                compression=None,
                additional_headers={"Pragma": "no-cache", "Cache-Control": "no-cache"},
                user_agent_header=None,
                proxy=None,
                ping_interval=None,
                open_timeout=5,
                max_size=None,
                max_queue=None,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            self.state = "failed"
            reason = "Unable to connect" if isinstance(exc, OSError | TimeoutError) else str(exc)
            log.debug("audio fork connect to %s failed: %s", uri, exc)
            if self.attached:
                self.event("connect_failed", cjson.dumps({"reason": reason}))
            self.closed.set()
            return
        if not self.attached:
            await self.ws.close()
            self.closed.set()
            return
        self.state = "connected"
        self.event("connect")
        self.origin = self.sw.now()  # frame 0 starts here; queued caller speech starts with it
        media = self.sw.media_of(self.channel)
        if media.voice_trigger == "fork":
            media.start_voice(self.origin)
        if self.metadata:
            self._texts.append(self.metadata)
        if self.stream is not None:
            self.sw.tasks.spawn(self._playout(), name=f"fork playout {self.channel.uuid}")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._receive())
                group.create_task(self._pump())
        finally:
            self.closed.set()

    def stop(self, text: str | None = None) -> None:
        """fork_session_cleanup: detach, delete temp files, send the final text, close 1000."""
        self.attached = False
        self.forks.detach(self)
        for path in self.temp_files:
            with contextlib.suppress(OSError):
                path.unlink()
        if text and self.state == "connected":
            self._texts.append(text)
        self._closing = True
        self._poke.set()

    def send_text(self, text: str) -> None:
        if self.state == "connected":
            self._texts.append(text)
            self._poke.set()

    def graceful_shutdown(self) -> None:
        self.graceful = True
        if self.state == "connected":
            self._zero_frame = True
            self._poke.set()

    # ------------------------------------------------------------------ streaming playout
    async def _playout(self) -> None:
        """SMBF_WRITE_REPLACE: dub_speech_frame on every frame the channel writes.

        Ticks are every ptime from ``tick_origin``; a tick where the channel writes nothing
        (parked without send_silence_when_idle, no playback) does not reach the bug at all.
        """
        stream = self.stream
        assert stream is not None
        ch = self.channel
        period = ch.ptime_ms / 1000
        n = stream.codec_rate * ch.ptime_ms // 1000
        heard = self.sw.media_of(ch).heard
        run: StreamRun | None = None
        index = int((self.sw.now() - self.tick_origin) / period) + 1
        while self.attached and ch.up:
            due = self.tick_origin + index * period
            delay = due - self.sw.now()
            if delay > 0:
                await asyncio.sleep(delay)
            if not (self.attached and ch.up):
                break
            runner = self.sw.runners.get(ch.uuid)
            if runner is not None and runner.writing:
                self.ticks += 1
                result = stream.tick(n)
                for text in result.marks:
                    self.marks_sent.append(text)
                    self.send_text(text)
                if result.samples is not None:
                    if run is None or run.last_tick != index - 1:
                        run = StreamRun(
                            self.bugname, time.time(), self.sw.now(), index, stream.codec_rate
                        )
                        heard.streams.append(run)
                    run.frames.append(result.samples)
                    run.ticks.append(index)
            index += 1

    # ------------------------------------------------------------------ websocket I/O
    async def _pump(self) -> None:
        """The writer: queued text first, then one audio frame per caller packet, in real time."""
        assert self.ws is not None
        ch = self.channel
        frame_n = self.rate * ch.ptime_ms // 1000
        period = ch.ptime_ms / 1000
        origin = self.origin
        index = 0
        media = self.sw.media_of(ch)
        try:
            while self.state == "connected":
                while self._texts:
                    text = self._texts.popleft()
                    await self.ws.send(text)
                    self.texts_sent.append(text)
                if self._closing:
                    await self.ws.close(1000)
                    self.state = "closed"
                    return
                if self._zero_frame:
                    self._zero_frame = False
                    await self.ws.send(b"")
                now = self.sw.now()
                due = origin + (index + 1) * period
                if now < due:
                    self._poke.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._poke.wait(), due - now)
                    continue
                behind = int((now - due) / period) + 1
                for _ in range(min(behind, 50)):
                    frame = self._frame(media, origin, index * frame_n, frame_n)
                    index += 1
                    if frame is not None and not self.paused and not self.graceful:
                        await self.ws.send(frame)
                        self.frames_sent += 1
                        self.bytes_sent += len(frame)
                if behind > 50:
                    index += behind - 50
        except websockets.ConnectionClosed:
            return

    def _frame(self, media: object, origin: float, index: int, n: int) -> bytes | None:
        from .callmedia import ChannelMedia

        assert isinstance(media, ChannelMedia)
        caller = media.voice_at(origin, index, n, self.rate)
        if self.mix == "mono":
            mono: bytes = caller.astype("<i2").tobytes()
            return mono
        played = media.played.read(origin, index, n, self.rate)
        if played is None:
            return None  # FreeSWITCH wrote nothing to the channel: no frame at all
        if self.mix == "mixed":
            mixed = np.clip(caller.astype(np.int32) + played, -32768, 32767).astype(np.int16)
            wire: bytes = mixed.astype("<i2").tobytes()
            return wire
        stereo = np.empty(2 * n, dtype="<i2")
        stereo[0::2] = caller
        stereo[1::2] = played
        return stereo.tobytes()

    async def _receive(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    if self.stream is not None and message and self.attached:
                        self.stream.feed(message)
                    continue  # elsewhere: "received unexpected binary frame, discarding"
                if len(message.encode("utf-8")) > MAX_RECV_BUF_SIZE:
                    continue
                self.received.append(message)
                if self.attached:
                    self.forks.process_message(self, message)
        except websockets.ConnectionClosed:
            pass
        if self.state == "connected":
            # closed by the far end: CONNECTION_DROPPED (the bug itself stays attached)
            self.state = "dropped"
            if self.attached:
                self.event("disconnect")
        self._poke.set()


class AudioForks:
    def __init__(self, switch: FakeFreeSwitch) -> None:
        self.sw = switch
        self._play_count = itertools.count()
        self.bugs: dict[tuple[str, str], ForkSession] = {}
        self.sessions: list[ForkSession] = []

    def detach(self, fork: ForkSession) -> None:
        key = (fork.channel.uuid, fork.bugname)
        if self.bugs.get(key) is fork:
            del self.bugs[key]

    def of(self, uuid: str, bugname: str = DEFAULT_BUG) -> ForkSession | None:
        return self.bugs.get((uuid, bugname))

    async def aclose(self) -> None:
        for fork in list(self.bugs.values()):
            fork.stop()
        for fork in self.sessions:
            if fork.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(fork.closed.wait(), 1.0)
                if not fork.closed.is_set():
                    fork.ws.transport.abort()

    def channel_closed(self, ch: Channel) -> None:
        for (uid, _), fork in list(self.bugs.items()):
            if uid == ch.uuid:
                fork.stop()

    # ------------------------------------------------------------------ the api
    async def api(self, arg: str) -> str:
        # drachtio: argv[7], the last token keeps the rest of the line (metadata with
        # spaces survives after a bug name); jambonz 1.2.22: argv[10], so metadata is cut
        # at its first space and tokens 7-9 are the bidirectional-audio arguments.
        tokens = 10 if self.sw.config.audio_fork == "jambonz" else 7
        argv = separate_string(arg, tokens) if arg else []
        if len(argv) < 2 or (argv[1] == "start" and len(argv) < 5):
            return JAMBONZ_USAGE if self.sw.config.audio_fork == "jambonz" else USAGE
        ch = self.sw.channels.get(argv[0])
        if ch is None or ch.destroyed:
            return "-ERR Operation Failed\n"
        cmd = argv[1].lower()
        bugname = DEFAULT_BUG
        ok = False
        if cmd == "stop":
            text = None
            if len(argv) > 3:
                bugname, text = argv[2], argv[3]
            elif len(argv) > 2:
                if argv[2][:1] in ("{", "["):
                    text = argv[2]
                else:
                    bugname = argv[2]
            fork = self.of(ch.uuid, bugname)
            if fork is not None:
                fork.stop(text)
                ok = True
        elif cmd in ("pause", "resume"):
            bugname = argv[2] if len(argv) > 2 else bugname
            fork = self.of(ch.uuid, bugname)
            if fork is not None:
                fork.paused = cmd == "pause"
                ok = True
        elif cmd == "graceful-shutdown":
            bugname = argv[2] if len(argv) > 2 else bugname
            fork = self.of(ch.uuid, bugname)
            if fork is not None:
                fork.graceful_shutdown()
                ok = True
        elif cmd == "send_text":
            if len(argv) < 3:
                return ""  # FreeSWITCH writes nothing: the client sees "-ERR no reply"
            text = None
            if len(argv) > 3:
                bugname, text = argv[2], argv[3]
            elif argv[2][:1] in ("{", "["):
                text = argv[2]
            else:
                bugname = argv[2]
            fork = self.of(ch.uuid, bugname)
            if fork is not None:
                if text:
                    fork.send_text(text)
                ok = True
        elif cmd == "stop_play" and self.sw.config.audio_fork == "jambonz":
            fork = self.of(ch.uuid, DEFAULT_BUG)  # bugname is never taken from the arguments
            if fork is not None:
                if fork.stream is not None:
                    fork.stream.stop_play()
                ok = True
        elif cmd == "start":
            started = self._start(ch, argv)
            if started is None:
                return ""
            ok = started
        return "+OK Success\n" if ok else "-ERR Operation Failed\n"

    def _start(self, ch: Channel, argv: list[str]) -> bool | None:
        bugname, metadata = DEFAULT_BUG, None
        bidirectional: tuple[str, str, str] | None = None
        if len(argv) > 9:  # jambonz only: bugname, metadata, then the three audio flags
            bugname = argv[5] or DEFAULT_BUG
            metadata = argv[6] or None
            bidirectional = (argv[7], argv[8], argv[9])
        elif len(argv) > 6:
            bugname, metadata = argv[5], argv[6]
        elif len(argv) > 5:
            if argv[5][:1] in ("{", "["):
                metadata = argv[5]
            else:
                bugname = argv[5]
        mix = argv[3]
        if mix not in ("mono", "mixed", "stereo"):
            return None  # "invalid mix type" is logged and nothing is written
        rate_text = argv[4]
        rate = (
            16000
            if rate_text == "16k"
            else 8000
            if rate_text == "8k"
            else int(rate_text)
            if rate_text.isdigit()
            else 0
        )
        if parse_ws_uri(argv[2]) is None or rate <= 0:
            return False
        if (ch.uuid, bugname) in self.bugs:
            return False  # "bug already attached"
        if not self.sw.pre_answer(ch):
            return False  # "channel must have reached pre-answer status"
        fork = ForkSession(
            self, ch, bugname, argv[2], mix, rate, metadata[:8192] if metadata else None
        )
        fork.bidirectional = bidirectional
        fork.tick_origin = self.sw.now()
        if bidirectional is not None:
            enable, stream = bidirectional[0] == "true", bidirectional[1] == "true"
            fork.play_audio_enabled = enable and not stream
            stream_rate = atoi(bidirectional[2])
            if enable and stream and stream_rate:
                codec_rate = ch.read_codec.rate if ch.read_codec else 8000
                fork.stream = StreamBuffer(stream_rate, codec_rate)
        self.bugs[(ch.uuid, bugname)] = fork
        self.sessions.append(fork)
        self.sw.tasks.spawn(fork.run(), name=f"audio fork {ch.uuid} {bugname}")
        return True

    # ------------------------------------------------------------------ server messages
    def process_message(self, fork: ForkSession, message: str) -> None:
        """processIncomingMessage (lws_glue.cpp)."""
        try:
            msg = cjson.parse(message)
        except ValueError:
            return
        kind = msg.get("type") if isinstance(msg, cjson.JsonObject) else None
        kind = kind if isinstance(kind, str) else "json"
        data = msg.get("data") if isinstance(msg, cjson.JsonObject) else None
        jambonz = self.sw.config.audio_fork == "jambonz"
        if kind == "playAudio" and fork.play_audio_enabled:
            if isinstance(data, cjson.JsonObject):
                self._play_audio(fork, data)
        elif kind == "killAudio":
            fork.event("kill_audio")
            runner = self.sw.runners.get(fork.channel.uuid)
            if runner is not None:
                runner.set_break(2)
            if fork.stream is not None:
                fork.stream.kill()
        elif kind == "mark" and jambonz:
            name = data.get("name") if isinstance(data, cjson.JsonObject) else None
            if isinstance(name, str) and fork.stream is not None:
                fork.stream.mark(name)  # on a legacy bug: accepted, never reported
        elif kind == "clearMarks" and jambonz:
            if fork.stream is not None:
                fork.stream.clear_marks()
        elif kind in ("transcription", "transfer", "disconnect", "error"):
            fork.event(kind, cjson.dumps(data))
        elif kind == "json":
            fork.event("json", cjson.dumps(msg))

    def _play_audio(self, fork: ForkSession, data: cjson.JsonObject) -> None:
        audio = data.detach("audioContent")
        valid = isinstance(audio, str)
        content_type = data.get("audioContentType")
        suffix = ""
        if content_type == "raw":
            rate = data.get("sampleRate")
            rate = int(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else 0
            suffix = _RAW_TYPES.get(rate, ".r16")
        elif content_type in ("wave", "wav"):
            suffix = ".wav"
        else:
            valid = False
        if valid:
            assert isinstance(audio, str)
            try:
                raw = base64.b64decode(audio)
            except (binascii.Error, ValueError):
                raw = b""
            path = self.sw.temp_dir / f"{fork.channel.uuid}_{next(self._play_count)}.tmp{suffix}"
            path.write_bytes(raw)
            fork.temp_files.append(path)
            data.append(("file", str(path)))
        fork.event("play_audio", cjson.dumps(data))
