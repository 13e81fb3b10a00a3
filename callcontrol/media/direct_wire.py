"""The direct media protocol, as pure code: talk to the bot without FreeSWITCH.

A client (``callcontrol call FILE.wav``, the browser test page) opens
``ws://host:port/direct`` (no subprotocol) and sends:

1. a text frame ``{"owner": "<who>", "sampleRate": 16000, "token"?: "…", …}``
   (``owner`` names the user or tool, for logs and the console; other keys are kept);
2. binary frames of L16 little-endian mono PCM at ``sampleRate``;
3. optional JSON text frames (``{"type": "hangup"}``, ``{"type": "dtmf", "digit": "5"}`` …),
   handed to the consumer as they are.

The server answers with binary frames of the bot's audio (L16 LE mono at the client's
``sampleRate``, ``frameMs`` each, paced in real time with a small lead) and JSON text
events ``{"type": …}``: ``ready`` first, then ``playback`` (started/finished), ``clear``
(drop buffered audio: barge-in) and whatever the pipeline sends (``transcript`` …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from callcontrol.media.fork_wire import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_UNSUPPORTED_DATA,
    ForkWireError,
    compact_json,
    json_object,
)

MIN_RATE: Final = 8000
MAX_RATE: Final = 48000
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DirectHello:
    """The client's first text frame."""

    owner: str
    sample_rate: int = 16000
    token: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def parse(cls, text: str | bytes) -> DirectHello:
        obj = json_object(text, "hello")
        owner = obj.pop("owner", None)
        if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
            raise ForkWireError("hello has no owner", CLOSE_POLICY_VIOLATION)
        rate = obj.pop("sampleRate", 16000)
        if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
            raise ForkWireError(
                f"hello sampleRate {rate!r} is not an integer in {MIN_RATE}..{MAX_RATE}",
                CLOSE_UNSUPPORTED_DATA,
            )
        token = obj.pop("token", None)
        if token is not None and not isinstance(token, str):
            raise ForkWireError("hello token is not a string", CLOSE_POLICY_VIOLATION)
        return cls(owner=owner, sample_rate=rate, token=token, extra=MappingProxyType(obj))

    def to_json(self) -> str:
        out: dict[str, Any] = {"owner": self.owner, "sampleRate": self.sample_rate}
        if self.token is not None:
            out["token"] = self.token
        out.update(self.extra)
        return compact_json(out)


def direct_event(type_: str, **fields: Any) -> str:
    """A server → client JSON event: ``{"type": type_, **fields}``."""
    return compact_json({"type": type_, **fields})


def ready_event(call_id: str, sample_rate: int, frame_ms: int) -> str:
    return direct_event("ready", callId=call_id, sampleRate=sample_rate, frameMs=frame_ms)


def parse_direct_event(text: str | bytes) -> dict[str, Any]:
    """Parse a server → client event (for clients and tests); raises on anything else."""
    obj = json_object(text, "event")
    if not isinstance(obj.get("type"), str):
        raise ForkWireError("event has no type")
    return obj
