"""CDRs as JSON Lines: one file per UTC day, written whether or not the database is up."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from callcontrol.aio import TaskOwner

log = structlog.get_logger(__name__)


class CdrLog:
    """Appends CDRs to ``<dir>/cdr-YYYY-MM-DD.jsonl`` off the event loop, in order."""

    def __init__(
        self,
        directory: Path,
        on_written: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """``on_written(record)`` runs (on the loop) once a record's line is on disk —
        or could not be written: the database row must not wait on a broken disk."""
        self._dir = directory
        self._on_written = on_written
        self._queue: asyncio.Queue[dict[str, Any] | asyncio.Event] = asyncio.Queue()
        self._tasks = TaskOwner("cdr-jsonl")
        self._running = False
        self.written = 0

    def path_for(self, day: datetime) -> Path:
        return self._dir / f"cdr-{day.astimezone(UTC):%Y-%m-%d}.jsonl"

    async def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._tasks.spawn(self._run(), "writer")
        self._running = True

    async def stop(self) -> None:
        await self.flush()
        if self._running:
            self._running = False
            await self._tasks.cancel_all()

    def append(self, record: dict[str, Any]) -> None:
        self._queue.put_nowait(record)

    async def flush(self) -> None:
        if not self._running:
            return
        marker = asyncio.Event()
        self._queue.put_nowait(marker)
        await marker.wait()

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            records = [i for i in items if isinstance(i, dict)]
            if records:
                try:
                    await asyncio.to_thread(self._write, records)
                    self.written += len(records)
                except OSError as exc:
                    log.error("cannot write CDR JSON lines", error=str(exc), dir=str(self._dir))
                if self._on_written is not None:
                    for record in records:
                        self._on_written(record)
            for item in items:
                if isinstance(item, asyncio.Event):
                    item.set()

    def _write(self, records: list[dict[str, Any]]) -> None:
        by_file: dict[Path, list[str]] = {}
        for record in records:
            end = record.get("end_at")
            day = datetime.fromisoformat(end) if isinstance(end, str) else datetime.now(UTC)
            by_file.setdefault(self.path_for(day), []).append(
                json.dumps(record, ensure_ascii=False, default=str)
            )
        for path, lines in by_file.items():
            with path.open("a", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in lines))
                handle.flush()
                os.fsync(handle.fileno())
