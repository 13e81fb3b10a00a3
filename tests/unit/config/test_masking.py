"""Secrets never leave the process in clear: settings dumps and logged ESL commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from callcontrol.config import Settings, mask_url
from callcontrol.errors import EslCommandError, redact_command
from callcontrol.media.fork_esl import build_fork_start_command


def test_passwords_inside_urls_are_masked() -> None:
    settings = Settings(
        _env_file=None,
        database_url="postgresql://cc:s3cret-db@db.example:5432/callcontrol",
        redis_url="redis://:s3cret-redis@127.0.0.1:6379/0",
        qdrant_url="http://127.0.0.1:6333/?api_key=s3cret-qdrant",
    )
    text = json.dumps(settings.masked())
    assert "s3cret" not in text
    data = settings.masked()
    assert data["database_url"] == "postgresql+asyncpg://cc:**********@db.example:5432/callcontrol"
    assert data["effective_database_url"] == data["database_url"]
    assert data["redis_url"] == "redis://:**********@127.0.0.1:6379/0"
    assert (
        mask_url("sqlite+aiosqlite:///var/callcontrol.db")
        == "sqlite+aiosqlite:///var/callcontrol.db"
    )


def test_callcontrol_config_prints_no_password(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "postgresql://cc:s3cret-db@127.0.0.1:5432/test",
        "REDIS_URL": "redis://:s3cret-redis@127.0.0.1:6379/0",
        "CALLCONTROL_ESL__PASSWORD": "s3cret-esl",
    }
    done = subprocess.run(
        [sys.executable, "-m", "callcontrol", "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout and "**********" in done.stdout


def test_a_refused_fork_command_does_not_log_its_token() -> None:
    command = build_fork_start_command(
        "u1", "ws://127.0.0.1:8090/fork/u1", metadata={"callId": "u1", "token": "s3cret-tok"}
    )
    error = EslCommandError(command, "-ERR Operation Failed")
    assert "s3cret" not in str(error) and "s3cret" not in error.command
    assert '"token":"***"' in error.command.replace(" ", "")
    assert redact_command("auth ClueCon") == "auth ***"
