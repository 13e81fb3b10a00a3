"""Database engine and migrations. SQLite (aiosqlite) by default, PostgreSQL via asyncpg."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from callcontrol.errors import StoreError

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can read (0700): the data directory
    holds transcripts, password hashes and the console's key. An existing one that
    others could read is tightened, and said so."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(0o700)
            log.warning(
                "data directory was readable by others; now 0700", path=str(path), was=oct(mode)
            )
        except OSError as exc:
            log.warning("data directory is readable by others", path=str(path), error=str(exc))
    return path


def create_engine(url: str, *, echo: bool = False, busy_timeout_ms: int = 5000) -> AsyncEngine:
    """An async engine for ``url``; SQLite files get WAL and a busy timeout, and are
    created readable by their owner only (0600; SQLite gives its -wal/-shm files the
    database file's permissions)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 10},
    )


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent; safe to run at every start)."""
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)
    except Exception as exc:
        raise StoreError(f"database migration failed on {engine.url!r}: {exc}") from exc
    log.info("database schema is current", url=engine.url.render_as_string(hide_password=True))


def run_migrate(url: str) -> None:
    """Synchronous entry point for ``callcontrol migrate``."""

    async def _go() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(_go())
