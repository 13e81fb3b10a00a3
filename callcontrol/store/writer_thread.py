"""Run the :class:`DurableWriter` on its own thread and event loop.

Batching hundreds of rows into one statement costs SQLAlchemy milliseconds of
Python work per batch. On the call-control loop that work stalls ESL event
handling (p99 of 100+ ms at 100 call setups/s); on its own thread, with its own
engine, it does not. The API is the writer's: ``submit`` never blocks; ``flush``
and ``wait_healthy`` are awaited from any loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from callcontrol.errors import StoreError
from callcontrol.store.writer import DurableWriter, Write, WriterStats

T = TypeVar("T")


class ThreadedWriter:
    def __init__(
        self, engine_factory: Callable[[], AsyncEngine], spool_dir: Path, **options: Any
    ) -> None:
        self._engine_factory = engine_factory
        self._spool_dir = spool_dir
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: DurableWriter | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._pending: list[Write] = []
        self._lock = threading.Lock()
        self._scheduled = False

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="store-writer", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._startup_error is not None:
            raise StoreError(f"store writer failed to start: {self._startup_error}")

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        engine = self._engine_factory()
        try:
            self._writer = DurableWriter(engine, self._spool_dir, **self._options)
            try:
                await self._writer.start()
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                self._startup_error = exc
                return
            finally:
                self._ready.set()
            await self._stop.wait()
            await self._writer.stop()
        finally:
            await engine.dispose()

    async def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._drain_pending()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        await asyncio.to_thread(thread.join, 30)
        self._thread = None

    # -- the writer's API -----------------------------------------------------------------
    def submit(self, write: Write) -> None:
        with self._lock:
            self._pending.append(write)
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain_pending)

    def submit_many(self, writes: Sequence[Write]) -> None:
        for write in writes:
            self.submit(write)

    def _drain_pending(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        writer = self._writer
        if writer is None or not batch:
            return
        if self._loop is not None and threading.current_thread() is not self._thread:
            self._loop.call_soon_threadsafe(writer.submit_many, batch)
        else:
            writer.submit_many(batch)

    def _call(self, make: Callable[[DurableWriter], Any]) -> Future[Any]:
        loop, writer = self._loop, self._writer
        if loop is None or writer is None:
            raise StoreError("the store writer is not running")
        return asyncio.run_coroutine_threadsafe(make(writer), loop)

    async def flush(self) -> None:
        self._drain_pending()
        await asyncio.wrap_future(self._call(lambda w: w.flush()))

    async def wait_healthy(self, timeout: float) -> None:
        await asyncio.wrap_future(self._call(lambda w: w.wait_healthy(timeout)))

    @property
    def healthy(self) -> bool:
        return self._writer.healthy if self._writer is not None else False

    @property
    def stats(self) -> WriterStats:
        return self._writer.stats if self._writer is not None else WriterStats()

    @property
    def spool_path(self) -> Path:
        return self._spool_dir / "spool.jsonl"

    @property
    def retry_initial(self) -> float:
        return self._writer._retry_initial if self._writer is not None else 0.0

    @retry_initial.setter
    def retry_initial(self, value: float) -> None:
        if self._writer is not None:
            self._writer._retry_initial = value
