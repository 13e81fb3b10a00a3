"""Durable background jobs in the database: queued, claimed by one worker, retried.

A job is one row of ``jobs`` per (kind, call). Claiming is one conditional UPDATE
(``status = 'queued'``), which works the same on SQLite and PostgreSQL and lets any
number of workers share the queue without taking one job twice. A job whose worker
died (``running`` with no progress for ``stale_after``) is queued again. Failures are
retried ``attempts`` times with a growing delay, then the job is ``failed`` with its
error; the console lists them all (``/jobs``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from callcontrol.aio import TaskOwner
from callcontrol.store.models import Job
from callcontrol.store.repos import Sessions

log = structlog.get_logger(__name__)

STATUSES = ("queued", "running", "done", "failed")


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    kind: str
    call_id: str
    attempts: int


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "call_id": job.call_id,
        "status": job.status,
        "attempts": job.attempts,
        "progress": round(job.progress, 3),
        "error": job.error,
        "worker_id": job.worker_id,
        "run_after": job.run_after.isoformat() if job.run_after else None,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class JobQueue:
    def __init__(
        self,
        sessions: Sessions,
        worker_id: str,
        *,
        max_attempts: int = 3,
        retry_after_s: float = 30.0,
        stale_after_s: float = 600.0,
    ) -> None:
        self._sessions = sessions
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.retry_after_s = retry_after_s
        self.stale_after_s = stale_after_s

    async def enqueue(self, kind: str, call_id: str, *, delay_s: float = 0.0) -> None:
        """Queue ``kind`` for ``call_id`` once (again only if it failed or finished)."""
        now = datetime.now(UTC)
        due = now + timedelta(seconds=delay_s)
        values = {
            "id": f"{kind}-{call_id}",
            "kind": kind,
            "call_id": call_id,
            "status": "queued",
            "attempts": 0,
            "progress": 0.0,
            "run_after": due,
            "created_at": now,
            "updated_at": now,
        }
        async with self._sessions() as s:
            dialect = s.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert(Job).values(**values)
            stmt = stmt.on_conflict_do_update(
                index_elements=["kind", "call_id"],
                set_={
                    "status": "queued",
                    "attempts": 0,
                    "progress": 0.0,
                    "error": None,
                    "run_after": due,
                    "updated_at": now,
                    "finished_at": None,
                },
                where=Job.status.in_(["done", "failed"]),
            )
            await s.execute(stmt)
            await s.commit()

    async def claim(self, kind: str) -> Claimed | None:
        """Take the oldest due job of ``kind``; None when there is none (or another
        worker took it first)."""
        now = datetime.now(UTC)
        async with self._sessions() as s:
            await self._requeue_stale(s, now)
            candidates = (
                await s.execute(
                    select(Job.id)
                    .where(Job.kind == kind, Job.status == "queued", Job.run_after <= now)
                    .order_by(Job.created_at)
                    .limit(5)
                )
            ).scalars()
            for job_id in list(candidates):
                result = await s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "queued")
                    .values(
                        status="running",
                        worker_id=self.worker_id,
                        attempts=Job.attempts + 1,
                        progress=0.0,
                        updated_at=now,
                    )
                )
                await s.commit()
                if result.rowcount:  # type: ignore[attr-defined]
                    job = await s.get(Job, job_id, populate_existing=True)
                    assert job is not None
                    return Claimed(job.id, job.kind, job.call_id, job.attempts)
        return None

    async def _requeue_stale(self, s: Any, now: datetime) -> None:
        stale = now - timedelta(seconds=self.stale_after_s)
        await s.execute(
            update(Job)
            .where(Job.status == "running", Job.updated_at < stale)
            .values(status="queued", worker_id=None, updated_at=now)
        )
        await s.commit()

    async def progress(self, job_id: str, fraction: float) -> None:
        async with self._sessions() as s:
            await s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(progress=max(0.0, min(1.0, fraction)), updated_at=datetime.now(UTC))
            )
            await s.commit()

    async def done(self, job_id: str) -> None:
        now = datetime.now(UTC)
        async with self._sessions() as s:
            await s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status="done", progress=1.0, error=None, updated_at=now, finished_at=now)
            )
            await s.commit()

    async def failed(self, job: Claimed, error: str) -> bool:
        """Record a failure; True when it will be retried."""
        now = datetime.now(UTC)
        retry = job.attempts < self.max_attempts
        values: dict[str, Any] = {"error": error[:2000], "updated_at": now, "worker_id": None}
        if retry:
            delay = self.retry_after_s * (2 ** (job.attempts - 1))
            values.update(status="queued", run_after=now + timedelta(seconds=delay))
        else:
            values.update(status="failed", finished_at=now)
        async with self._sessions() as s:
            await s.execute(update(Job).where(Job.id == job.id).values(**values))
            await s.commit()
        return retry

    async def release(self, job_id: str) -> None:
        """Give a running job back untouched (this worker is stopping)."""
        async with self._sessions() as s:
            await s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(
                    status="queued",
                    worker_id=None,
                    attempts=func.max(Job.attempts - 1, 0)
                    if s.get_bind().dialect.name == "sqlite"
                    else func.greatest(Job.attempts - 1, 0),
                    updated_at=datetime.now(UTC),
                )
            )
            await s.commit()

    async def list(self, statuses: list[str] | None = None, limit: int = 200) -> list[Job]:
        async with self._sessions() as s:
            stmt = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if statuses:
                stmt = stmt.where(Job.status.in_(statuses))
            return list((await s.execute(stmt)).scalars())

    async def counts(self) -> dict[str, int]:
        async with self._sessions() as s:
            rows = await s.execute(select(Job.status, func.count()).group_by(Job.status))
            return {str(status): int(n) for status, n in rows.all()}

    async def get(self, kind: str, call_id: str) -> Job | None:
        async with self._sessions() as s:
            return (
                await s.execute(select(Job).where(Job.kind == kind, Job.call_id == call_id))
            ).scalar_one_or_none()


class JobRunner:
    """``workers`` tasks taking jobs of ``kind`` and running ``handle`` on each: done on
    return, retried (or failed) on an exception, given back when stopped mid-way.
    ``quiet`` is awaited before each claim (live calls first)."""

    def __init__(
        self,
        queue: JobQueue,
        kind: str,
        handle: Callable[[Claimed], Awaitable[object]],
        *,
        workers: int = 1,
        quiet: Callable[[], Awaitable[None]] | None = None,
        on_done: Callable[[str], Awaitable[None]] | None = None,
        poll_s: float = 5.0,
    ) -> None:
        self.queue = queue
        self.kind = kind
        self._handle = handle
        self._workers = workers
        self._quiet = quiet
        self._on_done = on_done
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._tasks = TaskOwner(f"jobs-{kind}")
        self.completed: list[str] = []  # call ids, in order (tests, logs)

    def start(self) -> None:
        for n in range(self._workers):
            self._tasks.spawn(self._work(), f"worker-{n}")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        await self._tasks.aclose()

    async def _idle(self) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), self._poll_s)
        except TimeoutError:
            pass

    async def _work(self) -> None:
        while True:
            if self._quiet is not None:
                await self._quiet()
            try:
                job = await self.queue.claim(self.kind)
            except Exception as exc:  # noqa: BLE001 - the database may be down: try later
                log.warning("cannot claim a job", kind=self.kind, error=str(exc))
                job = None
            if job is None:
                await self._idle()
                continue
            await self._run(job)

    async def _run(self, job: Claimed) -> None:
        try:
            await self._handle(job)
        except asyncio.CancelledError:
            await asyncio.shield(self.queue.release(job.id))
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the job, retried
            retry = await self.queue.failed(job, f"{type(exc).__name__}: {exc}")
            log.warning(
                "job failed", kind=self.kind, call=job.call_id, error=str(exc), will_retry=retry
            )
            return
        await self.queue.done(job.id)
        self.completed.append(job.call_id)
        if self._on_done is not None:
            try:
                await self._on_done(job.call_id)
            except Exception as exc:  # noqa: BLE001 - the job itself is done
                log.warning("after a job", kind=self.kind, error=str(exc))
