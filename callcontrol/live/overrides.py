"""Apply the bot's settings an admin changed in the console, live, on this worker.

The console stores overrides in ``app_settings`` and announces each change on the
bus topic ``settings`` (``{"key", "value"}``; ``value`` null means back to the
configured default). Sessions read ``settings.pipeline`` when they need a value
(the greeting when they greet, the threshold at each turn), so updating that
object applies a change to calls in progress and to the next ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.config import PipelineSettings, Settings
from callcontrol.live import topics
from callcontrol.live.base import EventBus

log = structlog.get_logger(__name__)

PREFIX = "pipeline."


class PipelineOverrides:
    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        load: Callable[[], Awaitable[dict[str, Any]]],
    ) -> None:
        self._settings = settings
        self._defaults = settings.pipeline.model_copy(deep=True)
        self._bus = bus
        self._load = load
        self._tasks = TaskOwner("pipeline-overrides")

    def apply(self, key: str, value: Any) -> None:
        if not key.startswith(PREFIX):
            return
        name = key.removeprefix(PREFIX)
        if name not in PipelineSettings.model_fields:
            log.warning("ignoring an unknown pipeline setting", key=key)
            return
        current = self._settings.pipeline
        if value is None:
            value = getattr(self._defaults, name)
        try:
            checked = PipelineSettings.model_validate({**current.model_dump(), name: value})
        except ValueError as exc:
            log.warning("ignoring an invalid pipeline setting", key=key, error=str(exc))
            return
        setattr(current, name, getattr(checked, name))
        log.info("pipeline setting changed from the console", key=key)

    async def start(self) -> None:
        try:
            for key, value in (await self._load()).items():
                self.apply(key, value)
        except Exception as exc:  # noqa: BLE001 - defaults still work
            log.warning("cannot load the console's setting overrides", error=str(exc))
        self._tasks.spawn(self._follow(), "follow")

    async def _follow(self) -> None:
        async with self._bus.subscribe(topics.SETTINGS) as subscription:
            async for _topic, message in subscription:
                key = message.get("key")
                if isinstance(key, str):
                    self.apply(key, message.get("value"))

    async def stop(self) -> None:
        await self._tasks.cancel_all()
