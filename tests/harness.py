"""Building a real callcontrol Service for tests, pointed at the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from callcontrol.app import Service
from callcontrol.calls.handle import CallHandle
from callcontrol.config import EslSettings, Settings


def make_settings(
    tmp_path: Path, *, database_url: str | None = None, esl_port: int = 8021, **overrides: Any
) -> Settings:
    """Settings that ignore the environment's .env/DATABASE_URL/REDIS_URL unless given."""
    esl = overrides.pop("esl", {})
    base: dict[str, Any] = {
        "_env_file": None,
        "data_dir": tmp_path / "var",
        "database_url": database_url or f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}",
        "redis_url": overrides.pop("redis_url", None),
        "qdrant_url": None,
        "esl": EslSettings(
            port=esl_port,
            outbound_port=esl.pop("outbound_port", 0),
            **{"reconnect_initial": 0.05, "reconnect_max": 0.3, "command_timeout": 3, **esl},
        ),
    }
    # No voice models unless a test asks for them: pipeline={"enabled": True, …}; and no
    # Whisper loaded to transcribe recordings unless recording={"transcribe": True}.
    base["pipeline"] = {"enabled": False, **overrides.pop("pipeline", {})}
    base["recording"] = {"transcribe": False, **overrides.pop("recording", {})}
    base.update(overrides)
    return Settings(**base)


class RecordingHandover:
    """A stand-in bot: remembers every call handed to it."""

    def __init__(self) -> None:
        self.handles: list[CallHandle] = []
        self.arrived = asyncio.Event()
        self.times: list[float] = []
        self.refused: str | None = None  # set: no bot can take a call

    def refusal(self) -> str | None:
        return self.refused

    async def start_bot(self, handle: CallHandle) -> None:
        self.handles.append(handle)
        self.times.append(asyncio.get_running_loop().time())
        self.arrived.set()

    async def wait(self, count: int = 1, timeout: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.handles) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)


@asynccontextmanager
async def running_service(
    settings: Settings, *, connected: bool = True, **kwargs: Any
) -> AsyncIterator[Service]:
    async with Service(settings, **kwargs) as service:
        if connected and service.inbound is not None:
            await service.inbound.wait_connected(5)
        yield service


async def eventually(check: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy (or raise with its last value)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(step)
