"""The channel model: state, caller profile, variables, and the event headers they produce.

Header order follows switch_channel_event_set_basic_data / _extended_data and
switch_caller_profile_event_set_data (v1.10.12); empty values are dropped like
``switch_event_add_header_string`` does. Pure; the switch drives it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

CHANNEL_STATES = {
    "CS_NEW": 0,
    "CS_INIT": 1,
    "CS_ROUTING": 2,
    "CS_SOFT_EXECUTE": 3,
    "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5,
    "CS_PARK": 6,
    "CS_CONSUME_MEDIA": 7,
    "CS_HIBERNATE": 8,
    "CS_RESET": 9,
    "CS_HANGUP": 10,
    "CS_REPORTING": 11,
    "CS_DESTROY": 12,
    "CS_NONE": 13,
}

CALL_STATES = {
    "DOWN": 0,
    "DIALING": 1,
    "RINGING": 2,
    "EARLY": 3,
    "ACTIVE": 4,
    "HELD": 5,
    "RING_WAIT": 6,
    "HANGUP": 7,
    "UNHELD": 8,
}

# switch_channel_cause2str / Q.850 values
HANGUP_CAUSES = {
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_DESTINATION": 3,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "NORMAL_UNSPECIFIED": 31,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "ORIGINATOR_CANCEL": 487,
    "LOSE_RACE": 502,
    "MANAGER_REQUEST": 503,
    "ALLOTTED_TIMEOUT": 602,
    "MEDIA_TIMEOUT": 604,
    "USER_NOT_REGISTERED": 606,
}


def cause_from_str(text: str | None, default: str = "NORMAL_CLEARING") -> str:
    """``switch_channel_str2cause``: a name (any case) or a Q.850 number."""
    if not text:
        return default
    upper = text.strip().upper()
    if upper in HANGUP_CAUSES:
        return upper
    if upper.isdigit():
        for name, code in HANGUP_CAUSES.items():
            if code == int(upper):
                return name
    return default


def now_us() -> int:
    return int(time.time() * 1_000_000)


@dataclass(frozen=True, slots=True)
class Codec:
    name: str = "PCMU"
    rate: int = 8000
    bit_rate: int = 64000


@dataclass
class Times:
    profile_created: int = 0
    created: int = 0
    answered: int = 0
    progress: int = 0
    progress_media: int = 0
    hungup: int = 0
    transferred: int = 0
    resurrected: int = 0
    bridged: int = 0
    last_hold: int = 0
    hold_accum: int = 0


@dataclass
class CallerProfile:
    direction: str
    destination_number: str
    uuid: str
    chan_name: str
    username: str = ""
    dialplan: str = ""
    caller_id_name: str = ""
    caller_id_number: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    network_addr: str = ""
    ani: str = ""
    source: str = ""
    context: str = ""
    profile_index: str = "1"
    times: Times = field(default_factory=Times)

    def headers(self, prefix: str) -> list[tuple[str, str]]:
        out = [
            (f"{prefix}-Direction", self.direction),
            (f"{prefix}-Logical-Direction", self.direction),
        ]
        optional = [
            ("Username", self.username),
            ("Dialplan", self.dialplan),
            ("Caller-ID-Name", self.caller_id_name),
            ("Caller-ID-Number", self.caller_id_number),
            ("Orig-Caller-ID-Name", self.caller_id_name),
            ("Orig-Caller-ID-Number", self.caller_id_number),
            ("Callee-ID-Name", self.callee_id_name),
            ("Callee-ID-Number", self.callee_id_number),
            ("Network-Addr", self.network_addr),
            ("ANI", self.ani),
            ("Destination-Number", self.destination_number),
            ("Unique-ID", self.uuid),
            ("Source", self.source),
            ("Context", self.context),
            ("Channel-Name", self.chan_name),
            ("Profile-Index", self.profile_index),
        ]
        out += [(f"{prefix}-{name}", value) for name, value in optional if value]
        t = self.times
        out += [
            (f"{prefix}-Profile-Created-Time", str(t.profile_created)),
            (f"{prefix}-Channel-Created-Time", str(t.created)),
            (f"{prefix}-Channel-Answered-Time", str(t.answered)),
            (f"{prefix}-Channel-Progress-Time", str(t.progress)),
            (f"{prefix}-Channel-Progress-Media-Time", str(t.progress_media)),
            (f"{prefix}-Channel-Hangup-Time", str(t.hungup)),
            (f"{prefix}-Channel-Transfer-Time", str(t.transferred)),
            (f"{prefix}-Channel-Resurrect-Time", str(t.resurrected)),
            (f"{prefix}-Channel-Bridged-Time", str(t.bridged)),
            (f"{prefix}-Channel-Last-Hold", str(t.last_hold)),
            (f"{prefix}-Channel-Hold-Accum", str(t.hold_accum)),
            (f"{prefix}-Screen-Bit", "true"),
            (f"{prefix}-Privacy-Hide-Name", "false"),
            (f"{prefix}-Privacy-Hide-Number", "false"),
        ]
        return out


@dataclass(eq=False)
class Channel:
    """One leg. ``running_state`` is what ``Channel-State`` shows, ``state`` the number."""

    uuid: str
    name: str
    direction: str  # "inbound" | "outbound"
    profile: CallerProfile | None = None
    state: str = "CS_NEW"
    running_state: str = "CS_NEW"
    call_state: str = "DOWN"
    answered: bool = False
    early_media: bool = False
    ring_ready: bool = False
    down: bool = False
    hangup_cause: str | None = None
    hit_dialplan: bool = True
    read_codec: Codec | None = None
    write_codec: Codec | None = None
    codec_pref: Codec | None = None  # what media negotiation will pick
    variables: dict[str, str] = field(default_factory=dict)
    other_type: str | None = None  # "originator" | "originatee"
    other_profile: CallerProfile | None = None
    partner_uuid: str | None = None
    sql_call_uuid: str = ""  # the `calls` table row this leg belongs to (set by a bridge)
    bridge_role: str = ""  # "caller" | "callee" while bridged
    call_created_epoch: float = 0.0
    created_epoch: float = field(default_factory=time.time)
    application: str = ""
    application_data: str = ""
    ip_addr: str = ""
    initial: dict[str, str] = field(default_factory=dict)
    ptime_ms: int = 20
    destroyed: bool = False
    sent_dtmf: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ state helpers
    @property
    def up(self) -> bool:
        return not self.down

    @property
    def answer_state(self) -> str:
        if self.down:
            return "hangup"
        if self.answered:
            return "answered"
        if self.early_media:
            return "early"
        return "ringing"

    @property
    def media_ready(self) -> bool:
        return self.up and (self.answered or self.early_media)

    def set_var(self, name: str, value: str | None) -> None:
        if value is None or value == "":
            self.variables.pop(name, None)
        else:
            # FreeSWITCH appends a re-set variable at the end of its list
            self.variables.pop(name, None)
            self.variables[name] = value

    # ------------------------------------------------------------------ event headers
    def basic_headers(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = [
            ("Channel-State", self.running_state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", str(CHANNEL_STATES[self.state])),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
        ]
        if self.variables.get("presence_id"):
            out.append(("Channel-Presence-ID", self.variables["presence_id"]))
        out.append(("Channel-Call-UUID", self.variables.get("call_uuid") or self.uuid))
        out.append(("Answer-State", self.answer_state))
        if self.hangup_cause:
            out.append(("Hangup-Cause", self.hangup_cause))
        for prefix, codec in (("Read", self.read_codec), ("Write", self.write_codec)):
            if codec is not None:
                out += [
                    (f"Channel-{prefix}-Codec-Name", codec.name),
                    (f"Channel-{prefix}-Codec-Rate", str(codec.rate)),
                    (f"Channel-{prefix}-Codec-Bit-Rate", str(codec.bit_rate)),
                ]
        if self.profile is not None:
            out += self.profile.headers("Caller")
        if self.other_profile is not None and self.other_type:
            out.append(("Other-Type", self.other_type))
            out += self.other_profile.headers("Other-Leg")
        return out

    def variable_headers(self) -> list[tuple[str, str]]:
        return [(f"variable_{k}", v) for k, v in self.variables.items() if v != ""]

    def event_headers(self, *, extended: bool) -> list[tuple[str, str]]:
        out = self.basic_headers()
        if extended:
            out += self.variable_headers()
        return out

    # ------------------------------------------------------------------ show rows
    def show_channels_row(self, hostname: str) -> dict[str, str]:
        p = self.profile
        codec_r = self.read_codec
        codec_w = self.write_codec
        return {
            "uuid": self.uuid,
            "direction": self.direction,
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created_epoch)),
            "created_epoch": str(int(self.created_epoch)),
            "name": self.name,
            "state": self.running_state,
            "cid_name": p.caller_id_name if p else "",
            "cid_num": p.caller_id_number if p else "",
            "ip_addr": self.ip_addr,
            "dest": p.destination_number if p else "",
            "application": self.application,
            "application_data": self.application_data,
            "dialplan": p.dialplan if p else "",
            "context": p.context if p else "",
            "read_codec": codec_r.name if codec_r else "",
            "read_rate": str(codec_r.rate) if codec_r else "",
            "read_bit_rate": str(codec_r.bit_rate) if codec_r else "",
            "write_codec": codec_w.name if codec_w else "",
            "write_rate": str(codec_w.rate) if codec_w else "",
            "write_bit_rate": str(codec_w.bit_rate) if codec_w else "",
            "secure": "",
            "hostname": hostname,
            "presence_id": self.variables.get("presence_id", ""),
            "presence_data": "",
            "accountcode": self.variables.get("accountcode", ""),
            "callstate": self.call_state,
            "callee_name": p.callee_id_name if p else "",
            "callee_num": p.callee_id_number if p else "",
            "callee_direction": "RECV" if self.direction == "outbound" and self.answered else "",
            "call_uuid": self.sql_call_uuid,
            "sent_callee_name": "",
            "sent_callee_num": "",
            "initial_cid_name": self.initial.get("cid_name", ""),
            "initial_cid_num": self.initial.get("cid_num", ""),
            "initial_ip_addr": self.initial.get("ip_addr", ""),
            "initial_dest": self.initial.get("dest", ""),
            "initial_dialplan": self.initial.get("dialplan", ""),
            "initial_context": self.initial.get("context", ""),
        }

    def snapshot_initial(self) -> None:
        p = self.profile
        self.initial = {
            "cid_name": p.caller_id_name if p else "",
            "cid_num": p.caller_id_number if p else "",
            "ip_addr": self.ip_addr,
            "dest": p.destination_number if p else "",
            "dialplan": p.dialplan if p else "",
            "context": p.context if p else "",
        }
