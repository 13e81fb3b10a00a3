"""FreeSWITCH events and their two serialisations (switch_event_serialize / _serialize_json).

An :class:`Event` is the ordered header list FreeSWITCH keeps (duplicates allowed: a
CHANNEL_HANGUP_COMPLETE carries ``Hangup-Cause`` twice, in plain *and* json form) plus an
optional body. Pure; no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .wire import event_message, url_encode

# switch_event.c EVENT_NAMES (order irrelevant here, membership is what `event` checks)
EVENT_NAMES = frozenset(
    """CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER
    CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD
    CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA
    CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK CHANNEL_APPLICATION CHANNEL_ORIGINATE CHANNEL_UUID
    API LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN PUBLISH UNPUBLISH TALK NOTALK SESSION_CRASH
    MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN NOTIFY_IN PRESENCE_OUT PRESENCE_PROBE
    MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC BACKGROUND_JOB DETECTED_SPEECH DETECTED_TONE
    PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML
    NOTIFY PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS
    CHANNEL_DATA GENERAL COMMAND SESSION_HEARTBEAT CLIENT_DISCONNECTED SERVER_DISCONNECTED
    SEND_INFO RECV_INFO RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START
    RECORD_STOP PLAYBACK_START PLAYBACK_STOP CALL_UPDATE FAILURE SOCKET_DATA MEDIA_BUG_START
    MEDIA_BUG_STOP CONFERENCE_DATA_QUERY CONFERENCE_DATA CALL_SETUP_REQ CALL_SETUP_RESULT
    CALL_DETAIL DEVICE_STATE TEXT SHUTDOWN_REQUESTED ALL""".split()
)


def event_type(name: str) -> str | None:
    """``switch_name_event``: case-insensitive, ``SWITCH_EVENT_`` prefix allowed."""
    upper = name.upper()
    if len(upper) > 13 and upper[13:] in EVENT_NAMES:
        return upper[13:]
    return upper if upper in EVENT_NAMES else None


# Event-Calling-File / -Function / -Line-Number per event, as the recordings show them.
# Entries marked (approx.) were not in the recordings and come from reading the C sources.
CALLING_SITES: dict[str, tuple[str, str, int]] = {
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2408),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 626),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", 632),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", 768),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", 301),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2944),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 2967),
    "API": ("switch_loadable_module.c", "switch_api_execute", 2954),
    "CODEC": ("switch_core_codec.c", "switch_core_session_set_real_read_codec", 168),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3505),
    "CHANNEL_PROGRESS_MEDIA": (
        "switch_channel.c",
        "switch_channel_perform_mark_pre_answered",
        3560,
    ),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 3846),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 1002),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1213),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3445),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c",
        "switch_core_session_reporting_state",
        943,
    ),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1584),
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", 2021),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", 1572),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", 95),
    "RE_SCHEDULE": ("switch_scheduler.c", "switch_scheduler_execute", 73),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", 1646),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", 2020),
    "CUSTOM": ("mod_audio_fork.c", "responseHandler", 22),
    # (approx.) below
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 924),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 975),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 766),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", 1285),
    "RECORD_STOP": ("switch_ivr_async.c", "record_callback", 1390),
    "PRIVATE_COMMAND": ("switch_ivr.c", "switch_ivr_parse_next_event", 806),
}


@dataclass(frozen=True, slots=True)
class Event:
    headers: tuple[tuple[str, str], ...]
    body: str | None = None

    @property
    def name(self) -> str:
        return self.get("Event-Name") or ""

    @property
    def subclass(self) -> str | None:
        return self.get("Event-Subclass")

    @property
    def key(self) -> str:
        """The subclass for CUSTOM events, else the event name."""
        return (self.subclass or "") if self.name == "CUSTOM" else self.name

    @property
    def unique_id(self) -> str | None:
        return self.get("Unique-ID")

    def get(self, name: str, default: str | None = None) -> str | None:
        """First header with this name, case-insensitive (like switch_event_get_header)."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    def serialize_plain(self) -> bytes:
        """The ``text/event-plain`` payload, byte for byte like switch_event_serialize."""
        parts = [f"{name}: {url_encode(value) or '_undef_'}\n" for name, value in self.headers]
        head = "".join(parts).encode("utf-8")
        if self.body:
            body = self.body.encode("utf-8")
            return head + b"Content-Length: %d\n\n" % len(body) + body
        return head + b"\n"

    def serialize_json(self) -> bytes:
        """The ``text/event-json`` payload: one compact object, duplicates kept, ``_body`` last."""
        items = [f"{_json_str(k)}:{_json_str(v)}" for k, v in self.headers]
        if self.body is not None:
            length = len(self.body.encode("utf-8"))
            items.append(f'"Content-Length":"{length}"')
            items.append(f'"_body":{_json_str(self.body)}')
        return ("{" + ",".join(items) + "}").encode("utf-8")

    def frame(self, fmt: str) -> bytes:
        payload = self.serialize_json() if fmt == "json" else self.serialize_plain()
        return event_message(payload, "json" if fmt == "json" else "plain")


def _json_str(value: str) -> str:
    # cJSON escapes like Python with ensure_ascii off: \" \\ \b \f \n \r \t and \u00xx below 0x20
    return json.dumps(value, ensure_ascii=False)
