"""Small asyncio helpers for owned tasks (every task is cancelled *and* awaited)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


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
