"""The durable job queue on SQLite and PostgreSQL alike: one job per (kind, call), one
worker per job, retries with a delay, then failed; stale jobs of a dead worker come back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from callcontrol.recording.jobs import JobQueue
from callcontrol.store.db import create_engine, migrate, sessionmaker
from callcontrol.store.models import Job


async def _queue_lifecycle(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
        sessions = sessionmaker(engine)
        one = JobQueue(sessions, "w1", max_attempts=2, retry_after_s=60)
        two = JobQueue(sessions, "w2", max_attempts=2, retry_after_s=60)
        await one.enqueue("transcribe", "call-a")
        await one.enqueue("transcribe", "call-a")  # queued once
        assert await one.counts() == {"queued": 1}

        # Two workers race for it: exactly one gets it.
        got = await asyncio.gather(one.claim("transcribe"), two.claim("transcribe"))
        claimed = [g for g in got if g is not None]
        assert len(claimed) == 1 and claimed[0].call_id == "call-a" and claimed[0].attempts == 1
        job = claimed[0]
        assert await one.claim("transcribe") is None
        await one.progress(job.id, 0.5)
        stored = await one.get("transcribe", "call-a")
        assert stored is not None and stored.status == "running" and stored.progress == 0.5

        # A failure with attempts left: queued again, but not before its delay.
        assert await one.failed(job, "RuntimeError: boom") is True
        stored = await one.get("transcribe", "call-a")
        assert stored is not None and stored.status == "queued" and stored.error
        assert await two.claim("transcribe") is None  # not due yet
        async with sessions() as s:
            await s.execute(update(Job).values(run_after=datetime.now(UTC) - timedelta(1)))
            await s.commit()
        again = await two.claim("transcribe")
        assert again is not None and again.attempts == 2
        # Out of attempts: failed, and it stays failed.
        assert await two.failed(again, "RuntimeError: boom again") is False
        stored = await one.get("transcribe", "call-a")
        assert stored is not None and stored.status == "failed" and stored.finished_at
        assert await one.claim("transcribe") is None
        # Queued again by hand (the console's "run again"): a fresh start.
        await one.enqueue("transcribe", "call-a")
        fresh = await one.claim("transcribe")
        assert fresh is not None and fresh.attempts == 1
        await one.done(fresh.id)
        assert (await one.counts()) == {"done": 1}

        # A worker that died mid-job: its job is queued again once stale.
        await one.enqueue("transcribe", "call-b")
        lost = await one.claim("transcribe")
        assert lost is not None
        async with sessions() as s:
            await s.execute(
                update(Job)
                .where(Job.id == lost.id)
                .values(updated_at=datetime.now(UTC) - timedelta(hours=1))
            )
            await s.commit()
        taken = await two.claim("transcribe")
        assert taken is not None and taken.call_id == "call-b"
        # A stopping worker gives its job back without spending an attempt.
        await two.release(taken.id)
        back = await one.claim("transcribe")
        assert back is not None and back.attempts == taken.attempts
    finally:
        await engine.dispose()


async def test_the_job_queue_on_sqlite(sqlite_url: str) -> None:
    await _queue_lifecycle(sqlite_url)


@pytest.mark.postgres
async def test_the_job_queue_on_postgres(postgres_url: str) -> None:
    await _queue_lifecycle(postgres_url)
