"""The seams between call control and an ESL connection (inbound or outbound)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from callcontrol.esl.commands import ApiReply
from callcontrol.esl.protocol import EslEvent
from callcontrol.media.fork_esl import EVENT_SUBCLASSES

EventListener = Callable[[EslEvent], None]
"""Called on the asyncio loop for every event; must return quickly (queue work)."""

CHANNEL_EVENTS: tuple[str, ...] = (
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_PARK",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "RECORD_START",
    "RECORD_STOP",
    "DTMF",
)

# What an outbound socket adds to ``myevents`` (whose fixed set lacks them).
PLAYBACK_EVENTS: tuple[str, ...] = ("PLAYBACK_START", "PLAYBACK_STOP")

# mod_audio_fork's CUSTOM subclasses, each subscribed by name (ESL has no wildcard).
AUDIO_FORK_EVENTS: tuple[str, ...] = EVENT_SUBCLASSES


def subscribe_command(fmt: str, names: Sequence[str], custom: Sequence[str] = ()) -> str:
    """``event plain A B CUSTOM x::y`` — one subscription line."""
    if fmt not in ("plain", "json"):
        raise ValueError("event format must be plain or json")
    parts = ["event", fmt, *names]
    if custom:
        parts += ["CUSTOM", *custom]
    return " ".join(parts)


class ConnectionState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(slots=True)
class ConnectionStatus:
    """What ``/health`` shows about the Event Socket."""

    state: ConnectionState = ConnectionState.STOPPED
    since: float = field(default_factory=time.time)
    address: str = ""
    connects: int = 0
    failures: int = 0
    last_error: str | None = None
    protocol_errors: int = 0

    def set(self, state: ConnectionState, error: str | None = None) -> None:
        if state != self.state:
            self.state = state
            self.since = time.time()
        if error is not None:
            self.last_error = error

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "since": self.since,
            "address": self.address,
            "connects": self.connects,
            "failures": self.failures,
            "last_error": self.last_error,
            "protocol_errors": self.protocol_errors,
        }


class EslCommands(Protocol):
    """What call control needs from a connection to FreeSWITCH."""

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply: ...

    async def sendmsg(
        self, uuid: str, app: str, arg: str = "", *, event_lock: bool = False
    ) -> None: ...


class BackgroundCommands(EslCommands, Protocol):
    async def bgapi(self, command: str, *, timeout: float | None = None) -> ApiReply: ...
