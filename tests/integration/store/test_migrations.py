"""The migrations build exactly the schema the models declare (SQLite and PostgreSQL),
and the newest one upgrades a database holding rows written before it."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from callcontrol.store.db import create_engine, migrate
from callcontrol.store.models import Base


def _differences(sync_conn: Any) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(request.getfixturevalue("sqlite_url"))


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(_differences)
        assert diff == []
    finally:
        await engine.dispose()


async def test_follow_up_columns_arrive_with_defaults_on_existing_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO hitl_requests (id, call_id, reason, question, context, status,"
                    " created_at, updated_at) VALUES ('r1', 'c1', 'low_confidence', 'q?', '{}',"
                    " 'unresolved', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        await migrate(engine)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT followup_required, callbacks, noted_by FROM hitl_requests")
                )
            ).one()
        assert bool(row[0]) is True and row[2] is None
        assert row[1] in ([], "[]")  # JSON comes back decoded, or as text on SQLite
    finally:
        await engine.dispose()
