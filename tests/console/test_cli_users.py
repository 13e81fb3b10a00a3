"""`callcontrol user add|list|passwd` against a real SQLite database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcontrol.cli import app
from callcontrol.console.auth import verify_password
from callcontrol.store.db import create_engine, sessionmaker
from callcontrol.store.repos import OperatorRepo


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    for name in ("DATABASE_URL", "REDIS_URL", "CALLCONTROL_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CALLCONTROL_DATABASE_URL", url)
    monkeypatch.setenv("CALLCONTROL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    return url


def _hash(url: str, username: str) -> str | None:
    async def go() -> str | None:
        engine = create_engine(url)
        try:
            op = await OperatorRepo(sessionmaker(engine)).by_username(username)
            return op.password_hash if op else None
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_user_commands(env: str) -> None:
    runner = CliRunner()
    added = runner.invoke(
        app, ["user", "add", "boss", "--role", "admin", "--password-stdin"], input="first pass 1\n"
    )
    assert added.exit_code == 0, added.output
    assert "added admin boss" in added.output
    stored = _hash(env, "boss")
    assert stored is not None and verify_password(stored, "first pass 1")
    prompted = runner.invoke(
        app, ["user", "add", "op1", "--extension", "1001"], input="second pass\nsecond pass\n"
    )
    assert prompted.exit_code == 0, prompted.output
    duplicate = runner.invoke(app, ["user", "add", "boss", "--password-stdin"], input="x" * 9)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_role = runner.invoke(
        app, ["user", "add", "x", "--role", "root", "--password-stdin"], input="longenough\n"
    )
    assert bad_role.exit_code == 1
    weak = runner.invoke(app, ["user", "passwd", "boss", "--password-stdin"], input="short\n")
    assert weak.exit_code == 1 and "8 characters" in weak.output
    changed = runner.invoke(
        app, ["user", "passwd", "boss", "--password-stdin"], input="new pass 22\n"
    )
    assert changed.exit_code == 0
    new_hash = _hash(env, "boss")
    assert new_hash is not None and verify_password(new_hash, "new pass 22")
    assert not verify_password(new_hash, "first pass 1")
    unknown = runner.invoke(
        app, ["user", "passwd", "ghost", "--password-stdin"], input="whatever1\n"
    )
    assert unknown.exit_code == 1 and "no user" in unknown.output
    listed = runner.invoke(app, ["user", "list"])
    assert listed.exit_code == 0
    lines = [line.split() for line in listed.output.splitlines() if line.strip()]
    assert ["boss", "admin", "offline"] in lines and ["op1", "operator", "offline", "1001"] in lines
