"""One run of bot speech (an answer, a fixed phrase, an operator's answer) and what the
caller heard of it — the history keeps only that."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from callcontrol.dialog.attempt import Timings
from callcontrol.media.base import PlaybackHandle

ReplySource = Literal["phrase", "answer", "human"]


@dataclass(slots=True, eq=False)
class Reply:
    """Audio the bot is speaking as one turn."""

    source: ReplySource
    timings: Timings | None
    passages: list[dict[str, Any]] = field(default_factory=list)
    handles: list[PlaybackHandle] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    done: bool = False
    recorded: bool = False

    def heard(self) -> tuple[str, bool]:
        """(what the caller heard, interrupted?)"""
        parts: list[str] = []
        interrupted = False
        for handle in self.handles:
            result = handle.result
            if result is None:
                interrupted = True
                break
            if result.heard_text:
                parts.append(result.heard_text)
            if result.interrupted:
                interrupted = True
                break
        return " ".join(parts).strip(), interrupted

    async def cancel(self) -> None:
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
