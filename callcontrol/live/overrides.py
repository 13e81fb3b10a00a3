"""Apply the bot's settings an admin changed in the console, live, on this worker.

The console stores overrides in ``app_settings`` (every owner) and ``owner_settings``
(one owner: DID or tenant) and announces each change on the bus topic ``settings``
(``{"key", "value", "owner"}``; ``value`` null means back to the configured default,
``owner`` absent or null means every owner). Sessions read ``settings.pipeline`` when
they need a value (the greeting when they greet, the threshold at each turn), so
updating that object applies a global change to calls in progress and to the next
ones. A call whose owner has its own values gets a copy with them at its start
(:meth:`PipelineOverrides.for_owner`): an owner's change applies from its next call.
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
        load_owners: Callable[[], Awaitable[dict[str, dict[str, Any]]]] | None = None,
    ) -> None:
        self._settings = settings
        self._defaults = settings.pipeline.model_copy(deep=True)
        self._bus = bus
        self._load = load
        self._load_owners = load_owners
        # owner → {pipeline field: checked value}
        self._owners: dict[str, dict[str, Any]] = {}
        self._tasks = TaskOwner("pipeline-overrides")

    def for_owner(self, owner: str | None) -> PipelineSettings:
        """The pipeline settings a call of ``owner`` runs with: the live global object
        itself when the owner changed nothing, else a copy with the owner's values."""
        changes = self._owners.get(owner or "")
        current = self._settings.pipeline
        return current.model_copy(update=changes, deep=True) if changes else current

    def apply(self, key: str, value: Any, owner: str | None = None) -> None:
        if not key.startswith(PREFIX):
            return
        name = key.removeprefix(PREFIX)
        if name not in PipelineSettings.model_fields:
            log.warning("ignoring an unknown pipeline setting", key=key)
            return
        current = self._settings.pipeline
        if owner:
            if value is None:
                self._owners.get(owner, {}).pop(name, None)
                log.info("owner setting reset from the console", key=key, owner=owner)
                return
        elif value is None:
            value = getattr(self._defaults, name)
        try:
            checked = PipelineSettings.model_validate({**current.model_dump(), name: value})
        except ValueError as exc:
            log.warning("ignoring an invalid pipeline setting", key=key, error=str(exc))
            return
        if owner:
            self._owners.setdefault(owner, {})[name] = getattr(checked, name)
            log.info("owner setting changed from the console", key=key, owner=owner)
            return
        setattr(current, name, getattr(checked, name))
        log.info("pipeline setting changed from the console", key=key)

    async def start(self) -> None:
        try:
            for key, value in (await self._load()).items():
                self.apply(key, value)
            if self._load_owners is not None:
                for owner, values in (await self._load_owners()).items():
                    for key, value in values.items():
                        self.apply(key, value, owner)
        except Exception as exc:  # noqa: BLE001 - defaults still work
            log.warning("cannot load the console's setting overrides", error=str(exc))
        self._tasks.spawn(self._follow(), "follow")

    async def _follow(self) -> None:
        async with self._bus.subscribe(topics.SETTINGS) as subscription:
            async for _topic, message in subscription:
                key, owner = message.get("key"), message.get("owner")
                if isinstance(key, str):
                    self.apply(key, message.get("value"), owner if isinstance(owner, str) else None)

    async def stop(self) -> None:
        await self._tasks.cancel_all()
