"""The emulated switch: channels, their state transitions and events, and the event hub.

:class:`FakeFreeSwitch` owns every task it starts (see ``tasks.py``) and every server
socket; ``async with FakeFreeSwitch() as sw:`` gives a started emulator on ephemeral
ports. Scripted call flows live in ``scenarios.py``; ESL and mod_audio_fork in their own
modules. Nothing here imports ``callcontrol``.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import tempfile
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .audiofork import AudioForks
from .callmedia import ChannelMedia
from .channel import CALL_STATES, HANGUP_CAUSES, CallerProfile, Channel, Codec, Times, now_us
from .events import CALLING_SITES, Event
from .faults import Faults
from .inbound import InboundServer
from .media import Audio
from .originate import Originator
from .outbound import OutboundSockets
from .playback import CallAudio
from .recorder import Recorder
from .runner import ChannelRunner, Plan, PrivateMessage
from .scenarios import Extension, Scenarios
from .tasks import TaskOwner

if TYPE_CHECKING:
    from .esl import EslConnection

# events that carry the channel variables (switch_channel_event_set_extended_data)
EXTENDED_EVENTS = frozenset(
    """CHANNEL_CREATE CHANNEL_ORIGINATE CHANNEL_UUID CHANNEL_ANSWER CHANNEL_PARK CHANNEL_UNPARK
    CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_HANGUP
    CHANNEL_HANGUP_COMPLETE REQUEST_PARAMS CHANNEL_DATA CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE
    CHANNEL_DESTROY SESSION_HEARTBEAT API RECORD_START RECORD_STOP PLAYBACK_START PLAYBACK_STOP
    CALL_UPDATE MEDIA_BUG_START MEDIA_BUG_STOP CHANNEL_HOLD CHANNEL_UNHOLD TEXT CUSTOM""".split()
)


@dataclass
class SwitchConfig:
    password: str = "ClueCon"
    host: str = "127.0.0.1"
    esl_port: int = 0
    hostname: str = "vm"
    ipv4: str = "192.0.2.2"
    ipv6: str = "fd00::2"
    core_uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    max_sessions: int = 1000
    sessions_per_second: int = 30
    temp_dir: Path | None = None  # mod_audio_fork temp files; a fresh directory when None
    acl_reject: bool = False  # answer every ESL connect with text/rude-rejection
    ptime_ms: int = 20  # default packetisation of new channels (recordings used 30)
    outbound_park_delay: float = 0.02  # socket async: park starts this long after `connect`
    # HEARTBEAT every this many seconds (FreeSWITCH's event-heartbeat-interval, 20 by
    # default; recordings/esl-heartbeat-plain). None: no heartbeats.
    heartbeat_interval: float | None = 20.0
    # Which mod_audio_fork: "drachtio" (88e1465, what the recordings hold) or "jambonz"
    # (freeswitch-modules 1.2.22, what the compose image ships): they split the
    # uuid_audio_fork arguments differently (7 tokens vs 10, seen on a real 1.10.12).
    audio_fork: str = "drachtio"


class FakeFreeSwitch:
    """A FreeSWITCH 1.10.12 stand-in speaking ESL (inbound and outbound) and mod_audio_fork."""

    def __init__(self, config: SwitchConfig | None = None, **overrides: Any) -> None:
        self.config = config or SwitchConfig()
        for key, value in overrides.items():
            setattr(self.config, key, value)
        self.tasks = TaskOwner("fake-freeswitch")
        self.channels: dict[str, Channel] = {}
        self.ended: dict[str, Channel] = {}
        self.runners: dict[str, ChannelRunner] = {}
        self._media: dict[str, ChannelMedia] = {}
        self.events: list[Event] = []
        self.extensions: dict[str, Extension] = {}
        self.dialplans: dict[str, Plan] = {}
        self.connections: set[EslConnection] = set()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._seq = itertools.count(random.randint(1000, 5000))
        self._session_id = itertools.count(1)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.started_at = time.time()
        self.sessions_since_startup = 0
        self.peak_sessions = 0
        self.inbound = InboundServer(self)
        self.outbound = OutboundSockets(self)
        self.forks = AudioForks(self)
        self.recorder = Recorder(self)
        self.originator = Originator(self)
        self.scenarios = Scenarios(self)
        self.faults = Faults(self)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> FakeFreeSwitch:
        if self.config.temp_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fakefs-")
            self.config.temp_dir = Path(self._tmp.name)
        self.config.temp_dir.mkdir(parents=True, exist_ok=True)
        await self.inbound.start()
        if self.config.heartbeat_interval:
            self.tasks.spawn(self._heartbeats(self.config.heartbeat_interval), name="heartbeat")
        return self

    async def _heartbeats(self, interval: float) -> None:
        """switch_core.c send_heartbeat: HEARTBEAT (and RE_SCHEDULE) on a timer."""
        started = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            up_ms = int((time.monotonic() - started) * 1000)
            self.fire_event(
                "HEARTBEAT",
                [
                    ("Event-Info", "System Ready"),
                    ("Uptime-msec", str(up_ms)),
                    ("Session-Count", str(len(self.channels))),
                    ("Max-Sessions", str(self.config.max_sessions)),
                    ("Session-Per-Sec", str(self.config.sessions_per_second)),
                ],
            )

    async def aclose(self) -> None:
        """Hang up nothing, just stop: close sockets, cancel and await every task."""
        await self.inbound.stop()
        for conn in list(self.connections):
            conn.abort()
        await self.forks.aclose()
        await self.tasks.aclose()
        for conn in list(self.connections):
            conn.abort()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> FakeFreeSwitch:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def esl_port(self) -> int:
        return self.inbound.port

    @property
    def temp_dir(self) -> Path:
        assert self.config.temp_dir is not None
        return self.config.temp_dir

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    # ------------------------------------------------------------------ events
    def make_headers(
        self, name: str, *, subclass: str | None = None, site: tuple[str, str, int] | None = None
    ) -> list[tuple[str, str]]:
        t = time.time()
        file, func, line = site or CALLING_SITES.get(
            name, ("switch_event.c", "switch_event_fire_detailed", 0)
        )
        head: list[tuple[str, str]] = [("Event-Subclass", subclass)] if subclass else []
        head += [
            ("Event-Name", name),
            ("Core-UUID", self.config.core_uuid),
            ("FreeSWITCH-Hostname", self.config.hostname),
            ("FreeSWITCH-Switchname", self.config.hostname),
            ("FreeSWITCH-IPv4", self.config.ipv4),
            ("FreeSWITCH-IPv6", self.config.ipv6),
            ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))),
            ("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))),
            ("Event-Date-Timestamp", str(int(t * 1_000_000))),
            ("Event-Calling-File", file),
            ("Event-Calling-Function", func),
            ("Event-Calling-Line-Number", str(line)),
            ("Event-Sequence", str(next(self._seq))),
        ]
        return head

    def fire(self, event: Event) -> Event:
        self.events.append(event)
        for conn in list(self.connections):
            conn.deliver(event)
        self._check_waiters()
        return event

    def fire_event(
        self,
        name: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        body: str | None = None,
        subclass: str | None = None,
        site: tuple[str, str, int] | None = None,
    ) -> Event:
        head = self.make_headers(name, subclass=subclass, site=site)
        head += [(k, v) for k, v in headers if v != ""]
        return self.fire(Event(tuple(head), body))

    def channel_event(
        self,
        ch: Channel,
        name: str,
        *,
        before: Iterable[tuple[str, str]] = (),
        after: Iterable[tuple[str, str]] = (),
        body: str | None = None,
        subclass: str | None = None,
        extended: bool | None = None,
        site: tuple[str, str, int] | None = None,
    ) -> Event:
        ext = (name in EXTENDED_EVENTS) if extended is None else extended
        headers = [*before, *ch.event_headers(extended=ext), *after]
        return self.fire_event(name, headers, body=body, subclass=subclass, site=site)

    # ------------------------------------------------------------------ waiting (for tests)
    def _check_waiters(self) -> None:
        keep = []
        for predicate, fut in self._waiters:
            if fut.done():
                continue
            try:
                hit = predicate()
            except Exception as exc:  # noqa: BLE001 - a broken predicate must fail the waiting test
                fut.set_exception(exc)
                continue
            if hit:
                fut.set_result(None)
            else:
                keep.append((predicate, fut))
        self._waiters = keep

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds: re-checked after every event and every 50 ms."""
        deadline = self.now() + timeout
        while not predicate():
            remaining = deadline - self.now()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((predicate, fut))
            try:
                await asyncio.wait_for(fut, min(remaining, 0.05))
            except TimeoutError:
                pass
            finally:
                self._waiters = [(p, f) for p, f in self._waiters if f is not fut]

    async def wait_for_event(
        self, name: str, *, uuid: str | None = None, timeout: float = 5.0, since: int = 0
    ) -> Event:
        """The first event named ``name`` (or CUSTOM subclass) at index >= ``since``."""

        def find() -> Event | None:
            for ev in self.events[since:]:
                if name in (ev.name, ev.key) and (uuid is None or ev.unique_id == uuid):
                    return ev
            return None

        await self.wait_until(lambda: find() is not None, timeout)
        found = find()
        assert found is not None
        return found

    def events_for(self, uuid: str, name: str | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if e.unique_id == uuid and (name is None or name in (e.name, e.key))
        ]

    def channel(self, uuid: str) -> Channel:
        ch = self.channels.get(uuid) or self.ended.get(uuid)
        if ch is None:
            raise KeyError(f"no channel {uuid}")
        return ch

    def state_matches(self, uuid: str, state: str) -> bool:
        ch = self.channels.get(uuid) or self.ended.get(uuid)
        if ch is None:
            return False
        runner = self.runners.get(uuid)
        return state in (
            ch.running_state,
            ch.call_state,
            ch.answer_state,
            "parked" if runner and runner.current_app == "park" else "",
            "destroyed" if ch.destroyed else "",
        )

    async def wait_for_channel_state(self, uuid: str, state: str, timeout: float = 5.0) -> Channel:
        """Wait for a state: CS_*, a call state (ACTIVE…), an answer state, parked, destroyed."""
        await self.wait_until(lambda: self.state_matches(uuid, state), timeout)
        return self.channel(uuid)

    # ------------------------------------------------------------------ channels
    def media_of(self, ch: Channel) -> ChannelMedia:
        return self._media.setdefault(ch.uuid, ChannelMedia())

    def media_of_uuid(self, uuid: str) -> ChannelMedia:
        return self._media.setdefault(uuid, ChannelMedia())

    def captured_audio(self, uuid: str) -> CallAudio:
        """What the caller of ``uuid`` heard (every playback, real-time, with breaks)."""
        return self._media.setdefault(uuid, ChannelMedia()).heard

    def caller_says(
        self, uuid: str, audio: Audio | bytes | str | Path, rate: int | None = None
    ) -> float:
        """Queue caller speech on a channel (what mod_audio_fork will stream)."""
        from .media import as_audio

        return self.media_of(self.channel(uuid)).say(as_audio(audio, rate), self.now())

    def new_channel(
        self,
        *,
        direction: str,
        name: str,
        destination: str,
        uuid: str | None = None,
        caller_id_name: str = "",
        caller_id_number: str = "",
        username: str = "",
        dialplan: str = "",
        context: str = "",
        source: str = "mod_sofia",
        network_addr: str = "",
        callee_id_name: str = "",
        callee_id_number: str = "",
        ptime_ms: int | None = None,
    ) -> Channel:
        uid = uuid or str(uuidlib.uuid4())
        if uid in self.channels:
            raise ValueError(f"channel {uid} already exists")
        created = now_us()
        profile = CallerProfile(
            direction=direction,
            destination_number=destination,
            uuid=uid,
            chan_name=name,
            username=username,
            dialplan=dialplan,
            caller_id_name=caller_id_name,
            caller_id_number=caller_id_number,
            callee_id_name=callee_id_name,
            callee_id_number=callee_id_number,
            network_addr=network_addr,
            ani=caller_id_number,
            source=source,
            context=context,
            times=Times(profile_created=created, created=created),
        )
        ch = Channel(
            uuid=uid, name=name, direction=direction, profile=profile, ip_addr=network_addr
        )
        ch.hit_dialplan = direction == "inbound"
        ch.ptime_ms = ptime_ms or self.config.ptime_ms
        ch.created_epoch = created / 1_000_000
        ch.snapshot_initial()
        ch.set_var("direction", direction)
        ch.set_var("uuid", uid)
        ch.set_var("session_id", str(next(self._session_id)))
        self.channels[uid] = ch
        self.runners[uid] = ChannelRunner(self, ch)
        self.media_of(ch)
        self.sessions_since_startup += 1
        self.peak_sessions = max(self.peak_sessions, len(self.channels))
        return ch

    def start_runner(self, ch: Channel, plan: Plan | None) -> asyncio.Task[None]:
        return self.tasks.spawn(self.runners[ch.uuid].run(plan), name=f"channel {ch.uuid}")

    def set_running_state(self, ch: Channel, state: str) -> None:
        ch.state = state
        ch.running_state = state
        self.channel_event(ch, "CHANNEL_STATE", extended=False)

    def set_callstate(self, ch: Channel, new: str) -> None:
        old = ch.call_state
        if old == new:
            return
        ch.call_state = new
        before = [
            ("Original-Channel-Call-State", old),
            ("Channel-Call-State-Number", str(CALL_STATES[new])),
        ]
        self.channel_event(ch, "CHANNEL_CALLSTATE", before=before, extended=False)

    def set_codecs(self, ch: Channel, codec: Codec | None = None) -> None:
        if ch.read_codec is not None:
            return
        codec = codec or ch.codec_pref or Codec()
        ch.read_codec = codec
        ch.write_codec = codec
        read_site = ("switch_core_codec.c", "switch_core_session_set_real_read_codec", 168)
        write_site = ("switch_core_codec.c", "switch_core_session_set_write_codec", 450)
        self.channel_event(
            ch,
            "CODEC",
            after=[
                ("channel-read-codec-name", codec.name),
                ("channel-read-codec-rate", str(codec.rate)),
                ("channel-read-codec-bit-rate", str(codec.bit_rate)),
            ],
            site=read_site,
        )
        self.channel_event(
            ch,
            "CODEC",
            after=[
                ("Channel-Write-Codec-Name", codec.name),
                ("Channel-Write-Codec-Rate", str(codec.rate)),
                ("Channel-Write-codec-bit-rate", str(codec.bit_rate)),
            ],
            site=write_site,
        )
        for key, value in (
            ("read_codec", codec.name),
            ("original_read_codec", codec.name),
            ("read_rate", str(codec.rate)),
            ("original_read_rate", str(codec.rate)),
            ("write_codec", codec.name),
            ("write_rate", str(codec.rate)),
            ("rtp_use_codec_ptime", str(ch.ptime_ms)),
        ):
            ch.set_var(key, value)

    def ring_ready(self, ch: Channel) -> bool:
        if ch.down:
            return False
        if not ch.ring_ready:
            ch.ring_ready = True
            assert ch.profile is not None
            ch.profile.times.progress = now_us()
            self.channel_event(ch, "CHANNEL_PROGRESS")
            if ch.direction == "outbound":
                self.set_callstate(ch, "RINGING")
        return True

    def pre_answer(self, ch: Channel) -> bool:
        if ch.down:
            return False
        if ch.early_media or ch.answered:
            return True
        if ch.direction == "outbound":
            return False  # only the far end can bring early media on an outbound leg
        self._mark_early(ch)
        return True

    def _mark_early(self, ch: Channel) -> None:
        self.set_codecs(ch)
        ch.early_media = True
        assert ch.profile is not None
        ch.profile.times.progress_media = now_us()
        self.channel_event(ch, "CHANNEL_PROGRESS_MEDIA")
        self.set_callstate(ch, "EARLY")
        runner = self.runners.get(ch.uuid)
        if runner is not None:
            runner.read_park_silence()

    def answer(self, ch: Channel) -> bool:
        if ch.down:
            return False
        if ch.answered:
            return True
        if ch.direction == "outbound":
            return False  # switch_channel_answer cannot answer for the far end
        if not ch.early_media:
            self._mark_early(ch)
        self._mark_answered(ch)
        return True

    def _mark_answered(self, ch: Channel) -> None:
        self.set_codecs(ch)
        ch.answered = True
        assert ch.profile is not None
        ch.profile.times.answered = now_us()
        self.channel_event(ch, "CHANNEL_ANSWER")
        self.set_callstate(ch, "ACTIVE")
        media = self.media_of(ch)
        if media.voice_trigger == "answer":
            media.start_voice(self.now())

    def far_end_answered(self, ch: Channel) -> None:
        """The called party picked up an outbound leg."""
        if ch.down or ch.answered:
            return
        self._mark_answered(ch)

    def hangup(self, ch: Channel, cause: str = "NORMAL_CLEARING") -> bool:
        """switch_channel_perform_hangup: CHANNEL_HANGUP now, the rest when the apps unwind."""
        if ch.down:
            return False
        ch.down = True
        ch.hangup_cause = cause if cause in HANGUP_CAUSES else "NORMAL_CLEARING"
        inbound_sip = ch.direction == "inbound" and ch.name.startswith("sofia/")
        if inbound_sip and not ch.variables.get("sip_hangup_disposition"):
            # Hung up from this side: an unanswered INVITE is refused (sofia sends the
            # cause's SIP status: 480 for SUBSCRIBER_ABSENT/NO_ANSWER, 486 for
            # USER_BUSY…), an answered call gets a BYE. Recorded on 1.10.12
            # (esl-events-*-b-originate-fail: send_refuse on the refused inbound leg).
            ch.set_var("sip_hangup_disposition", "send_bye" if ch.answered else "send_refuse")
        ch.state = "CS_HANGUP"
        assert ch.profile is not None
        ch.profile.times.hungup = now_us()
        self.channel_event(ch, "CHANNEL_HANGUP")
        runner = self.runners.get(ch.uuid)
        if runner is not None:
            runner.poke()
        partner = self.channels.get(ch.partner_uuid or "")
        if partner is not None:
            self.unbridge(ch, partner)
        self._check_waiters()
        return True

    def report_hangup(self, ch: Channel) -> None:
        """CS_HANGUP → CS_REPORTING → destroy, with the CDR variables (runs once per channel)."""
        if ch.destroyed:
            return
        if ch.up:
            self.hangup(ch, "NORMAL_CLEARING")
        self.forks.channel_closed(ch)
        self.recorder.channel_closed(ch)
        self.set_running_state(ch, "CS_HANGUP")
        self.set_callstate(ch, "HANGUP")
        self.set_running_state(ch, "CS_REPORTING")
        self._cdr_variables(ch)
        cause = ch.hangup_cause or "NORMAL_CLEARING"
        self.channel_event(ch, "CHANNEL_HANGUP_COMPLETE", before=[("Hangup-Cause", cause)])
        self.outbound.channel_down(ch)  # controlling sockets disconnect or linger now
        ch.state = "CS_DESTROY"
        self.channel_event(ch, "CHANNEL_DESTROY")
        ch.running_state = "CS_DESTROY"
        self.channel_event(ch, "CHANNEL_STATE", extended=False)
        ch.destroyed = True
        self.channels.pop(ch.uuid, None)
        self.runners.pop(ch.uuid, None)
        self.ended[ch.uuid] = ch
        self._check_waiters()

    def _cdr_variables(self, ch: Channel) -> None:
        assert ch.profile is not None
        t = ch.profile.times
        cause = ch.hangup_cause or "NORMAL_CLEARING"
        end = t.hungup or now_us()
        answered = t.answered
        duration_us = end - t.created
        bill_us = end - answered if answered else 0

        def stamp(us: int) -> str:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1_000_000)) if us else ""

        values = {
            "hangup_cause": cause,
            "hangup_cause_q850": str(HANGUP_CAUSES.get(cause, 16)),
            "digits_dialed": "none",
            "start_stamp": stamp(t.created),
            "profile_start_stamp": stamp(t.profile_created),
            "answer_stamp": stamp(answered),
            "progress_media_stamp": stamp(t.progress_media),
            "end_stamp": stamp(end),
            "start_epoch": str(t.created // 1_000_000),
            "start_uepoch": str(t.created),
            "answer_epoch": str(answered // 1_000_000),
            "answer_uepoch": str(answered),
            "progress_epoch": str(t.progress // 1_000_000),
            "progress_uepoch": str(t.progress),
            "progress_media_epoch": str(t.progress_media // 1_000_000),
            "progress_media_uepoch": str(t.progress_media),
            "end_epoch": str(end // 1_000_000),
            "end_uepoch": str(end),
            "last_app": ch.application,
            "last_arg": ch.application_data,
            "duration": str(duration_us // 1_000_000),
            "billsec": str(bill_us // 1_000_000),
            "progresssec": str((t.progress - t.created) // 1_000_000 if t.progress else 0),
            "answersec": str((answered - t.created) // 1_000_000 if answered else 0),
            "waitsec": str((answered - t.created) // 1_000_000 if answered else 0),
            "mduration": str(duration_us // 1000),
            "billmsec": str(bill_us // 1000),
            "uduration": str(duration_us),
            "billusec": str(bill_us),
        }
        for key, value in values.items():
            ch.set_var(key, value or None)

    # ------------------------------------------------------------------ bridging / transfer
    def bridge(self, a: Channel, b: Channel) -> None:
        now = time.time()
        a.partner_uuid, b.partner_uuid = b.uuid, a.uuid
        a.bridge_role, b.bridge_role = "caller", "callee"
        a.sql_call_uuid = b.sql_call_uuid = a.uuid
        a.call_created_epoch = b.call_created_epoch = now
        a.other_type, a.other_profile = "originatee", b.profile
        b.other_type, b.other_profile = "originator", a.profile
        for ch, other in ((a, b), (b, a)):
            assert ch.profile is not None
            ch.profile.times.bridged = now_us()
            ch.set_var("bridge_uuid", other.uuid)
            ch.set_var("signal_bond", other.uuid)
            ch.set_var("last_bridge_to", other.uuid)
        ids = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
        self.channel_event(a, "CHANNEL_BRIDGE", before=ids)
        self.recorder.bridged(a, b)

    def unbridge(self, ch: Channel, partner: Channel) -> None:
        a, b = (ch, partner) if ch.bridge_role == "caller" else (partner, ch)
        ids = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
        self.channel_event(a, "CHANNEL_UNBRIDGE", before=ids)
        for leg in (a, b):
            leg.partner_uuid = None
            leg.bridge_role = ""
        survivor = partner if ch.down else ch
        if survivor.up:
            runner = self.runners.get(survivor.uuid)
            if survivor.variables.get("park_after_bridge") == "true" and runner is not None:
                runner.transfer_to([("park", "")])
            else:
                self.hangup(survivor, ch.hangup_cause or "NORMAL_CLEARING")

    async def bridge_app(self, runner: ChannelRunner, dialstring: str) -> None:
        await self.originator.bridge_app(runner, dialstring)

    def transfer(
        self, ch: Channel, dest: str, dialplan: str | None = None, context: str | None = None
    ) -> bool:
        runner = self.runners.get(ch.uuid)
        if runner is None or ch.down:
            return False
        assert ch.profile is not None
        old = ch.profile
        ch.profile = CallerProfile(**{**old.__dict__, "times": Times(**old.times.__dict__)})
        ch.profile.destination_number = dest
        ch.profile.dialplan = dialplan or old.dialplan or "XML"
        ch.profile.context = context or old.context
        ch.profile.profile_index = str(int(old.profile_index or "1") + 1)
        ch.profile.times.transferred = now_us()
        ch.set_var("transfer_source", f"{int(time.time())}:{ch.uuid}:uuid_br:{dest}")
        history = ch.variables.get("transfer_history")
        where = f"{dest}/{ch.profile.context}/{ch.profile.dialplan}"
        entry = f"{int(time.time())}:{ch.uuid}:bl_xfer:{where}"
        ch.set_var("transfer_history", f"{history}|{entry}" if history else entry)
        plan = self.dialplan_for(dest, ch.profile.context)
        runner.transfer_to(self.routed_plan(plan))
        return True

    def dialplan_for(self, dest: str, context: str) -> Plan:
        if dest in self.dialplans:
            return self.dialplans[dest]
        if dest in self.extensions:
            return [("bridge", f"user/{dest}")]
        return [("hangup", "NO_ROUTE_DESTINATION")]

    def routed_plan(self, plan: Plan) -> Callable[[ChannelRunner], Awaitable[None]]:
        async def routed(runner: ChannelRunner) -> None:
            self.set_running_state(runner.ch, "CS_ROUTING")
            self.set_running_state(runner.ch, "CS_EXECUTE")
            await runner.run_plan(plan)

        return routed

    # ------------------------------------------------------------------ private messages
    def post(self, uuid: str, msg: PrivateMessage) -> bool:
        runner = self.runners.get(uuid)
        if runner is None or runner.ch.down:
            return False
        runner.post(msg)
        return True

    def live_channels(self) -> Sequence[Channel]:
        return list(self.channels.values())

    # ------------------------------------------------------------------ scenario shortcuts
    async def inbound_call(self, **kwargs: Any) -> str:
        """See :meth:`Scenarios.inbound_call`."""
        return await self.scenarios.inbound_call(**kwargs)

    async def far_end_hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """The remote party (the caller of an inbound call) hangs up."""
        await self.scenarios.far_end_hangup(uuid, cause)

    caller_hangup = far_end_hangup

    async def caller_dtmf(self, uuid: str, digits: str, *, interval: float = 0.1) -> None:
        await self.scenarios.caller_dtmf(uuid, digits, interval=interval)

    async def restart(self, down_for: float = 1.0, **kwargs: Any) -> None:
        await self.faults.restart(down_for, **kwargs)
