"""The seams of the dialog: what a conversation needs from the rest of callcontrol.

The dialog hears audio, speaks through an :class:`~callcontrol.media.base.AudioOutput`
and can hang up; everything else it produces is a :class:`TurnRecord` handed to its
:class:`TurnSink`\\ s — the durable writer (``store/turns.py``), the live console
(``live/turns.py``) and the latency metrics (``metrics.TurnMetrics``). ``dialog/``
imports neither ``store``, ``esl`` nor ``live``: the worker composes them (``bot.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Speaker = Literal["caller", "bot", "operator"]

Hangup = Callable[[], Awaitable[None]]
"""Ends the call (FreeSWITCH ``uuid_kill``, or closing the direct socket)."""

ClientNotifier = Callable[[dict[str, Any]], Awaitable[None]]
"""Tells a direct client about turns and hand-offs (absent on a phone call)."""


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Who the conversation is with: what the dialog knows of its call."""

    call_id: str
    owner: str | None  # whose knowledge answers (the number called, by default)
    caller_number: str | None
    # the caller's language from the dialplan ("ko", "auto"…); None: pipeline.language
    language: str | None = None
    # said before the greeting: the caller is being recorded (recording.notice)
    recording_notice: str | None = None


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One turn of a conversation as it happened (what the caller heard, for the bot)."""

    call_id: str
    seq: int
    speaker: Speaker
    text: str
    language: str | None
    interrupted: bool
    started_at: datetime
    ended_at: datetime
    timings: dict[str, float] = field(default_factory=dict)  # seconds after end of speech
    voice_to_voice_ms: float | None = None
    retrieval: list[dict[str, Any]] = field(default_factory=list)

    def message(self) -> dict[str, Any]:
        """The live ``turn`` message (console, direct client)."""
        return {
            "type": "turn",
            "call_id": self.call_id,
            "seq": self.seq,
            "speaker": self.speaker,
            "text": self.text,
            "interrupted": self.interrupted,
            "timings": self.timings,
            "voice_to_voice_ms": self.voice_to_voice_ms,
            "language": self.language,
        }


class TurnSink(Protocol):
    """Receives every turn. Must not hold the conversation up: queue, or publish quickly.
    An exception is logged by the session and never reaches the caller."""

    async def turn(self, record: TurnRecord) -> None: ...


class CallTransfer(Protocol):
    """Puts a caller through to a person a scripted flow names (``handoff.py``)."""

    async def put_through(self, call_id: str, to: str, briefing: bytes, sample_rate: int) -> bool:
        """Ring ``to`` (an extension, or a number), play ``briefing`` (16-bit mono PCM;
        empty: none) to whoever answers, then bridge the caller to them. True once
        bridged; False when nobody took the call (the caller is still with the bot)."""
        ...
