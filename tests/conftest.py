"""Shared test configuration.

Real servers: PostgreSQL and Redis are used for real. Their URLs come from
``CALLCONTROL_TEST_DATABASE_URL``/``DATABASE_URL`` and
``CALLCONTROL_TEST_REDIS_URL``/``REDIS_URL`` (CI sets them). Without them those
tests are skipped locally — and fail under CI, where a skip would hide a gap.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

pytest_plugins = (
    ["tests.fakes.fixtures"] if (Path(__file__).parent / "fakes" / "fixtures.py").exists() else []
)


def _need(env_names: tuple[str, ...], what: str) -> str:
    for name in env_names:
        value = os.environ.get(name)
        if value:
            return value
    message = f"{what} not configured ({' or '.join(env_names)})"
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run these tests against the real server")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = _need(("CALLCONTROL_TEST_DATABASE_URL", "DATABASE_URL"), "PostgreSQL")
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import asyncpg

    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    dsn = postgres_admin_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _db = postgres_admin_url.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _need(("CALLCONTROL_TEST_REDIS_URL", "REDIS_URL"), "Redis")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'callcontrol.db'}"
