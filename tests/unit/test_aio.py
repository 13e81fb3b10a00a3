"""aio.TaskOwner: owned background tasks — failures logged, nothing left running."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from structlog.testing import capture_logs

from callcontrol.aio import TaskOwner


async def test_a_failed_task_is_logged_with_its_name_and_counted() -> None:
    owner = TaskOwner("call-1")

    async def boom() -> None:
        raise ValueError("bad frame")

    with capture_logs() as logs:
        task = owner.spawn(boom(), "decoder")
        await asyncio.wait([task])
        await asyncio.sleep(0)  # the done callback runs on the next loop turn
    assert owner.failures == 1 and len(owner) == 0
    (entry,) = [e for e in logs if e["event"] == "background task failed"]
    assert entry["task"] == "call-1:decoder" and isinstance(entry["exc_info"], ValueError)


async def test_aclose_cancels_and_awaits_everything_and_refuses_new_work() -> None:
    owner = TaskOwner("x")
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task = owner.spawn(forever(), "waits")
    await asyncio.sleep(0)
    await owner.aclose()
    assert task.cancelled() and cancelled.is_set() and owner.closed and len(owner) == 0
    assert owner.failures == 0  # a cancellation is not a failure
    coro = forever()
    with pytest.raises(RuntimeError, match="after close"):
        owner.spawn(coro, "late")
    assert inspect.getcoroutinestate(coro) == "CORO_CLOSED"  # never left un-awaited


async def test_join_waits_without_cancelling_and_reports_a_timeout() -> None:
    owner = TaskOwner("x")
    release = asyncio.Event()
    done: list[str] = []

    async def work() -> None:
        await release.wait()
        done.append("work")

    owner.spawn(work(), "work")
    assert await owner.join(timeout=0) is False  # still running: not cancelled
    release.set()
    assert await owner.join() is True and done == ["work"]
    await owner.aclose()
