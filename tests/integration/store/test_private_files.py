"""The data directory and the embedded database are private; a default ESL password
is called out at start (issue 10: 0755/0644 while holding transcripts and hashes)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import make_settings, running_service

pytestmark = pytest.mark.integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_data_dir_and_database_are_created_private(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'cc.db'}",
    )
    with capture_logs() as logs:
        async with running_service(settings):
            pass
    assert _mode(settings.data_dir) == 0o700
    assert _mode(tmp_path / "db") == 0o700
    assert _mode(tmp_path / "db" / "cc.db") == 0o600
    warned = [e for e in logs if "well-known default" in e["event"]]
    assert warned and warned[0]["log_level"] == "warning"


async def test_a_data_dir_others_can_read_is_tightened(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    settings.data_dir.mkdir(mode=0o755)
    settings.data_dir.chmod(0o755)
    async with running_service(settings):
        pass
    assert _mode(settings.data_dir) == 0o700
