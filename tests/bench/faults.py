"""``make bench BENCH=faults``: the worker under faults, on loopback, bounded (~1 minute).

Each scenario is a fault a production worker meets, with the figure that says whether
it held:

* **ESL peer silent** — FreeSWITCH stops sending (socket open, no heartbeat): seconds
  until the worker declares the connection dead and is connected again (the emulator
  sends HEARTBEAT every 0.2 s here, the worker's ``heartbeat_timeout`` is 1 s).
* **ESL refusing auth 50 times** — open descriptors before and after 50 refused logins.
* **kill -9 with calls up, then a restart** — a real ``callcontrol serve`` process with
  calls bridged, killed with SIGKILL; some calls end while no worker runs, one stays up:
  CDRs per call after the restart (must be exactly one each) and rows left open.
* **database cut and restored under load** — PostgreSQL behind a TCP proxy, cut while
  calls keep ending at a steady rate, restored: CDRs offered vs in the database after
  the replay (skipped without ``DATABASE_URL`` pointing at PostgreSQL).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

from callcontrol.config import EslSettings
from callcontrol.esl.bridge import GeventThread
from callcontrol.esl.inbound import InboundConnection
from callcontrol.store.db import create_engine, migrate
from callcontrol.store.models import Call, Cdr
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import RecordingHandover, eventually, make_settings, running_service


async def esl_silent(tmp: Path) -> dict[str, Any]:
    async with FakeFreeSwitch(temp_dir=tmp / "fs-silent", heartbeat_interval=0.2) as sw:
        settings = make_settings(
            tmp / "silent", esl_port=sw.esl_port, esl={"heartbeat_timeout": 1.0}
        )
        async with running_service(settings) as service:
            inbound = service.inbound
            assert inbound is not None
            started = time.monotonic()
            sw.faults.go_silent()
            await eventually(lambda: inbound.status.connects == 2, timeout=30)
            recovered = time.monotonic() - started
            reply = await inbound.api("status")
    return {
        "heartbeat_timeout_s": 1.0,
        "detected_and_reconnected_s": round(recovered, 2),
        "commands_work_after": "UP" in reply.text,
        "reason": inbound.status.last_error,
    }


async def esl_auth_refused(tmp: Path, attempts: int = 50) -> dict[str, Any]:
    async with FakeFreeSwitch(temp_dir=tmp / "fs-auth") as sw:
        settings = EslSettings(
            port=sw.esl_port,
            password=SecretStr("wrong"),
            reconnect_initial=0.01,
            reconnect_max=0.02,
            connect_timeout=2,
            command_timeout=2,
        )
        thread = GeventThread()
        conn = InboundConnection(settings, thread)
        gc.disable()
        try:
            await conn.start()
            await eventually(lambda: conn.status.failures >= 2, timeout=10)
            before = len(os.listdir("/proc/self/fd"))
            await eventually(lambda: conn.status.failures >= attempts + 2, timeout=120)
            after = len(os.listdir("/proc/self/fd"))
        finally:
            gc.enable()
            await conn.stop()
            thread.stop()
    return {"refused_logins": attempts, "descriptors_before": before, "descriptors_after": after}


async def kill_and_restart(tmp: Path, calls_up: int = 5) -> dict[str, Any]:
    from tests.integration.calls.test_crash_recovery import worker

    db_url = f"sqlite+aiosqlite:///{tmp / 'crash.db'}"
    engine = create_engine(db_url)
    async with FakeFreeSwitch(temp_dir=tmp / "fs-crash") as sw:
        exts = [str(1001 + i) for i in range(calls_up)]
        for ext in exts:
            sw.extensions[ext] = Extension.answers(0.05)

        async def bridged() -> int:
            async with engine.connect() as conn:
                q = select(func.count()).select_from(Call).where(Call.state == "bridged")
                return int((await conn.execute(q)).scalar_one())

        async def cdrs() -> dict[str, int]:
            async with engine.connect() as conn:
                ids = (await conn.execute(select(Cdr.call_id))).scalars().all()
            counts: dict[str, int] = {}
            for call_id in ids:
                counts[call_id] = counts.get(call_id, 0) + 1
            return counts

        uuids: list[str] = []
        (tmp / "crash").mkdir(parents=True, exist_ok=True)
        with worker(tmp / "crash", sw.esl_port, db_url) as proc:
            await eventually(lambda: len(sw.faults.clients()) >= 1, timeout=60)
            for ext in exts:
                uuids.append(
                    await sw.inbound_call(
                        caller="1000",
                        destination=ext,
                        context="default",
                        variables={"callcontrol_action": "extension", "callcontrol_extension": ext},
                    )
                )
            await eventually(lambda: _at_least(bridged, calls_up), timeout=30)
            await sw.far_end_hangup(uuids[0])
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for uuid in uuids[1:-1]:
            await sw.far_end_hangup(uuid)  # these end while no worker runs
        started = time.monotonic()
        with worker(tmp / "crash", sw.esl_port, db_url):
            await eventually(lambda: len(sw.faults.clients()) >= 1, timeout=60)
            await eventually(lambda: _has_all(cdrs, uuids[:-1]), timeout=60)
            recovered = time.monotonic() - started
            await sw.far_end_hangup(uuids[-1])  # the adopted call ends normally
            await eventually(lambda: _has_all(cdrs, uuids), timeout=60)
        counts = await cdrs()
        async with engine.connect() as conn:
            q = select(func.count()).select_from(Call).where(Call.ended_at.is_(None))
            left_open = int((await conn.execute(q)).scalar_one())
    await engine.dispose()
    return {
        "calls_up_at_kill": calls_up,
        "cdrs_per_call": sorted(counts.get(u, 0) for u in uuids),
        "rows_left_open": left_open,
        "restart_to_all_cdrs_s": round(recovered, 2),
    }


async def _at_least(fn: Any, n: int) -> bool:
    return bool(await fn() >= n)


async def _has_all(fn: Any, ids: list[str]) -> bool:
    counts = await fn()
    return all(i in counts for i in ids)


async def database_cut(tmp: Path, admin_url: str, calls: int = 60) -> dict[str, Any]:
    """In a database of its own, created next to ``admin_url``'s and dropped after."""
    import uuid

    import asyncpg

    name = f"cc_faults_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        return await _database_cut(tmp, f"{base}/{name}", calls)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _database_cut(tmp: Path, postgres_url: str, calls: int) -> dict[str, Any]:
    from tests.tools.tcpproxy import TcpProxy

    direct = create_engine(postgres_url)
    await migrate(direct)
    hostport = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = hostport.split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied = postgres_url.replace(hostport, f"127.0.0.1:{proxy.port}")
    handover = RecordingHandover()
    try:
        async with FakeFreeSwitch(temp_dir=tmp / "fs-db") as sw:
            settings = make_settings(tmp / "db", database_url=proxied, esl_port=sw.esl_port)
            async with running_service(settings, handover=handover) as service:
                uuids = [
                    await sw.inbound_call(variables={"callcontrol_action": "bot"})
                    for _ in range(calls)
                ]
                await eventually(lambda: len(handover.handles) >= calls, timeout=30)
                await service.flush()
                cut_at = calls // 4
                for i, uuid in enumerate(uuids):  # calls keep ending, ~20 a second
                    if i == cut_at:
                        await proxy.cut()
                    if i == 3 * calls // 4:
                        await proxy.restore()
                    await sw.far_end_hangup(uuid)
                    await asyncio.sleep(0.05)
                for uuid in uuids:
                    await service.controller.wait_finished(uuid, 10)
                await service.writer.wait_healthy(30)
                await service.flush()
                spooled = service.writer.stats.spooled
        async with direct.connect() as conn:
            stored = int((await conn.execute(select(func.count()).select_from(Cdr))).scalar_one())
    finally:
        await proxy.stop()
        await direct.dispose()
    return {"calls_ended": calls, "cdrs_in_database": stored, "writes_spooled": spooled}


def run() -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        with TemporaryDirectory(prefix="cc-faults-") as name:
            tmp = Path(name)
            out: dict[str, Any] = {
                "esl_silent": await esl_silent(tmp),
                "esl_auth_refused": await esl_auth_refused(tmp),
                "kill_and_restart": await kill_and_restart(tmp),
            }
            url = os.environ.get("DATABASE_URL", "")
            if url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
                out["database_cut"] = await database_cut(tmp, url)
            else:
                out["database_cut"] = "skipped: DATABASE_URL is not PostgreSQL"
            return out

    return asyncio.run(main())
