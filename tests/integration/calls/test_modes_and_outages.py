"""Outbound-socket mode, a database outage during hangups, the CLI, and /health."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from callcontrol.calls.machine import LegState
from callcontrol.console.app import create_app
from callcontrol.errors import ConfigError
from callcontrol.store.db import create_engine, migrate
from callcontrol.store.models import Cdr
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import RecordingHandover, eventually, make_settings, running_service
from tests.tools.tcpproxy import TcpProxy

pytestmark = pytest.mark.integration


async def test_outbound_socket_call_goes_to_the_bot(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port, esl={"mode": "outbound"})
    async with running_service(settings, handover=handover) as service:
        assert service.outbound is not None and service.outbound.port
        uuid = await fake_switch.inbound_call(
            caller="4444",
            destination="5000",
            variables={"callcontrol_action": "bot", "callcontrol_owner": "acme"},
            socket=f"127.0.0.1:{service.outbound.port} async full",
        )
        await handover.wait(timeout=5)
        handle = handover.handles[0]
        assert handle.id == uuid and handle.call.state is LegState.BOT
        assert handle.call.owner == "acme" and handle.call.caller_number == "4444"
        assert fake_switch.channel(uuid).answered
        # Commands for this call travel on its own socket.
        await handle.send_dtmf("12")
        await fake_switch.far_end_hangup(uuid)
        record = await service.controller.wait_finished(uuid, 5)
        assert record.handled_by == "bot" and record.hangup_cause == "NORMAL_CLEARING"
        assert service.outbound.accepted == 1


async def test_outbound_socket_receives_the_calls_playback_events(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    """FreeSWITCH's ``myevents`` set has no PLAYBACK_START/STOP (seen on a real 1.10.12
    call: no start event, a false barge-in): the outbound socket must ask for them."""
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port, esl={"mode": "outbound"})
    async with running_service(settings, handover=handover) as service:
        assert service.outbound is not None
        uuid = await fake_switch.inbound_call(
            caller="4444",
            destination="5000",
            variables={"callcontrol_action": "bot"},
            socket=f"127.0.0.1:{service.outbound.port} async full",
        )
        await handover.wait(timeout=5)
        handle = handover.handles[0]
        seen: list[str] = []
        handle.listen(lambda event: seen.append(event.name))
        await handle.play("silence_stream://200")
        await eventually(lambda: "PLAYBACK_STOP" in seen, timeout=5)
        assert seen.index("PLAYBACK_START") < seen.index("PLAYBACK_STOP")
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)


@pytest.mark.postgres
async def test_database_down_during_hangups_loses_nothing(
    fake_switch: FakeFreeSwitch, tmp_path: Path, postgres_url: str
) -> None:
    direct = create_engine(postgres_url)
    await migrate(direct)
    hostport = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = hostport.split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied = postgres_url.replace(hostport, f"127.0.0.1:{proxy.port}")
    handover = RecordingHandover()
    settings = make_settings(tmp_path, database_url=proxied, esl_port=fake_switch.esl_port)
    try:
        async with running_service(settings, handover=handover) as service:
            service.writer.retry_initial = 0.1  # probe quickly in the test
            uuids = [
                await fake_switch.inbound_call(variables={"callcontrol_action": "bot"})
                for _ in range(5)
            ]
            await handover.wait(5)
            await service.flush()
            await proxy.cut()  # PostgreSQL unreachable from callcontrol
            for uuid in uuids:
                await fake_switch.far_end_hangup(uuid)
            for uuid in uuids:
                await service.controller.wait_finished(uuid, 5)
            await service.flush()
            assert not service.writer.healthy
            assert service.writer.stats.spooled > 0
            assert service.health()["database"]["down"] is True
            await proxy.restore()
            await service.writer.wait_healthy(20)
            await service.flush()
            async with direct.connect() as conn:
                count = (await conn.execute(select(func.count()).select_from(Cdr))).scalar_one()
                ids = set((await conn.execute(select(Cdr.call_id))).scalars())
            assert count == 5 and ids == set(uuids)
    finally:
        await proxy.stop()
        await direct.dispose()


def _cli(args: list[str], port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CALLCONTROL_ESL__PORT": str(port),
        "CALLCONTROL_ESL__PASSWORD": "ClueCon",
        "CALLCONTROL_DATA_DIR": str(tmp_path / "var"),
    }
    return subprocess.run(
        [sys.executable, "-m", "callcontrol", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )


async def test_cli_call_operations_against_the_switch(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    fake_switch.extensions["2001"] = Extension.answers(0.1)
    uuid = await fake_switch.inbound_call(caller="1000", destination="9198")
    port = fake_switch.esl_port

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(_cli, list(args), port, tmp_path)

    listed = await cli("calls", "list")
    assert listed.returncode == 0, listed.stderr
    assert uuid in listed.stdout
    assert (await cli("calls", "answer", uuid)).returncode == 0
    await eventually(lambda: fake_switch.channel(uuid).answered)
    assert (await cli("calls", "dtmf", uuid, "123")).returncode == 0
    assert (await cli("calls", "record", uuid, "start", "/tmp/rec.wav")).returncode == 0
    assert (await cli("calls", "record", uuid, "stop", "/tmp/rec.wav")).returncode == 0
    assert (await cli("calls", "play", uuid, "/tmp/hello.wav")).returncode == 0
    assert (await cli("calls", "stop-playback", uuid)).returncode == 0
    names = {e.name for e in fake_switch.events_for(uuid)}
    assert {"RECORD_START", "RECORD_STOP"} <= names
    assert fake_switch.channel(uuid).sent_dtmf == ["123"]  # sent to the caller: no DTMF event
    made = await cli("calls", "originate", "user/2001", "--timeout", "10")
    assert made.returncode == 0, made.stderr
    new_uuid = made.stdout.strip().splitlines()[-1]
    assert fake_switch.channel(new_uuid).answered
    assert (await cli("calls", "bridge", uuid, new_uuid)).returncode == 0
    await eventually(lambda: "CHANNEL_BRIDGE" in {e.name for e in fake_switch.events_for(uuid)})
    assert (await cli("calls", "hangup", uuid, "--cause", "USER_BUSY")).returncode == 0
    await eventually(lambda: uuid not in {c.uuid for c in fake_switch.live_channels()})
    # Errors are one clear line and a non-zero exit, never a traceback.
    gone = await cli("calls", "hangup", uuid)
    assert gone.returncode == 1 and "No such channel" in gone.stderr
    assert "Traceback" not in gone.stderr
    bad = await cli("calls", "dtmf", "not a uuid", "1")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_cli_reports_bad_configuration_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "CALLCONTROL_ESL__PORT": "99999"}
    done = subprocess.run(
        [sys.executable, "-m", "callcontrol", "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "esl.port (CALLCONTROL_ESL__PORT)" in done.stderr
    assert "Traceback" not in done.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "callcontrol", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    for command in ("serve", "migrate", "calls", "config"):
        assert command in helped.stdout


async def test_health_shows_the_esl_connection(fake_switch: FakeFreeSwitch, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings) as service:
        app = create_app(service)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cc") as client:
            health = (await client.get("/health")).json()
            assert health["esl"]["state"] == "connected"
            assert (await client.get("/ready")).status_code == 200
            await fake_switch.inbound.stop()
            for conn in list(fake_switch.connections):
                conn.abort()
            await eventually(lambda: service.inbound is not None and not service.inbound.connected)
            health = (await client.get("/health")).json()
            assert health["esl"]["state"] in ("disconnected", "connecting")
            assert health["esl"]["last_error"]
            ready = await client.get("/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["esl"] is False
            metrics = (await client.get("/metrics")).text
            assert "callcontrol_esl_connected 0.0" in metrics


async def _migrate_with_the_cli(url: str, tmp_path: Path) -> set[str]:
    env = {**os.environ, "DATABASE_URL": url, "CALLCONTROL_DATA_DIR": str(tmp_path / "var")}
    for _ in range(2):  # idempotent: a second run changes nothing and succeeds
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "callcontrol", "migrate"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert "schema is current" in done.stdout
    from sqlalchemy import inspect

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


EXPECTED_TABLES = {
    "alembic_version", "calls", "legs", "call_events", "turns", "cdrs", "hitl_requests",
    "operators", "knowledge_documents", "app_settings", "console_sessions",
}  # fmt: skip


async def test_migrate_command_creates_the_schema_in_sqlite(
    sqlite_url: str, tmp_path: Path
) -> None:
    assert EXPECTED_TABLES <= await _migrate_with_the_cli(sqlite_url, tmp_path)


@pytest.mark.postgres
async def test_migrate_command_creates_the_schema_in_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    assert EXPECTED_TABLES <= await _migrate_with_the_cli(postgres_url, tmp_path)


async def test_the_outbound_listener_runs_in_outbound_mode_only(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    """It ran in inbound mode too and accepted any peer: a local process created a
    call, got it answered and left a spoofed CDR."""
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings) as service:
        assert service.outbound is None


async def _fake_freeswitch_connect(port: int, reply: bytes) -> bytes:
    """Connect as FreeSWITCH's socket app would; answer ``connect`` with ``reply``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        first = await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)
        assert first.startswith(b"connect")
        writer.write(reply)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)  # until the worker closes
    finally:
        writer.close()


async def test_the_outbound_listener_refuses_strangers_and_nameless_channels(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port, esl={"mode": "outbound"})
    async with running_service(settings) as service:
        outbound = service.outbound
        assert outbound is not None and outbound.port
        nameless = b"Content-Type: command/reply\nReply-Text: +OK\nCaller-Caller-ID-Number: 1\n\n"
        rest = await _fake_freeswitch_connect(outbound.port, nameless)
        assert b"myevents" not in rest  # refused before subscribing to anything
        await eventually(lambda: outbound.rejected == 1)
        assert outbound.accepted == 0 and service.controller.calls == {}
    strangers = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        esl={"mode": "outbound", "outbound_allowed_peers": ["10.0.0.0/8"]},
    )
    async with running_service(strangers) as service:
        assert service.outbound is not None and service.outbound.port
        reader, writer = await asyncio.open_connection("127.0.0.1", service.outbound.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing sent
        writer.close()
        await eventually(lambda: service.outbound is not None and service.outbound.rejected == 1)


@pytest.mark.parametrize(
    ("section", "setting"),
    [("fork", "CALLCONTROL_FORK__PORT"), ("esl", "CALLCONTROL_ESL__OUTBOUND_PORT")],
)
async def test_a_port_in_use_names_the_setting_to_change(
    fake_switch: FakeFreeSwitch, tmp_path: Path, section: str, setting: str
) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        if section == "fork":
            settings = make_settings(
                tmp_path,
                esl_port=fake_switch.esl_port,
                fork={"port": port},
                pipeline={"enabled": True},
            )
        else:
            settings = make_settings(
                tmp_path,
                esl_port=fake_switch.esl_port,
                esl={"mode": "outbound", "outbound_port": port},
            )
        with pytest.raises(ConfigError, match=setting) as caught:
            async with running_service(settings):
                pass
        assert f"127.0.0.1:{port}" in str(caught.value)
    finally:
        busy.close()


def test_serve_with_the_console_port_in_use_says_which_setting(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        env = {**os.environ, "CALLCONTROL_CONSOLE__PORT": str(port), "CALLCONTROL_DATA_DIR": "v"}
        done = subprocess.run(
            [sys.executable, "-m", "callcontrol", "serve"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        busy.close()
    assert done.returncode == 1
    assert "CALLCONTROL_CONSOLE__PORT" in done.stderr and "Traceback" not in done.stderr
