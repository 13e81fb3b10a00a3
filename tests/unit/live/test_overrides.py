"""Console setting overrides reach the live pipeline settings."""

from __future__ import annotations

import asyncio
from typing import Any

from callcontrol.config import Settings
from callcontrol.live.memory import InProcessBus
from callcontrol.live.overrides import PipelineOverrides


async def test_stored_and_live_overrides_apply_and_reset() -> None:
    settings = Settings(_env_file=None)
    default_greeting = settings.pipeline.greeting
    bus = InProcessBus()

    async def stored() -> dict[str, Any]:
        return {"pipeline.min_confidence": 0.7, "console.hitl_timeout_s": 10}

    overrides = PipelineOverrides(settings, bus, stored)
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

    overrides = PipelineOverrides(settings, InProcessBus(), broken)
    await overrides.start()
    await overrides.stop()
    assert settings.pipeline.min_confidence == Settings(_env_file=None).pipeline.min_confidence
