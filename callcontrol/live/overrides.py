"""Apply the settings an admin changed in the console, live, on this worker.

The console stores overrides in ``app_settings`` (every owner) and ``owner_settings``
(one owner: DID or tenant) and announces each change on the bus topic ``settings``
(``{"key", "value", "owner"}``; ``value`` null means back to the configured default,
``owner`` absent or null means every owner). The sections applied here are
``pipeline.*`` (the bot) and ``recording.*`` (call recordings). Sessions read
``settings.pipeline`` when they need a value (the greeting when they greet, the
threshold at each turn), so updating that object applies a global change to calls in
progress and to the next ones. A call whose owner has its own values gets a copy with
them at its start (:meth:`SettingOverrides.for_owner`, :meth:`~SettingOverrides.
recording_for`): an owner's change applies from its next call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from callcontrol.aio import TaskOwner
from callcontrol.config import PipelineSettings, RecordingSettings, RetentionSettings, Settings
from callcontrol.live import topics
from callcontrol.live.base import EventBus

log = structlog.get_logger(__name__)

SECTIONS: dict[str, type[BaseModel]] = {
    "pipeline": PipelineSettings,
    "recording": RecordingSettings,
    "retention": RetentionSettings,
}
M = TypeVar("M", bound=BaseModel)


class SettingOverrides:
    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        load: Callable[[], Awaitable[dict[str, Any]]],
        load_owners: Callable[[], Awaitable[dict[str, dict[str, Any]]]] | None = None,
    ) -> None:
        self._settings = settings
        self._defaults = {name: getattr(settings, name).model_copy(deep=True) for name in SECTIONS}
        self._bus = bus
        self._load = load
        self._load_owners = load_owners
        # owner → section → {field: checked value}
        self._owners: dict[str, dict[str, dict[str, Any]]] = {}
        self._tasks = TaskOwner("setting-overrides")

    def _section_for(self, owner: str | None, section: str, current: M) -> M:
        changes = self._owners.get(owner or "", {}).get(section)
        return current.model_copy(update=changes, deep=True) if changes else current

    def for_owner(self, owner: str | None) -> PipelineSettings:
        """The pipeline settings a call of ``owner`` runs with: the live global object
        itself when the owner changed nothing, else a copy with the owner's values."""
        return self._section_for(owner, "pipeline", self._settings.pipeline)

    def recording_for(self, owner: str | None) -> RecordingSettings:
        """How a call of ``owner`` is recorded (its own values over every owner's)."""
        return self._section_for(owner, "recording", self._settings.recording)

    def retention_for(self, owner: str | None) -> RetentionSettings:
        """How long ``owner``'s data is kept (its own values over every owner's)."""
        return self._section_for(owner, "retention", self._settings.retention)

    def apply(self, key: str, value: Any, owner: str | None = None) -> None:
        section, _, name = key.partition(".")
        model = SECTIONS.get(section)
        if model is None:
            return  # not ours (the desk applies console.hitl_timeout_s)
        if name not in model.model_fields:
            log.warning("ignoring an unknown setting", key=key)
            return
        current: BaseModel = getattr(self._settings, section)
        if owner:
            if value is None:
                self._owners.get(owner, {}).get(section, {}).pop(name, None)
                log.info("owner setting reset from the console", key=key, owner=owner)
                return
        elif value is None:
            value = getattr(self._defaults[section], name)
        if value == "":
            value = None  # an optional setting cleared (no recording notice)
        try:
            checked = model.model_validate({**current.model_dump(), name: value})
        except ValueError as exc:
            log.warning("ignoring an invalid setting", key=key, error=str(exc))
            return
        if owner:
            by_section = self._owners.setdefault(owner, {})
            by_section.setdefault(section, {})[name] = getattr(checked, name)
            log.info("owner setting changed from the console", key=key, owner=owner)
            return
        setattr(current, name, getattr(checked, name))
        log.info("setting changed from the console", key=key)

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
