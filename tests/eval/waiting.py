"""When has the bot finished responding to a question? One rule for both paths (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.eval.records import is_fixed


@dataclass(frozen=True, slots=True)
class Patience:
    idle_s: float = 1.0  # no playback and nothing received for this long: the bot is done
    no_turn_s: float = 15.0  # no caller turn this long after the speech ended: dropped
    no_response_s: float = 12.0  # a caller turn, then nothing at all for this long
    max_s: float = 90.0  # after the end of speech, whatever happens


PATIENCE = Patience()


def responded(
    turns: Sequence[dict[str, Any]], handoffs: Sequence[dict[str, Any]], hold_phrase: str
) -> bool:
    """A bot turn after the caller's; after a hand-off, one that is not the hold phrase
    (with nobody to ask, the follow-up promise comes after it)."""
    first = next((i for i, t in enumerate(turns) if t.get("speaker") == "caller"), None)
    if first is None:
        return False
    bot = [t for t in turns[first + 1 :] if t.get("speaker") == "bot"]
    if handoffs:
        return any(not is_fixed(str(t.get("text") or ""), [hold_phrase]) for t in bot)
    return bool(bot)


def verdict(
    *,
    turns: Sequence[dict[str, Any]],
    handoffs: Sequence[dict[str, Any]],
    hold_phrase: str,
    since_eos_s: float,
    quiet_s: float,
    playing: bool,
    patience: Patience,
) -> str | None:
    """None while waiting; else the outcome: ok | no_caller_turn | no_response | timeout."""
    if since_eos_s < 0:
        return None  # still speaking
    if since_eos_s > patience.max_s:
        return "timeout"
    busy = playing or quiet_s < patience.idle_s
    if busy:
        return None
    if not any(t.get("speaker") == "caller" for t in turns):
        return "no_caller_turn" if since_eos_s > patience.no_turn_s else None
    if responded(turns, handoffs, hold_phrase):
        return "ok"
    return "no_response" if quiet_s > patience.no_response_s else None
