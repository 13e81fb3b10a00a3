"""Fixtures the dialog's unit tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from callcontrol.media.silero import SileroModel
from callcontrol.media.vad import VadWorker


@pytest_asyncio.fixture
async def vad() -> AsyncIterator[VadWorker]:
    async with VadWorker(SileroModel()) as worker:
        yield worker
