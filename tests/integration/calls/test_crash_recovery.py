"""kill -9 with calls up, then a restart: every call gets exactly one CDR.

Found by probing a worker: after kill -9 with 3 calls up and a restart, 0 of 3 had a
CDR and their rows stayed ``state=bot`` forever; a kill within milliseconds of hangups
kept 7 of 10 JSON lines and 0 of 10 rows. A real ``callcontrol serve`` process against
the FreeSWITCH emulator, killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcontrol.config import Settings
from callcontrol.store.db import create_engine, migrate
from callcontrol.store.models import Call, Cdr
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import eventually, running_service

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def worker(tmp_path: Path, esl_port: int, db_url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "CALLCONTROL_ESL__PORT": str(esl_port),
        "CALLCONTROL_ESL__PASSWORD": "ClueCon",
        "CALLCONTROL_ESL__RECONNECT_INITIAL": "0.05",
        "CALLCONTROL_DATA_DIR": str(tmp_path / "var"),
        "CALLCONTROL_WORKER_ID": "crash-test",
        "CALLCONTROL_PIPELINE__ENABLED": "false",
        "CALLCONTROL_CONSOLE__PORT": str(_free_port()),
        "CALLCONTROL_CALLS__NO_ANSWER_TIMEOUT": "30",
        "DATABASE_URL": db_url,
        "REDIS_URL": "",
        "QDRANT_URL": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "callcontrol", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def test_kill_minus_nine_with_calls_up_leaves_one_cdr_per_call(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    engine = create_engine(db_url)

    async def count(model: type[Call] | type[Cdr], *where: object) -> int:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(model)
            for clause in where:
                query = query.where(clause)  # type: ignore[arg-type]
            return int((await conn.execute(query)).scalar_one())

    async def cdr_counts() -> dict[str, int]:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Cdr.call_id, Cdr.hangup_cause))).all()
        out: dict[str, int] = {}
        for call_id, _cause in rows:
            out[call_id] = out.get(call_id, 0) + 1
        return out

    async def bridged(n: int) -> bool:
        return await count(Call, Call.state == "bridged") >= n

    async def have_cdrs(ids: list[str]) -> bool:
        counts = await cdr_counts()
        return all(c in counts for c in ids)

    for ext in ("1001", "1002", "1003", "1004"):
        fake_switch.extensions[ext] = Extension.answers(0.05)
    try:
        with worker(tmp_path, fake_switch.esl_port, db_url) as first:
            await eventually(lambda: len(fake_switch.faults.clients()) >= 1, timeout=60)
            calls = []
            for ext in ("1001", "1002", "1003"):
                calls.append(
                    await fake_switch.inbound_call(
                        caller="1000",
                        destination=ext,
                        context="default",
                        variables={"callcontrol_action": "extension", "callcontrol_extension": ext},
                    )
                )
            # All three bridged and recorded, then one ends and the worker dies at once.
            await eventually(lambda: bridged(3), timeout=60)  # a worker started under load
            await fake_switch.far_end_hangup(calls[0])
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        # While no worker runs, the second call ends too; the third stays up.
        await fake_switch.far_end_hangup(calls[1])
        with worker(tmp_path, fake_switch.esl_port, db_url):
            await eventually(lambda: len(fake_switch.faults.clients()) >= 1, timeout=60)
            # Both dead calls get a CDR; the live one is adopted and has none yet.
            await eventually(lambda: have_cdrs(calls[:2]), timeout=30)
            assert calls[2] not in await cdr_counts()
            await fake_switch.far_end_hangup(calls[2])
            await eventually(lambda: have_cdrs(calls), timeout=30)
        counts = await cdr_counts()
        assert all(counts[c] == 1 for c in calls), counts
        assert await count(Call, Call.ended_at.is_(None)) == 0  # no row left open
        async with engine.connect() as conn:
            causes = dict((await conn.execute(select(Cdr.call_id, Cdr.hangup_cause))).all())
        assert causes[calls[1]] == "WORKER_RESTART"  # it ended while nobody watched
        assert causes[calls[2]] == "NORMAL_CLEARING"  # adopted, then a normal end
    finally:
        await engine.dispose()


async def test_the_cdr_line_restores_a_lost_row(tmp_path: Path) -> None:
    """A kill right after the JSON line was written, before the row: the row comes back."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    cdr_dir = tmp_path / "var" / "cdr"
    cdr_dir.mkdir(parents=True)
    today = datetime.now(UTC)
    line = {
        "call_id": "lost-1",
        "caller": "1000",
        "callee": "9000",
        "direction": "inbound",
        "owner": None,
        "start_at": today.isoformat(),
        "answer_at": today.isoformat(),
        "end_at": today.isoformat(),
        "duration_s": 3,
        "billsec_s": 3,
        "hangup_cause": "NORMAL_CLEARING",
        "handled_by": "bot",
        "outcome": "bot",
        "recording_path": None,
        "worker_id": "w0",
    }
    (cdr_dir / f"cdr-{today:%Y-%m-%d}.jsonl").write_text(json.dumps(line) + "\n{cut by the cra")
    engine = create_engine(db_url)
    await migrate(engine)
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "var",
        database_url=db_url,
        esl={"inbound_enabled": False},
        pipeline={"enabled": False},
    )
    try:
        async with running_service(settings, connected=False) as service:
            await service.flush()
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Cdr.call_id, Cdr.billsec_s))).all()
        assert [tuple(r) for r in rows] == [("lost-1", 3)]
    finally:
        await engine.dispose()
