"""Retention and erasure on SQLite and PostgreSQL: the purge deletes exactly what is past
each owner's limits (files too) and nothing on hold; erasing a number leaves its calls
anonymous and other callers' untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcontrol.config import RetentionSettings, Settings
from callcontrol.retention import Retention
from callcontrol.store.db import create_engine, migrate, sessionmaker
from callcontrol.store.models import (
    AuditEntry,
    Call,
    CallEvent,
    Cdr,
    HitlRequest,
    Recording,
    TranscriptSegment,
    Turn,
)

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


async def seed(
    sessions,
    root: Path,
    call_id: str,
    owner: str,
    days: int,
    *,
    number: str = "+15550100",
    keep: bool = False,
    rec_keep: bool = False,
) -> None:  # type: ignore[no-untyped-def]
    at = ago(days)
    folder = root / "2026" / call_id
    folder.mkdir(parents=True)
    (folder / "call.wav").write_bytes(b"RIFF")
    async with sessions() as s:
        s.add(Call(id=call_id, owner=owner, caller_number=number, created_at=at, keep=keep))
        s.add(
            Cdr(
                call_id=call_id,
                caller=number,
                callee="9000",
                direction="inbound",
                owner=owner,
                start_at=at,
                end_at=at,
                hangup_cause="NORMAL_CLEARING",
                handled_by="bot",
            )
        )
        s.add(
            Recording(
                call_id=call_id,
                owner=owner,
                directory=f"2026/{call_id}",
                stereo_file="call.wav",
                status="ready",
                started_at=at,
                keep=rec_keep,
            )
        )
        s.add(
            TranscriptSegment(
                call_id=call_id,
                channel="caller",
                speaker="caller",
                start_s=0,
                end_s=1,
                text=f"my number is {number}",
            )
        )
        s.add(Turn(call_id=call_id, seq=0, speaker="caller", text="hello", started_at=at))
        s.add(CallEvent(call_id=call_id, name="CHANNEL_ANSWER", at=at))
        s.add(
            HitlRequest(
                call_id=call_id,
                owner=owner,
                reason="sensitive",
                question="refund?",
                caller_number=number,
                status="resolved",
                created_at=at,
            )
        )
        await s.commit()


async def _purge_and_erase(url: str, tmp_path: Path) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
        sessions = sessionmaker(engine)
        root = tmp_path / "recordings"
        settings = Settings(_env_file=None, calls={"recordings_dir": str(root)})
        short = RetentionSettings(recordings_days=7)

        def limits(owner: str | None) -> RetentionSettings:
            return short if owner == "short" else settings.retention

        await seed(sessions, root, "a1", "acme", 100)  # recording and events past
        await seed(sessions, root, "a2", "acme", 50)  # nothing past
        await seed(sessions, root, "a3", "acme", 800)  # everything past
        await seed(sessions, root, "a4", "acme", 800, keep=True)  # on hold
        await seed(sessions, root, "a5", "acme", 100, rec_keep=True)  # recording on hold
        await seed(sessions, root, "s1", "short", 10)  # its owner keeps recordings 7 days
        retention = Retention(settings, sessions, per_owner=limits)
        result = await retention.purge(NOW)
        assert result.counts == {
            "recordings": 3,  # a1, a3, s1
            "transcript_segments": 1,  # a3
            "turns": 1,
            "call_events": 2,  # a1, a3
            "hitl_requests": 1,
            "cdrs": 1,
            "calls": 1,
        }
        assert result.kept == 1  # a4
        left = {p.name for p in (root / "2026").iterdir()}
        assert left == {"a2", "a4", "a5"}
        async with sessions() as s:
            calls = set((await s.execute(select(Call.id))).scalars())
            assert calls == {"a1", "a2", "a4", "a5", "s1"}
            status = dict((await s.execute(select(Recording.call_id, Recording.status))).all())
            assert status == {
                "a1": "deleted",
                "a2": "ready",
                "a3": "deleted",
                "a4": "ready",
                "a5": "ready",
                "s1": "deleted",
            }
            events = set((await s.execute(select(CallEvent.call_id))).scalars())
            assert events == {"a2", "a4", "a5", "s1"}
            segments = set((await s.execute(select(TranscriptSegment.call_id))).scalars())
            assert segments == {"a1", "a2", "a4", "a5", "s1"}
        # A second run finds nothing more.
        again = await retention.purge(NOW)
        assert sum(again.counts.values()) == 0

        # Erasing a number: every call from it but the one on hold.
        await seed(sessions, root, "b1", "acme", 1, number="+15550199")
        await seed(sessions, root, "b2", "acme", 1, number="+15550199")
        await seed(sessions, root, "b3", "acme", 1, number="+15550199", keep=True)
        await seed(sessions, root, "c1", "acme", 1, number="+15550777")
        erased = await retention.erase_number("+15550199", by="root")
        assert erased["calls"] == 2 and erased["on_hold"] == ["b3"]
        assert not (root / "2026" / "b1").exists() and (root / "2026" / "b3").exists()
        async with sessions() as s:
            cdrs = {c.call_id: c.caller for c in (await s.execute(select(Cdr))).scalars()}
            assert cdrs["b1"] is None and cdrs["b2"] is None
            assert cdrs["b3"] == "+15550199" and cdrs["c1"] == "+15550777"
            texts = {t.call_id for t in (await s.execute(select(TranscriptSegment))).scalars()}
            assert "b1" not in texts and {"b3", "c1"} <= texts
            hitl = {h.call_id: h for h in (await s.execute(select(HitlRequest))).scalars()}
            assert hitl["b1"].question == "erased" and hitl["b1"].caller_number is None
            assert hitl["c1"].question == "refund?"
            calls = {c.id: c for c in (await s.execute(select(Call))).scalars()}
            assert calls["b1"].caller_number is None and calls["b1"].created_at is not None
            audit = (await s.execute(select(AuditEntry))).scalars().one()
            assert audit.action == "erase_number" and "+15550199" not in str(audit.detail)
        with pytest.raises(ValueError):
            await retention.erase_number(" 1 ")
    finally:
        await engine.dispose()


async def test_retention_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    await _purge_and_erase(sqlite_url, tmp_path)


@pytest.mark.postgres
async def test_retention_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    await _purge_and_erase(postgres_url, tmp_path)
