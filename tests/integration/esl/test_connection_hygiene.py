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
from tests.harness import eventually

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
