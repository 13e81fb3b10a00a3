"""Small asyncio helpers for owned tasks (every task is cancelled *and* awaited)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> BaseException | None:
    """Cancel ``task`` and wait until it has finished; returns its error, if any.

    Never swallows the *caller's* own cancellation (``asyncio.wait`` does not raise the
    task's ``CancelledError``).
    """
    if task is None:
        return None
    task.cancel()
    await asyncio.wait([task])
    if task.cancelled():
        return None
    return task.exception()


async def first_done(*coros: Coroutine[Any, Any, Any]) -> set[asyncio.Task[Any]]:
    """Run ``coros`` until one finishes; cancel and await the others; return the done ones."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return done


class TaskOwner:
    """The background tasks of one object, owned: every task is named, a finished task's
    exception is logged (never lost in a "Task exception was never retrieved"), and
    :meth:`aclose` cancels *and awaits* them all, tasks spawned meanwhile included.

    ``spawn`` after ``aclose`` closes the coroutine and raises :class:`RuntimeError`:
    work started while its owner shuts down would outlive it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.failures = 0

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name}: cannot start {name!r} after close")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.failures += 1
            log.error("background task failed", task=task.get_name(), exc_info=error)

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closed(self) -> bool:
        return self._closed

    async def join(self, timeout: float | None = None) -> bool:
        """Wait (without cancelling) until no task runs; False if ``timeout`` passed first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        current = asyncio.current_task()
        while pending := [t for t in self._tasks if t is not current and not t.done()]:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(pending, timeout=left)
        return True

    async def cancel_all(self) -> None:
        """Cancel and await every running task; the owner stays usable."""
        current = asyncio.current_task()
        while True:
            pending = [t for t in self._tasks if t is not current and not t.done()]
            if not pending:
                return
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """No new tasks from now on; cancel and await the running ones."""
        self._closed = True
        await self.cancel_all()
