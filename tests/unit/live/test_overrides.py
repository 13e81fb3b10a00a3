"""Console setting overrides reach the live pipeline settings."""

from __future__ import annotations

import asyncio
from typing import Any

from callcontrol.config import Settings
from callcontrol.live.memory import InProcessBus
from callcontrol.live.overrides import SettingOverrides


async def test_stored_and_live_overrides_apply_and_reset() -> None:
    settings = Settings(_env_file=None)
    default_greeting = settings.pipeline.greeting
    bus = InProcessBus()

    async def stored() -> dict[str, Any]:
        return {"pipeline.min_confidence": 0.7, "console.hitl_timeout_s": 10}

    overrides = SettingOverrides(settings, bus, stored)
    await overrides.start()
    try:
        assert settings.pipeline.min_confidence == 0.7  # loaded at start
        assert settings.console.hitl_timeout_s != 10  # not ours: the desk applies it
        await asyncio.sleep(0)  # let the subscription start
        await bus.publish("settings", {"key": "pipeline.greeting", "value": "Hi, Acme here."})
        await bus.publish("settings", {"key": "pipeline.sensitive_topics", "value": ["visa"]})
        await bus.publish("settings", {"key": "pipeline.min_confidence", "value": 7})
        for _ in range(50):
            if settings.pipeline.greeting == "Hi, Acme here.":
                break
            await asyncio.sleep(0.01)
        assert settings.pipeline.greeting == "Hi, Acme here."
        assert settings.pipeline.sensitive_topics == ["visa"]
        assert settings.pipeline.min_confidence == 0.7  # 7 is out of range: ignored
        await bus.publish("settings", {"key": "pipeline.greeting", "value": None})
        for _ in range(50):
            if settings.pipeline.greeting == default_greeting:
                break
            await asyncio.sleep(0.01)
        assert settings.pipeline.greeting == default_greeting  # back to the default
    finally:
        await overrides.stop()


async def test_a_broken_store_leaves_the_defaults() -> None:
    settings = Settings(_env_file=None)

    async def broken() -> dict[str, Any]:
        raise OSError("database down")

    overrides = SettingOverrides(settings, InProcessBus(), broken)
    await overrides.start()
    await overrides.stop()
    assert settings.pipeline.min_confidence == Settings(_env_file=None).pipeline.min_confidence


async def _until(check: Any) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the setting never arrived")


async def test_an_owner_gets_its_own_values_over_the_global_ones() -> None:
    settings = Settings(_env_file=None)
    bus = InProcessBus()

    async def stored() -> dict[str, Any]:
        return {"pipeline.greeting": "Hello from everyone."}

    async def owners() -> dict[str, dict[str, Any]]:
        return {"acme": {"pipeline.voicemail": True, "pipeline.min_confidence": 9}}

    overrides = SettingOverrides(settings, bus, stored, owners)
    await overrides.start()
    try:
        acme = overrides.for_owner("acme")
        assert acme.voicemail is True and acme.greeting == "Hello from everyone."
        assert acme.min_confidence == settings.pipeline.min_confidence  # 9: ignored
        # Nobody else's call changes, and the global object is never touched.
        assert settings.pipeline.voicemail is False
        assert overrides.for_owner("globex") is settings.pipeline
        assert overrides.for_owner(None) is settings.pipeline
        await asyncio.sleep(0)
        await bus.publish(
            "settings", {"key": "pipeline.greeting", "value": "Acme, hello.", "owner": "acme"}
        )
        await _until(lambda: overrides.for_owner("acme").greeting == "Acme, hello.")
        assert settings.pipeline.greeting == "Hello from everyone."
        # A global change still reaches the owner's calls where it has no value of its own.
        await bus.publish("settings", {"key": "pipeline.reprompt", "value": "Hello?"})
        await _until(lambda: overrides.for_owner("acme").reprompt == "Hello?")
        # Reset for the owner: back to every owner's value, not the configured one.
        await bus.publish("settings", {"key": "pipeline.greeting", "value": None, "owner": "acme"})
        await _until(lambda: overrides.for_owner("acme").greeting == "Hello from everyone.")
        assert overrides.for_owner("acme").voicemail is True
    finally:
        await overrides.stop()
