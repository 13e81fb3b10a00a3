"""Failed Event Socket connects leave no descriptor behind (issue 10: one CLOSE-WAIT
socket per failed handshake — ~8,600 a day with a wrong password and a 10 s retry)."""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from callcontrol.config import EslSettings
from callcontrol.esl.bridge import GeventThread
from callcontrol.esl.inbound import InboundConnection
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import eventually, make_settings, running_service

pytestmark = pytest.mark.integration


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_twenty_refused_logins_leak_no_descriptor(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    settings = EslSettings(
        port=fake_switch.esl_port,
        password=SecretStr("not-the-password"),
        reconnect_initial=0.01,
        reconnect_max=0.02,
        connect_timeout=2,
        command_timeout=2,
    )
    thread = GeventThread()
    conn = InboundConnection(settings, thread)
    gc.disable()  # a leaked socket must not be rescued by the garbage collector
    try:
        await conn.start()
        await eventually(lambda: conn.status.failures >= 2, timeout=10)
        baseline = open_descriptors()  # the gevent hub and thread are up by now
        await eventually(lambda: conn.status.failures >= 22, timeout=30)
        assert "authentication refused" in (conn.status.last_error or "")
        await asyncio.sleep(0)  # let the last close land
        leaked = open_descriptors() - baseline
        assert leaked <= 2  # the attempt in flight, at most
    finally:
        gc.enable()
        await conn.stop()
        thread.stop()


async def test_a_silent_freeswitch_is_declared_dead_and_reconnected(tmp_path: Path) -> None:
    """81 s of silence left /health "connected" and /ready 200 while commands timed out."""
    async with FakeFreeSwitch(temp_dir=tmp_path / "fs", heartbeat_interval=0.1) as sw:
        settings = make_settings(tmp_path, esl_port=sw.esl_port, esl={"heartbeat_timeout": 0.8})
        async with running_service(settings) as service:
            inbound = service.inbound
            assert inbound is not None
            # Heartbeats keep a quiet connection alive: many timeouts' worth of them.
            beats = lambda: len([e for e in sw.events if e.name == "HEARTBEAT"])  # noqa: E731
            await eventually(lambda: beats() >= 20, timeout=10)
            assert inbound.status.connects == 1
            sw.faults.go_silent()  # FreeSWITCH hangs; its socket stays open
            await eventually(lambda: inbound.status.connects == 2, timeout=10)
            assert "no heartbeat" in (inbound.status.last_error or "")
            assert inbound.connected  # a fresh connection, reconciled
            reply = await inbound.api("status")  # commands work again
            assert "UP" in reply.text


async def test_commands_that_get_no_answer_end_the_connection(tmp_path: Path) -> None:
    """A switch that still sends its heartbeat but answers no command is no use either."""
    from callcontrol.errors import EslTimeoutError

    async with FakeFreeSwitch(temp_dir=tmp_path / "fs", heartbeat_interval=None) as sw:
        settings = make_settings(
            tmp_path, esl_port=sw.esl_port, esl={"heartbeat_timeout": 600, "command_timeout": 0.3}
        )
        async with running_service(settings) as service:
            inbound = service.inbound
            assert inbound is not None
            sw.faults.go_silent()
            for _ in range(3):
                with pytest.raises(EslTimeoutError):
                    await inbound.api("status", timeout=0.3)
            await eventually(lambda: inbound.status.connects == 2, timeout=10)
            assert "got no answer" in (inbound.status.last_error or "")
            assert "UP" in (await inbound.api("status")).text
