"""The ESL half of the mod_audio_fork contract, as pure code: the CUSTOM events FreeSWITCH
fires for a fork (parsed from their JSON bodies) and the ``uuid_audio_fork`` commands that
start and stop one. The websocket half is ``fork_wire.py``; the facts behind both are in
docs/wire-protocols.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, TypeAlias

from callcontrol.media.fork_wire import (
    DEFAULT_BUGNAME,
    SUPPORTED_RATES,
    ForkWireError,
    Mix,
    compact_json,
    json_object,
)

# ---------------------------------------------------------------------------------------
# CUSTOM events FreeSWITCH fires (the JSON body of the ESL event)

EVENT_CONNECT: Final = "mod_audio_fork::connect"
EVENT_CONNECT_FAILED: Final = "mod_audio_fork::connect_failed"
EVENT_DISCONNECT: Final = "mod_audio_fork::disconnect"
EVENT_BUFFER_OVERRUN: Final = "mod_audio_fork::buffer_overrun"
EVENT_PLAY_AUDIO: Final = "mod_audio_fork::play_audio"
EVENT_KILL_AUDIO: Final = "mod_audio_fork::kill_audio"
EVENT_TRANSCRIPTION: Final = "mod_audio_fork::transcription"
EVENT_TRANSFER: Final = "mod_audio_fork::transfer"
EVENT_ERROR: Final = "mod_audio_fork::error"
EVENT_JSON: Final = "mod_audio_fork::json"
EVENT_SUBCLASSES: Final = (
    EVENT_CONNECT,
    EVENT_CONNECT_FAILED,
    EVENT_DISCONNECT,
    EVENT_BUFFER_OVERRUN,
    EVENT_PLAY_AUDIO,
    EVENT_KILL_AUDIO,
    EVENT_TRANSCRIPTION,
    EVENT_TRANSFER,
    EVENT_ERROR,
    EVENT_JSON,
)


def _optional_body(body: str | bytes | None, what: str) -> dict[str, Any] | None:
    if body is None or not body.strip():
        return None
    return json_object(body, f"{what} body")


@dataclass(frozen=True, slots=True)
class ConnectEvent:
    pass


@dataclass(frozen=True, slots=True)
class ConnectFailedEvent:
    reason: str


@dataclass(frozen=True, slots=True)
class DisconnectEvent:
    """The far end closed (no body) or the server sent ``disconnect`` (``data`` = its data)."""

    data: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class BufferOverrunEvent:
    pass


@dataclass(frozen=True, slots=True)
class KillAudioEvent:
    pass


@dataclass(frozen=True, slots=True)
class PlayAudioEvent:
    """The temp file the module wrote for a ``playAudio``; play it with ``uuid_broadcast``."""

    file: str
    content_type: str
    sample_rate: int
    text: str | None = None


@dataclass(frozen=True, slots=True)
class DataEvent:
    """``transcription``, ``transfer``, ``error``, ``json``: the body as given."""

    subclass: str
    data: Mapping[str, Any] | None


ForkEvent: TypeAlias = (
    ConnectEvent
    | ConnectFailedEvent
    | DisconnectEvent
    | BufferOverrunEvent
    | KillAudioEvent
    | PlayAudioEvent
    | DataEvent
)


def parse_fork_event(subclass: str, body: str | bytes | None) -> ForkEvent:
    """Turn a ``mod_audio_fork::*`` CUSTOM event (its ``Event-Subclass`` and body) into a value."""
    if subclass == EVENT_CONNECT:
        return ConnectEvent()
    if subclass == EVENT_BUFFER_OVERRUN:
        return BufferOverrunEvent()
    if subclass == EVENT_KILL_AUDIO:
        return KillAudioEvent()
    if subclass == EVENT_DISCONNECT:
        data = _optional_body(body, "disconnect")
        return DisconnectEvent(None if data is None else MappingProxyType(data))
    if subclass == EVENT_CONNECT_FAILED:
        data = _optional_body(body, "connect_failed") or {}
        reason = data.get("reason", "")
        return ConnectFailedEvent(reason if isinstance(reason, str) else str(reason))
    if subclass == EVENT_PLAY_AUDIO:
        data = _optional_body(body, "play_audio")
        if data is None:
            raise ForkWireError("play_audio event has no body")
        file = data.get("file")
        if not isinstance(file, str) or not file:
            raise ForkWireError("play_audio event body has no file")
        rate = data.get("sampleRate", 0)
        text = data.get("textContent")
        return PlayAudioEvent(
            file=file,
            content_type=str(data.get("audioContentType", "")),
            sample_rate=rate if isinstance(rate, int) and not isinstance(rate, bool) else 0,
            text=text if isinstance(text, str) else None,
        )
    if subclass in (EVENT_TRANSCRIPTION, EVENT_TRANSFER, EVENT_ERROR, EVENT_JSON):
        data = _optional_body(body, subclass)
        return DataEvent(subclass, None if data is None else MappingProxyType(data))
    raise ForkWireError(f"not a mod_audio_fork event: {subclass!r}")


# ---------------------------------------------------------------------------------------
# api commands


def _check_arg(value: str, what: str) -> str:
    if not value or any(c.isspace() for c in value) or "'" in value:
        raise ForkWireError(f"{what} {value!r} would be cut by FreeSWITCH's argument split")
    return value


def _api_text(text: str | Mapping[str, Any], what: str) -> str:
    out = text if isinstance(text, str) else compact_json(dict(text))
    return _check_arg(out, what)


def _rate_arg(rate: int) -> str:
    if rate <= 0:
        raise ForkWireError(f"fork rate {rate} is not positive")
    return f"{rate // 1000}k" if rate % 1000 == 0 and rate in SUPPORTED_RATES else str(rate)


def build_fork_start_command(
    uuid: str,
    url: str,
    mix: Mix = "mono",
    rate: int = 16000,
    metadata: Mapping[str, Any] | None = None,
    *,
    bugname: str | None = None,
    stream_rate: int | None = None,
) -> str:
    """``uuid_audio_fork <uuid> start <url> <mix> <8k|16k|N> [bugname] [metadata]``.

    ``stream_rate``: jambonz's streaming form, ``… <bugname> <metadata> true true <rate>``
    (all ten fields, the literal word ``true``: ``1 1 8000`` means disabled), so the server
    can send audio back as binary frames at that rate.

    Raises :class:`ForkWireError` if anything would be cut at a space or a ``'``.
    """
    if mix not in ("mono", "mixed", "stereo"):
        raise ForkWireError(f"mix {mix!r} is not mono|mixed|stereo")
    if not url.startswith(("ws://", "wss://")):
        raise ForkWireError(f"fork url {url!r} is not ws:// or wss://")
    parts = [
        "uuid_audio_fork",
        _check_arg(uuid, "uuid"),
        "start",
        _check_arg(url, "url"),
        mix,
        _rate_arg(rate),
    ]
    if bugname is not None:
        parts.append(_check_arg(bugname, "bugname"))
    if metadata is not None:
        parts.append(_api_text(metadata, "metadata"))
    if stream_rate is not None:
        if bugname is None or metadata is None:
            raise ForkWireError("the streaming form needs a bug name and metadata before it")
        if stream_rate <= 0 or stream_rate % 8000:
            raise ForkWireError(f"stream rate {stream_rate} is not a multiple of 8000")
        parts += ["true", "true", str(stream_rate)]
    return " ".join(parts)


def can_stream(usage: str) -> bool:
    """Whether ``uuid_audio_fork``'s usage text (its answer to too few arguments) is
    jambonz's, whose forks can stream audio back; drachtio's cannot."""
    return "bidirectionalAudio_stream" in usage


def build_fork_stop_command(
    uuid: str, text: str | Mapping[str, Any] | None = None, *, bugname: str = DEFAULT_BUGNAME
) -> str:
    """``uuid_audio_fork <uuid> stop <bugname> [text]`` (the text arrives as a last frame)."""
    parts = ["uuid_audio_fork", _check_arg(uuid, "uuid"), "stop", _check_arg(bugname, "bugname")]
    if text is not None:
        parts.append(_api_text(text, "stop text"))
    return " ".join(parts)


def build_fork_send_text_command(
    uuid: str, text: str | Mapping[str, Any], *, bugname: str = DEFAULT_BUGNAME
) -> str:
    """``uuid_audio_fork <uuid> send_text <bugname> <text>``."""
    return " ".join(
        [
            "uuid_audio_fork",
            _check_arg(uuid, "uuid"),
            "send_text",
            _check_arg(bugname, "bugname"),
            _api_text(text, "text"),
        ]
    )
