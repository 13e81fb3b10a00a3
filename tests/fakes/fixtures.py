"""pytest fixtures for the FreeSWITCH emulator.

Enable with ``pytest_plugins = ["tests.fakes.fixtures"]`` in tests/conftest.py, then::

    async def test_call(fake_switch):
        uuid = await fake_switch.inbound_call(caller="1001", destination="9198",
                                              variables={"callcontrol_action": "bot"})
        ...  # point the service at 127.0.0.1:fake_switch.esl_port, password "ClueCon"
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient, OutboundTestServer


@pytest_asyncio.fixture
async def fake_switch(tmp_path: Path) -> AsyncIterator[FakeFreeSwitch]:
    """A started emulator on an ephemeral ESL port (password ``ClueCon``), closed afterwards.

    Fails the test if one of the emulator's own tasks crashed.
    """
    sw = FakeFreeSwitch(temp_dir=tmp_path / "freeswitch-tmp")
    await sw.start()
    try:
        yield sw
    finally:
        await sw.aclose()
    if sw.tasks.errors:
        pytest.fail(f"the FreeSWITCH emulator itself failed: {sw.tasks.errors[0]!r}")


@pytest_asyncio.fixture
async def esl_client(fake_switch: FakeFreeSwitch) -> AsyncIterator[EslTestClient]:
    """A raw, authenticated inbound ESL client connected to ``fake_switch``."""
    client = await EslTestClient.connect(fake_switch.esl_port)
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def outbound_server() -> AsyncIterator[OutboundTestServer]:
    """A TCP server standing in for the service's outbound-socket listener."""
    async with OutboundTestServer() as server:
        yield server
