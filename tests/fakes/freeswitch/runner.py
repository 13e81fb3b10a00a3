"""The session thread of one channel: its dialplan applications and private event queue.

Mirrors switch_core_session_exec / switch_ivr_parse_event (v1.10.12):

* ``sendmsg`` / ``uuid_broadcast`` queue *private messages*; they are dequeued when the
  channel is parked, or **nested** inside an interruptible application (playback, sleep),
  unless an ``event-lock`` message is running (CF_EVENT_LOCK blocks the dequeue);
* CF_BREAK (``uuid_break``, ``killAudio``) stops the current playback; it is cleared when
  the next application starts;
* a hangup is signalled from outside; the running applications unwind (UNPARK,
  EXECUTE_COMPLETE) and the switch then reports the hangup states.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .channel import Channel, cause_from_str
from .media import CAPTURE_RATE, Segment
from .playback import Playable, PlaybackError, PlaybackRecord, load_playable, reported_samples
from .wire import Command

if TYPE_CHECKING:
    from .switch import FakeFreeSwitch

Plan = list[tuple[str, str]] | Callable[["ChannelRunner"], Awaitable[None]]

_SIP_CAUSES = {
    "404": "UNALLOCATED_NUMBER",
    "480": "NO_USER_RESPONSE",
    "486": "USER_BUSY",
    "487": "ORIGINATOR_CANCEL",
    "503": "NORMAL_TEMPORARY_FAILURE",
    "603": "CALL_REJECTED",
}


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    """A queued ``sendmsg`` (call-command execute/hangup), as switch_ivr_parse_event reads it."""

    call_command: str
    app: str = ""
    arg: str = ""
    event_lock: bool = False
    loops: int = 1
    lead_frames: int = 0
    hangup_cause: str = "NORMAL_CLEARING"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_command(cls, cmd: Command) -> PrivateMessage:
        def truthy(value: str | None) -> bool:
            return (value or "").lower() in ("true", "yes", "on", "1", "enabled", "active", "allow")

        arg = cmd.header("execute-app-arg") or ""
        content_type = (cmd.header("content-type") or "").lower()
        if not arg and cmd.body and content_type == "text/plain":
            arg = cmd.body.decode("utf-8", errors="replace")
        loops_text = cmd.header("loops")
        lead = cmd.header("lead-frames")
        return cls(
            call_command=(cmd.header("call-command") or "").lower(),
            app=cmd.header("execute-app-name") or "",
            arg=arg,
            event_lock=truthy(cmd.header("event-lock")) or truthy(cmd.header("event-lock-pri")),
            loops=int(loops_text) if loops_text and loops_text.lstrip("-").isdigit() else 1,
            lead_frames=int(lead) if lead and lead.isdigit() else 0,
            hangup_cause=cause_from_str(cmd.header("hangup-cause")),
            headers=cmd.headers,
        )

    @classmethod
    def execute(
        cls, app: str, arg: str = "", *, event_lock: bool = False, lead_frames: int = 0
    ) -> PrivateMessage:
        headers = [("call-command", "execute"), ("execute-app-name", app)]
        if arg:
            headers.append(("execute-app-arg", arg))
        if event_lock:
            headers.append(("event-lock", "true"))
        if lead_frames:
            headers.append(("lead-frames", str(lead_frames)))
        return cls("execute", app, arg, event_lock, 1, lead_frames, headers=tuple(headers))


class ChannelRunner:
    """Runs one channel's applications in its own task (the emulator's session thread)."""

    def __init__(self, switch: FakeFreeSwitch, channel: Channel) -> None:
        self.sw = switch
        self.ch = channel
        self.queue: deque[PrivateMessage] = deque()
        self.event_lock = 0
        self.break_flag = 0
        self.redirect: Plan | None = None
        self.socket_connected = asyncio.Event()
        # park's send_silence_when_idle, read once per park when media is first ready
        # (switch_ivr_park); None until read
        self.park_silence: bool | None = None
        self._wake = asyncio.Event()
        self._stack: list[str] = []

    # ------------------------------------------------------------------ signals from outside
    def poke(self) -> None:
        self._wake.set()

    def post(self, msg: PrivateMessage) -> None:
        self.queue.append(msg)
        self.poke()

    def flush(self) -> None:
        self.queue.clear()

    def set_break(self, value: int = 1) -> None:
        self.break_flag = max(self.break_flag, value)
        self.poke()

    def transfer_to(self, plan: Plan) -> None:
        self.redirect = plan
        self.poke()

    @property
    def can_dequeue(self) -> bool:
        return bool(self.queue) and self.event_lock == 0 and self.ch.up

    @property
    def current_app(self) -> str | None:
        return self._stack[-1] if self._stack else None

    @property
    def playing(self) -> bool:
        return "playback" in self._stack

    @property
    def writing(self) -> bool:
        """Does the channel write a frame every ptime (what drives a WRITE_REPLACE bug)?

        A playback writes; ``echo`` writes; ``park`` writes silence only when it found
        ``send_silence_when_idle`` non-zero when media came up. Anything else writes nothing.
        """
        if not self.ch.media_ready:
            return False
        if self.playing or self.current_app == "echo":
            return True
        return self.current_app == "park" and bool(self.park_silence)

    def read_park_silence(self) -> None:
        """switch_ivr_park: on its first loop with media ready, read send_silence_when_idle."""
        if self.current_app == "park" and self.park_silence is None and self.ch.media_ready:
            value = self.ch.variables.get("send_silence_when_idle", "")
            match = re.match(r"\s*([+-]?\d+)", value)
            self.park_silence = bool(match and int(match.group(1)))

    async def wait(self, timeout: float | None) -> None:
        """Sleep until poked (message, break, hangup, redirect) or ``timeout`` seconds."""
        if timeout is not None and timeout <= 0:
            return
        self._wake.clear()
        if timeout is None:
            await self._wake.wait()
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    async def sleep(self, seconds: float) -> None:
        """An uninterruptible pause that still ends early on hangup."""
        deadline = self.sw.now() + seconds
        while self.ch.up and self.sw.now() < deadline:
            await self.wait(deadline - self.sw.now())

    # ------------------------------------------------------------------ main loop
    async def run(self, plan: Plan | None) -> None:
        try:
            while plan is not None and self.ch.up:
                self.redirect = None
                await self.run_plan(plan)
                plan = self.redirect
                if plan is None and self.ch.up:
                    # the extension ran out of applications
                    self.sw.hangup(self.ch, "NORMAL_CLEARING")
        finally:
            self.sw.report_hangup(self.ch)

    async def run_plan(self, plan: Plan) -> None:
        if callable(plan):
            await plan(self)
            return
        for app, arg in plan:
            if not self.ch.up or self.redirect is not None:
                break
            await self.execute(app, arg)

    async def service_queue(self) -> None:
        """switch_ivr_parse_all_events: run queued messages (nested) while allowed."""
        while self.can_dequeue:
            await self.run_message(self.queue.popleft())

    async def run_message(self, msg: PrivateMessage) -> None:
        if msg.event_lock:
            self.event_lock += 1
        try:
            if msg.lead_frames and self.ch.media_ready:
                await self.sleep(msg.lead_frames * self.ch.ptime_ms / 1000)
            if msg.call_command == "execute" and msg.app:
                loops = msg.loops
                x = 0
                while (x < loops or loops < 0) and self.ch.up:
                    self.ch.set_var("current_loop", str(x + 1))
                    self.ch.set_var("total_loops", str(loops))
                    started = self.sw.now()
                    ok = await self.execute(msg.app, msg.arg)
                    x += 1
                    if not ok or self.sw.now() - started < 0.5:
                        break
                self.ch.set_var("current_loop", None)
                self.ch.set_var("total_loops", None)
            elif msg.call_command == "hangup":
                self.sw.hangup(self.ch, msg.hangup_cause)
        finally:
            if msg.event_lock:
                self.event_lock -= 1
        self.sw.channel_event(self.ch, "PRIVATE_COMMAND", before=msg.headers, extended=False)

    # ------------------------------------------------------------------ applications
    async def execute(self, app: str, arg: str = "") -> bool:
        impl = _APPS.get(app.lower())
        if impl is None:
            self.sw.hangup(self.ch, "DESTINATION_OUT_OF_ORDER")
            return False
        ch = self.ch
        app_uuid = str(uuidlib.uuid4())
        ch.set_var("current_application", app)
        ch.set_var("current_application_data", arg or None)
        ch.set_var("current_application_response", None)
        ch.application, ch.application_data = app, arg
        data = [("Application", app)] + ([("Application-Data", arg)] if arg else [])
        self._stack.append(app)
        self.sw.channel_event(ch, "CHANNEL_EXECUTE", after=[*data, ("Application-UUID", app_uuid)])
        self.break_flag = 0
        ch.set_var("current_application", app)
        try:
            await impl(self, arg)
        finally:
            self._stack.pop()
            response = ch.variables.get("current_application_response") or "_none_"
            self.sw.channel_event(
                ch,
                "CHANNEL_EXECUTE_COMPLETE",
                after=[*data, ("Application-Response", response), ("Application-UUID", app_uuid)],
            )
        return ch.up

    async def interruptible_wait(self, seconds: float | None) -> str:
        """Wait inside an app, running nested messages; 'hangup'|'break'|'redirect'|'timeout'."""
        deadline = None if seconds is None else self.sw.now() + seconds
        while True:
            if not self.ch.up:
                return "hangup"
            if self.redirect is not None:
                return "redirect"
            if self.break_flag:
                return "break"
            if self.can_dequeue:
                await self.service_queue()
                continue
            remaining = None if deadline is None else deadline - self.sw.now()
            if remaining is not None and remaining <= 0:
                return "timeout"
            await self.wait(remaining)

    async def play(self, playable: Playable) -> str:
        """switch_ivr_play_file: PLAYBACK_START, real-time play, PLAYBACK_STOP. Returns status."""
        ch, media = self.ch, self.sw.media_of(self.ch)
        file_type = [("Playback-File-Type", playable.file_type)] if playable.file_type else []
        path = [("Playback-File-Path", playable.path)]
        self.sw.channel_event(ch, "PLAYBACK_START", after=file_type + path)
        started_wall = time.time()
        total = playable.total
        played = 0
        status = "done"
        chunks: list[np.ndarray] = []
        terminators = ch.variables.get("playback_terminators", "*")
        while True:
            if not ch.up:
                status = "hangup"
                break
            if self.break_flag or self.redirect is not None:
                self.break_flag = 0
                status = "break"
                break
            if self.can_dequeue:
                await self.service_queue()  # nested: this playback is paused meanwhile
                continue
            if media.dtmf:
                digit = media.dtmf.popleft()
                if terminators != "none" and digit in terminators:
                    ch.set_var("playback_terminator_used", digit)
                    status = "break"
                    break
                continue
            remaining = None if total is None else total - played
            if remaining is not None and remaining <= 0:
                break
            seg_start = self.sw.now()
            if playable.samples is None:
                seg = Segment.of_silence(seg_start, 3600 * CAPTURE_RATE)
            else:
                seg = Segment(seg_start, playable.slice(played, total or 0))
            media.played.add_segment(seg)
            await self.wait(None if remaining is None else remaining / CAPTURE_RATE)
            n = int(round((self.sw.now() - seg_start) * CAPTURE_RATE))
            n = n if remaining is None else min(n, remaining)
            seg.truncate(n)
            chunks.append(playable.slice(played, played + n))
            played += n
        reported = reported_samples(played, total, playable.native_rate)
        channel_rate = ch.read_codec.rate if ch.read_codec else 8000
        ch.set_var("playback_last_offset_pos", str(played * channel_rate // CAPTURE_RATE))
        ch.set_var("playback_seconds", str(reported // playable.native_rate))
        ch.set_var("playback_ms", str(reported // (playable.native_rate // 1000)))
        ch.set_var("playback_samples", str(reported))
        wire_status = "break" if status == "break" else "done"
        self.sw.channel_event(
            ch, "PLAYBACK_STOP", after=[*file_type, *path, ("Playback-Status", wire_status)]
        )
        pcm = np.concatenate(chunks).astype("<i2").tobytes() if chunks else b""
        media.heard.playbacks.append(
            PlaybackRecord(playable.path, started_wall, time.time(), total, played, status, pcm)
        )
        return status


# ---------------------------------------------------------------------- the applications


async def _app_answer(r: ChannelRunner, arg: str) -> None:
    r.sw.answer(r.ch)


async def _app_pre_answer(r: ChannelRunner, arg: str) -> None:
    r.sw.pre_answer(r.ch)


async def _app_ring_ready(r: ChannelRunner, arg: str) -> None:
    r.sw.ring_ready(r.ch)


async def _app_park(r: ChannelRunner, arg: str) -> None:
    r.sw.channel_event(r.ch, "CHANNEL_PARK")
    r.park_silence = None
    r.read_park_silence()
    await r.interruptible_wait(None)
    while r.ch.up and r.break_flag and r.redirect is None:
        r.break_flag = 0  # a break does not end park
        await r.interruptible_wait(None)
    if not r.ch.up:
        await asyncio.sleep(r.ch.ptime_ms / 1000)  # park notices the hangup on its next frame
    r.sw.channel_event(r.ch, "CHANNEL_UNPARK")


async def _app_echo(r: ChannelRunner, arg: str) -> None:
    while r.ch.up and r.redirect is None:
        await r.interruptible_wait(None)
        r.break_flag = 0


async def _app_sleep(r: ChannelRunner, arg: str) -> None:
    ms = int(arg) if arg.strip().isdigit() else 0
    deadline = r.sw.now() + ms / 1000
    while r.ch.up and r.redirect is None:
        reason = await r.interruptible_wait(deadline - r.sw.now())
        if reason != "break":
            break
        r.break_flag = 0


async def _app_hangup(r: ChannelRunner, arg: str) -> None:
    r.sw.hangup(r.ch, cause_from_str(arg))


async def _app_set(r: ChannelRunner, arg: str) -> None:
    name, _, value = arg.partition("=")
    if name:
        r.ch.set_var(name.strip(), value or None)


async def _app_export(r: ChannelRunner, arg: str) -> None:
    name, _, value = arg.partition("=")
    if name:
        r.ch.set_var(name.strip(), value or None)
        exported = [v for v in r.ch.variables.get("export_vars", "").split(",") if v]
        if name.strip() not in exported:
            exported.append(name.strip())
        r.ch.set_var("export_vars", ",".join(exported))


async def _app_unset(r: ChannelRunner, arg: str) -> None:
    r.ch.set_var(arg.strip(), None)


async def _app_playback(r: ChannelRunner, arg: str) -> None:
    try:
        playable = load_playable(arg)
    except PlaybackError as exc:
        r.ch.set_var("current_application_response", exc.response)
        return
    await r.play(playable)
    r.ch.set_var("current_application_response", "FILE PLAYED")


async def _app_respond(r: ChannelRunner, arg: str) -> None:
    code = arg.split(" ", 1)[0]
    if code == "180":
        r.sw.ring_ready(r.ch)
        return
    if code.startswith("18"):
        r.sw.pre_answer(r.ch)
        return
    if code.startswith("2"):
        r.sw.answer(r.ch)
        return
    r.sw.hangup(r.ch, _SIP_CAUSES.get(code, "NORMAL_TEMPORARY_FAILURE"))


async def _app_socket(r: ChannelRunner, arg: str) -> None:
    await r.sw.outbound.run_socket_app(r, arg)


async def _app_bridge(r: ChannelRunner, arg: str) -> None:
    await r.sw.bridge_app(r, arg)


async def _app_transfer(r: ChannelRunner, arg: str) -> None:
    parts = arg.split()
    if parts:
        r.sw.transfer(r.ch, parts[0], *parts[1:3])


async def _app_record_session(r: ChannelRunner, arg: str) -> None:
    r.sw.recorder.start(r.ch, arg.split(" ")[0])


async def _app_stop_record_session(r: ChannelRunner, arg: str) -> None:
    r.sw.recorder.stop(r.ch, arg.strip() or "all")


async def _app_noop(r: ChannelRunner, arg: str) -> None:
    return None


_APPS: dict[str, Callable[[ChannelRunner, str], Awaitable[None]]] = {
    "answer": _app_answer,
    "pre_answer": _app_pre_answer,
    "ring_ready": _app_ring_ready,
    "park": _app_park,
    "echo": _app_echo,
    "sleep": _app_sleep,
    "hangup": _app_hangup,
    "set": _app_set,
    "export": _app_export,
    "unset": _app_unset,
    "playback": _app_playback,
    "respond": _app_respond,
    "socket": _app_socket,
    "bridge": _app_bridge,
    "transfer": _app_transfer,
    "record_session": _app_record_session,
    "stop_record_session": _app_stop_record_session,
    "info": _app_noop,
    "log": _app_noop,
}
