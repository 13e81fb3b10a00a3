"""A conversation's turns: numbered, stamped in wall time, handed to the sinks.

The caller's audio arrives with its own clock (ms of stream received); a turn's start and
end are stream times. :class:`TurnLog` keeps the mapping from stream time to the moment
that audio arrived, so a caller turn is stamped when it was *spoken*, not when its
transcript came back.
"""

from __future__ import annotations

import bisect
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from callcontrol.dialog.attempt import Timings
from callcontrol.dialog.base import CallInfo, ClientNotifier, Speaker, TurnRecord, TurnSink

log = structlog.get_logger(__name__)

CLOCK_KEEP = 4000  # (stream ms, arrival) pairs kept: ~80–120 s of 20–30 ms frames


class TurnLog:
    def __init__(
        self,
        call: CallInfo,
        sinks: Sequence[TurnSink],
        notify_client: ClientNotifier | None = None,
    ) -> None:
        self.call = call
        self.sinks = tuple(sinks)
        self.notify_client = notify_client
        self.seq = 0
        self.turns: list[dict[str, Any]] = []  # the live messages, oldest first
        self._clock: list[tuple[float, float]] = []  # (received stream ms, monotonic)
        self._log = log.bind(call=call.call_id)

    # -- the caller's stream clock ----------------------------------------------------
    def audio_received(self, stream_ms: float) -> None:
        self._clock.append((stream_ms, time.monotonic()))
        if len(self._clock) > CLOCK_KEEP:
            del self._clock[: CLOCK_KEEP // 2]

    def wall(self, stream_ms: float) -> float:
        """Monotonic time at which the caller audio up to ``stream_ms`` had arrived."""
        clock = self._clock
        index = bisect.bisect_left(clock, (stream_ms, -1.0))
        if index >= len(clock):
            return time.monotonic()
        return clock[index][1]

    def stream_time(self, stream_ms: float | None) -> datetime:
        now = datetime.now(UTC)
        if stream_ms is None:
            return now
        lag = time.monotonic() - self.wall(stream_ms)
        return now - timedelta(seconds=max(lag, 0.0))

    # -- turns ------------------------------------------------------------------------
    async def record(
        self,
        speaker: Speaker,
        text: str,
        *,
        language: str | None,
        started: float | None = None,
        ended: float | None = None,
        timings: Timings | None = None,
        interrupted: bool = False,
        retrieval: list[dict[str, Any]] | None = None,
    ) -> TurnRecord:
        self.seq += 1
        record = TurnRecord(
            call_id=self.call.call_id,
            seq=self.seq,
            speaker=speaker,
            text=text,
            language=language,
            interrupted=interrupted,
            started_at=self.stream_time(started),
            ended_at=self.stream_time(ended) if ended is not None else datetime.now(UTC),
            timings=timings.waterfall() if timings is not None else {},
            voice_to_voice_ms=timings.voice_to_voice_ms if timings is not None else None,
            retrieval=retrieval or [],
        )
        message = record.message()
        self.turns.append(message)
        for sink in self.sinks:
            try:
                await sink.turn(record)
            except Exception as exc:  # noqa: BLE001 - a sink must never reach the caller
                self._log.warning("a turn sink failed", sink=type(sink).__name__, error=str(exc))
        if self.notify_client is not None:
            with contextlib.suppress(Exception):
                await self.notify_client(message)
        return record

    def recent(self, n: int) -> list[dict[str, str]]:
        return [{"speaker": t["speaker"], "text": t["text"]} for t in self.turns[-n:]]
