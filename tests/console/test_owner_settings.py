"""Per-owner settings in the console: an admin gives one owner (DID or tenant) its own
greeting, voicemail, phone hand-off… over every owner's values."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.console.conftest import Console


def by_key(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in rows}


async def test_an_owner_gets_its_own_values_and_the_workers_are_told(console: Console) -> None:
    client, _ = await console.signed_in("root")
    heard: list[dict[str, Any]] = []

    async def listen() -> None:
        async with console.service.bus.subscribe("settings") as subscription:
            async for _topic, message in subscription:
                heard.append(message)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    try:
        everyone = await client.put(
            "/api/admin/settings", json={"values": {"pipeline.greeting": "Hello, everyone."}}
        )
        assert everyone.status_code == 200, everyone.text
        response = await client.put(
            "/api/admin/settings",
            json={
                "owner": "acme",
                "values": {"pipeline.greeting": "Acme, hello.", "pipeline.voicemail": True},
            },
        )
        assert response.status_code == 200, response.text
        acme = by_key(response.json())
        assert acme["pipeline.greeting"]["value"] == "Acme, hello."
        assert acme["pipeline.greeting"]["default"] == "Hello, everyone."  # what reset gives
        assert acme["pipeline.greeting"]["overridden"] and acme["pipeline.voicemail"]["value"]
        assert "console.hitl_timeout_s" not in acme  # the same for every owner
        # Every owner's values are untouched; another owner sees them.
        shared = by_key((await client.get("/api/admin/settings")).json())
        assert shared["pipeline.greeting"]["value"] == "Hello, everyone."
        assert shared["pipeline.voicemail"]["value"] is False
        other = by_key((await client.get("/api/admin/settings?owner=globex")).json())
        assert other["pipeline.greeting"]["value"] == "Hello, everyone."
        assert not other["pipeline.greeting"]["overridden"]
        assert "acme" in (await client.get("/api/admin/owners")).json()
        # Reset the owner's greeting: back to every owner's.
        reset = await client.put(
            "/api/admin/settings",
            json={"owner": "acme", "values": {}, "reset": ["pipeline.greeting"]},
        )
        assert by_key(reset.json())["pipeline.greeting"]["value"] == "Hello, everyone."
        for _ in range(100):
            if len(heard) >= 4:
                break
            await asyncio.sleep(0.01)
        assert {"key": "pipeline.greeting", "value": "Acme, hello.", "owner": "acme"} in heard
        assert {"key": "pipeline.voicemail", "value": True, "owner": "acme"} in heard
        assert {"key": "pipeline.greeting", "value": None, "owner": "acme"} in heard
        assert {"key": "pipeline.greeting", "value": "Hello, everyone.", "owner": None} in heard
    finally:
        listener.cancel()


async def test_bad_owner_requests_are_refused_and_change_nothing(console: Console) -> None:
    client, _ = await console.signed_in("root")
    before = (await client.get("/api/admin/settings?owner=acme")).json()
    for body in (
        {"owner": "acme", "values": {"console.hitl_timeout_s": 5}},  # not per owner
        {"owner": "acme", "values": {"pipeline.voicemail": "perhaps"}},
        {"owner": "acme", "values": {"pipeline.cache_dir": "/tmp"}},  # not changeable
        {"owner": "a b/../c", "values": {"pipeline.greeting": "Hi there."}},
        {"owner": "x" * 129, "values": {"pipeline.greeting": "Hi there."}},
    ):
        response = await client.put("/api/admin/settings", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await client.get("/api/admin/settings?owner=acme")).json() == before
    assert (await client.get("/api/admin/settings?owner=a%20b")).status_code == 422
    operator, _ = await console.signed_in("alice")
    denied = await operator.put(
        "/api/admin/settings", json={"owner": "acme", "values": {"pipeline.voicemail": True}}
    )
    assert denied.status_code == 403
