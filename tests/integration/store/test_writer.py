"""The durable writer against real SQLite and PostgreSQL — including outages."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcontrol.store.db import create_engine, migrate, sessionmaker
from callcontrol.store.models import Call, CallEvent, Cdr
from callcontrol.store.writer import DurableWriter, Write
from tests.tools.tcpproxy import TcpProxy

pytestmark = pytest.mark.integration


def cdr(call_id: str) -> Write:
    now = datetime.now(UTC)
    return Write.insert(
        "cdrs",
        id=call_id,
        call_id=call_id,
        caller="100",
        callee="200",
        direction="inbound",
        start_at=now,
        end_at=now,
        hangup_cause="NORMAL_CLEARING",
        handled_by="bot",
    )


async def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    async with sessionmaker(engine)() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_writes_are_batched_ordered_and_idempotent_sqlite(
    sqlite_url: str, tmp_path: Path
) -> None:
    await _batched_ordered_idempotent(sqlite_url, tmp_path)


@pytest.mark.postgres
async def test_writes_are_batched_ordered_and_idempotent_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    await _batched_ordered_idempotent(postgres_url, tmp_path)


async def _batched_ordered_idempotent(url: str, tmp_path: Path) -> None:
    engine = create_engine(url)
    await migrate(engine)
    writer = DurableWriter(engine, tmp_path / "spool")
    await writer.start()
    try:
        for i in range(300):
            writer.submit(
                Write.upsert("calls", id="c1", state=f"s{i}", created_at=datetime.now(UTC))
            )
            writer.submit(Write.insert("call_events", id=f"e{i}", call_id="c1", name=f"n{i}"))
        writer.submit(cdr("c1"))
        writer.submit(cdr("c1"))  # a replayed duplicate changes nothing
        await writer.flush()
        assert await count(engine, CallEvent) == 300
        assert await count(engine, Cdr) == 1
        async with sessionmaker(engine)() as session:
            call = await session.get(Call, "c1")
            assert call is not None and call.state == "s299"  # the last snapshot wins
    finally:
        await writer.stop()
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_outage_spools_and_replays_without_loss(
    postgres_url: str, tmp_path: Path
) -> None:
    # Migrate directly, then talk to PostgreSQL only through a proxy we can cut.
    direct = create_engine(postgres_url)
    await migrate(direct)
    host_port = postgres_url.split("@")[-1].split("/")[0] if "@" in postgres_url else None
    host, port = (host_port or "127.0.0.1:5432").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied_url = postgres_url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}")
    if "@" not in postgres_url:
        proxied_url = postgres_url.replace("://", f"://127.0.0.1:{proxy.port}", 1)
    engine = create_engine(proxied_url)
    writer = DurableWriter(engine, tmp_path / "spool", retry_initial=0.1, retry_max=0.3)
    await writer.start()
    try:
        writer.submit(cdr("before"))
        await writer.flush()
        await proxy.cut()  # PostgreSQL "goes down" mid-traffic
        for i in range(50):
            writer.submit(cdr(f"down-{i}"))
        await writer.flush()
        assert not writer.healthy
        assert writer.stats.spooled == 50
        assert writer.spool_path.exists()
        assert len(writer.spool_path.read_text().splitlines()) == 50
        await asyncio.sleep(0.5)  # probes fail while it is down
        assert not writer.healthy
        await proxy.restore()
        await writer.wait_healthy(15)
        await writer.flush()
        assert await count(direct, Cdr) == 51
        assert not writer.spool_path.exists()
        assert writer.stats.replayed == 50 and writer.stats.outages == 1
    finally:
        await writer.stop()
        await proxy.stop()
        await engine.dispose()
        await direct.dispose()


async def test_sqlite_locked_database_spools_and_replays(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine(sqlite_url, busy_timeout_ms=100)
    await migrate(engine)
    writer = DurableWriter(engine, tmp_path / "spool", retry_initial=0.1, retry_max=0.2)
    await writer.start()
    path = sqlite_url.split(":///", 1)[1]
    blocker = sqlite3.connect(path, timeout=0.1)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the file
        for i in range(20):
            writer.submit(cdr(f"locked-{i}"))
        await writer.flush()
        assert writer.stats.spooled == 20 and not writer.healthy
        blocker.rollback()
        await writer.wait_healthy(10)
        await writer.flush()
        assert await count(engine, Cdr) == 20
    finally:
        blocker.close()
        await writer.stop()
        await engine.dispose()


async def test_a_refused_row_goes_to_the_dead_letter_file_not_the_others(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_url)
    await migrate(engine)
    writer = DurableWriter(engine, tmp_path / "spool")
    await writer.start()
    try:
        writer.submit(cdr("ok-1"))
        # NOT NULL violation: a cdr without its required columns.
        writer.submit(Write.insert("cdrs", id="bad", call_id="bad"))
        writer.submit(cdr("ok-2"))
        await writer.flush()
        assert await count(engine, Cdr) == 2
        assert writer.stats.dead == 1
        dead = (tmp_path / "spool" / "dead-letter.jsonl").read_text()
        assert '"bad"' in dead and "NOT NULL" in dead.upper()
    finally:
        await writer.stop()
        await engine.dispose()


async def test_spool_left_by_a_previous_run_is_replayed_at_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_url)
    await migrate(engine)
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "spool.jsonl").write_text(cdr("from-last-run").to_json() + "\n")
    writer = DurableWriter(engine, spool, retry_initial=0.05)
    await writer.start()
    try:
        await writer.wait_healthy(5)
        assert await count(engine, Cdr) == 1
    finally:
        await writer.stop()
        await engine.dispose()
