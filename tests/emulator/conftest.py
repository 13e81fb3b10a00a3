"""The emulator's own tests use its fixtures directly (tests/conftest.py may also load them)."""

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.emulator.forkserver import ForkServer
from tests.fakes.fixtures import esl_client, fake_switch, outbound_server

__all__ = ["esl_client", "fake_switch", "fork_server", "outbound_server"]


@pytest_asyncio.fixture
async def fork_server() -> AsyncIterator[ForkServer]:
    async with ForkServer() as server:
        yield server
