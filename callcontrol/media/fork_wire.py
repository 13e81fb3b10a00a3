"""The mod_audio_fork contract, as pure code: text and bytes in, values out. No I/O.

What FreeSWITCH 1.10.12 with mod_audio_fork does (docs/wire-protocols.md, and the
captures in tests/data/recordings/):

* FreeSWITCH is the websocket client. It offers the subprotocol ``audio.drachtio.org``
  (renamed by the env ``MOD_AUDIO_FORK_SUBPROTOCOL_NAME``), sends the metadata given to
  ``uuid_audio_fork … start`` verbatim as the first text frame, then binary frames of
  L16 little-endian PCM (stereo interleaved, left = caller, right = what is played to
  the caller). A zero-length binary frame means ``graceful-shutdown``. ``send_text``
  and ``stop <text>`` arrive as text frames.
* The server answers with JSON text frames ``{"type": …, "data": {…}}``; each becomes a
  ``mod_audio_fork::<type>`` CUSTOM event on the channel. ``playAudio`` is **not**
  played by the module: it writes a temp file and fires ``mod_audio_fork::play_audio``
  whose body names the ``file``; the application then runs ``uuid_broadcast``.
* ``uuid_audio_fork`` arguments are split on spaces, so metadata must be compact JSON
  with no space and no ``'`` anywhere (``fork_esl.build_fork_start_command`` checks).

Every ``parse()`` raises :class:`ForkWireError` (a :class:`~callcontrol.errors.ForkProtocolError`)
carrying the websocket close code that fits the fault.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

import numpy as np

from callcontrol.errors import ForkProtocolError
from callcontrol.esl.commands import CALL_ID_CHARS
from callcontrol.media.codecs import Int16Array

SUBPROTOCOL: Final = "audio.drachtio.org"
DEFAULT_BUGNAME: Final = "audio_fork"
SUPPORTED_RATES: Final = (8000, 16000)
# The module refuses server text messages over ~650 KB; stay well below.
MAX_SERVER_MESSAGE_BYTES: Final = 600_000
# A close reason must fit in a control frame: 125 bytes minus the 2-byte code.
MAX_CLOSE_REASON_BYTES: Final = 123

# Websocket close codes (RFC 6455 §7.4.1) used by the servers.
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013

Mix: TypeAlias = Literal["mono", "mixed", "stereo"]
AudioContentType: TypeAlias = Literal["raw", "wave"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
# A FreeSWITCH channel UUID or our own call ids: no spaces, no quotes, no slashes.


class ForkWireError(ForkProtocolError):
    """A frame that breaks the contract; ``close_code`` is what to close the socket with."""

    def __init__(self, message: str, close_code: int = CLOSE_POLICY_VIOLATION) -> None:
        super().__init__(message)
        self.close_code = close_code


def close_reason(text: str) -> str:
    """``text`` cut to what fits in a close frame (whole UTF-8 characters only)."""
    raw = text.encode("utf-8")
    if len(raw) <= MAX_CLOSE_REASON_BYTES:
        return text
    return raw[:MAX_CLOSE_REASON_BYTES].decode("utf-8", errors="ignore")


_CALL_ID: Final = re.compile(CALL_ID_CHARS)


def is_valid_call_id(call_id: str) -> bool:
    """The one call-id rule (``esl/commands.py``): what may go into a command and a URL."""
    return _CALL_ID.fullmatch(call_id) is not None


# ---------------------------------------------------------------------------------------
# Per-call token: proves the websocket belongs to the fork we started.


def new_fork_token() -> str:
    """A fresh unguessable token (URL-safe base64: no space, no quote, fits the api line)."""
    return secrets.token_urlsafe(24)


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; ``None`` or empty never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


# ---------------------------------------------------------------------------------------
# FreeSWITCH -> server


def json_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ForkWireError(f"{what} is not JSON", CLOSE_UNSUPPORTED_DATA) from exc
    if not isinstance(value, dict):
        raise ForkWireError(f"{what} is not a JSON object", CLOSE_UNSUPPORTED_DATA)
    return value


def _parse_rate(value: object) -> int:
    if isinstance(value, str):
        text = value.strip().lower()
        if text.endswith("k") and text[:-1].isdigit():
            value = int(text[:-1]) * 1000
        elif text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value not in SUPPORTED_RATES:
        raise ForkWireError(
            f"metadata rate {value!r} is not one of {SUPPORTED_RATES}", CLOSE_UNSUPPORTED_DATA
        )
    return value


@dataclass(frozen=True, slots=True)
class ForkMetadata:
    """The first text frame of a fork: the JSON we passed to ``uuid_audio_fork … start``.

    Known keys: ``callId``, ``token``, ``rate`` (8000|16000 or "8k"|"16k") and ``mix``
    (mono|mixed|stereo). Everything else is kept in ``extra``.
    """

    token: str
    sample_rate: int = 16000
    mix: Mix = "mono"
    call_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def channels(self) -> int:
        return 2 if self.mix == "stereo" else 1

    @classmethod
    def parse(
        cls, text: str | bytes, *, default_rate: int = 16000, require_token: bool = True
    ) -> ForkMetadata:
        obj = json_object(text, "metadata")
        token = obj.pop("token", None)
        if token is None or token == "":
            if require_token:
                raise ForkWireError("metadata has no token", CLOSE_POLICY_VIOLATION)
            token = ""
        if not isinstance(token, str):
            raise ForkWireError("metadata token is not a string", CLOSE_POLICY_VIOLATION)
        rate = _parse_rate(obj.pop("rate", default_rate))
        mix = obj.pop("mix", "mono")
        if mix not in ("mono", "mixed", "stereo"):
            raise ForkWireError(
                f"metadata mix {mix!r} is not mono|mixed|stereo", CLOSE_UNSUPPORTED_DATA
            )
        call_id = obj.pop("callId", None)
        if call_id is not None and not (isinstance(call_id, str) and is_valid_call_id(call_id)):
            raise ForkWireError("metadata callId is not a call id", CLOSE_POLICY_VIOLATION)
        return cls(
            token=token,
            sample_rate=rate,
            mix=mix,
            call_id=call_id,
            extra=MappingProxyType(obj),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.call_id is not None:
            out["callId"] = self.call_id
        out["token"] = self.token
        out["rate"] = self.sample_rate
        out["mix"] = self.mix
        out.update(self.extra)
        return out

    def to_json(self) -> str:
        return compact_json(self.to_dict())


def caller_samples(data: bytes, *, channels: int, max_bytes: int) -> Int16Array:
    """Validate one binary audio frame and return the caller's samples (read-only view
    for mono, a copy of the left channel for stereo). An empty frame returns an empty
    array: mod_audio_fork's ``graceful-shutdown`` marker."""
    size = len(data)
    if size > max_bytes:
        raise ForkWireError(f"audio frame of {size} bytes exceeds {max_bytes}", CLOSE_TOO_BIG)
    if size % (2 * channels):
        raise ForkWireError(
            f"audio frame of {size} bytes is not whole {channels}-channel L16 samples",
            CLOSE_UNSUPPORTED_DATA,
        )
    samples = np.frombuffer(data, dtype="<i2")
    if channels == 2:
        return np.ascontiguousarray(samples[0::2])
    return samples


# ---------------------------------------------------------------------------------------
# server -> FreeSWITCH


def compact_json(value: object) -> str:
    """JSON as mod_audio_fork likes it: no spaces between tokens, ASCII only."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """``playAudio``: FreeSWITCH writes ``audio`` to a temp file and reports it in a
    ``mod_audio_fork::play_audio`` event. ``audio`` is raw L16 LE mono (``raw``) or a
    whole WAV file (``wave``)."""

    audio: bytes
    sample_rate: int
    content_type: AudioContentType = "raw"
    text: str | None = None

    def __post_init__(self) -> None:
        if self.content_type == "raw":
            if self.sample_rate not in SUPPORTED_RATES:
                raise ForkWireError(f"raw playAudio needs 8000 or 16000 Hz, not {self.sample_rate}")
            if len(self.audio) % 2:
                raise ForkWireError("raw playAudio audio is not whole L16 samples")

    @property
    def duration_ms(self) -> float:
        if self.content_type == "raw":
            return len(self.audio) / 2 / self.sample_rate * 1000
        return 0.0

    def to_json(self, *, max_bytes: int = MAX_SERVER_MESSAGE_BYTES) -> str:
        data: dict[str, Any] = {
            "audioContentType": self.content_type,
            "sampleRate": self.sample_rate,
            "audioContent": base64.b64encode(self.audio).decode("ascii"),
        }
        if self.text is not None:
            data["textContent"] = self.text
        out = compact_json({"type": "playAudio", "data": data})
        if len(out) > max_bytes:
            raise ForkWireError(
                f"playAudio message of {len(out)} bytes exceeds {max_bytes}; split the audio"
            )
        return out

    @staticmethod
    def max_raw_bytes(max_message_bytes: int = MAX_SERVER_MESSAGE_BYTES, text: str = "") -> int:
        """The largest raw audio (even byte count) whose message fits ``max_message_bytes``."""
        overhead = len(compact_json(text)) + 160
        return max(0, (max_message_bytes - overhead) * 3 // 4) // 2 * 2

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PlayAudio:
        ctype = data.get("audioContentType")
        if ctype not in ("raw", "wave"):
            raise ForkWireError(f"playAudio audioContentType {ctype!r} is not raw|wave")
        rate = data.get("sampleRate")
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ForkWireError(f"playAudio sampleRate {rate!r} is not a positive integer")
        content = data.get("audioContent")
        if not isinstance(content, str):
            raise ForkWireError("playAudio has no audioContent")
        try:
            audio = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ForkWireError("playAudio audioContent is not base64") from exc
        text = data.get("textContent")
        if text is not None and not isinstance(text, str):
            raise ForkWireError("playAudio textContent is not a string")
        return cls(audio=audio, sample_rate=rate, content_type=ctype, text=text)


@dataclass(frozen=True, slots=True)
class KillAudio:
    """``killAudio``: stop what is playing now (fires ``mod_audio_fork::kill_audio``)."""

    def to_json(self) -> str:
        return compact_json({"type": "killAudio"})


@dataclass(frozen=True, slots=True)
class Transcription:
    """``transcription``: fires ``mod_audio_fork::transcription`` with ``data`` as body."""

    data: Mapping[str, Any]

    def to_json(self) -> str:
        return compact_json({"type": "transcription", "data": dict(self.data)})


@dataclass(frozen=True, slots=True)
class Disconnect:
    """``disconnect``: fires ``mod_audio_fork::disconnect``; the call stays up."""

    data: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        if self.data is None:
            return compact_json({"type": "disconnect"})
        return compact_json({"type": "disconnect", "data": dict(self.data)})


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """``transfer``, ``error``, ``json`` and anything else: passed through by type."""

    type: str
    data: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        if self.data is None:
            return compact_json({"type": self.type})
        return compact_json({"type": self.type, "data": dict(self.data)})


ServerMessage: TypeAlias = PlayAudio | KillAudio | Transcription | Disconnect | OtherMessage


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse what a server sends to FreeSWITCH (used by the emulator and the tests)."""
    obj = json_object(text, "server message")
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise ForkWireError("server message has no type")
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        raise ForkWireError(f"{kind} data is not a JSON object")
    if kind == "playAudio":
        if data is None:
            raise ForkWireError("playAudio has no data")
        return PlayAudio.from_data(data)
    if kind == "killAudio":
        return KillAudio()
    if kind == "transcription":
        return Transcription(MappingProxyType(data or {}))
    if kind == "disconnect":
        return Disconnect(None if data is None else MappingProxyType(data))
    return OtherMessage(kind, None if data is None else MappingProxyType(data))


# ---------------------------------------------------------------------------------------
# marks (jambonz's streaming module): the server queues a named mark; FreeSWITCH answers
# with a text frame when playout reaches it, or when killAudio clears it


def mark_message(name: str) -> OtherMessage:
    """``{"type":"mark","data":{"name":…}}``: placed in front of the next binary frame."""
    return OtherMessage("mark", MappingProxyType({"name": name}))


def clear_marks_message() -> OtherMessage:
    """``{"type":"clearMarks"}``: pending marks are dropped without a notice."""
    return OtherMessage("clearMarks")


@dataclass(frozen=True, slots=True)
class MarkNotice:
    """``{"type": "mark", "data": {"name":"x", "event": "playout"|"cleared"}}`` from the module."""

    name: str
    event: str


def parse_mark_notice(text: str) -> MarkNotice | None:
    """A mark notice, or None for any other text frame (metadata echoes, client text)."""
    if '"mark"' not in text:
        return None
    try:
        obj = json_object(text, "mark notice")
    except ForkWireError:
        return None
    data = obj.get("data")
    if obj.get("type") != "mark" or not isinstance(data, dict):
        return None
    name, event = data.get("name"), data.get("event")
    if not isinstance(name, str) or not isinstance(event, str):
        return None
    return MarkNotice(name, event)
