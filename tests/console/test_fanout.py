"""Two workers sharing Redis (and PostgreSQL): a call handled by worker A shows live on
worker B's console, and an operator's answer given on B reaches A's HITL desk."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from callcontrol.app import Service
from callcontrol.hitl.base import HitlQuestion
from callcontrol.live.redis import RedisBus, RedisLiveState
from callcontrol.store.models import HitlRequest
from tests.console.conftest import Console, add_user, console_settings, serve
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import RecordingHandover

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.integration]


class Pair:
    def __init__(self, a: Console, b: Console, handover: RecordingHandover) -> None:
        self.a, self.b, self.handover = a, b, handover


@pytest.fixture
async def pair(
    tmp_path: Path, postgres_url: str, redis_url: str, fake_switch: FakeFreeSwitch
) -> AsyncIterator[Pair]:
    prefix = f"cctest{uuid.uuid4().hex[:8]}"
    handover = RecordingHandover()
    async with AsyncExitStack() as stack:
        consoles = []
        for name, esl in (
            ("A", {"inbound_enabled": True, "port": fake_switch.esl_port, "command_timeout": 3}),
            ("B", {}),
        ):
            settings = console_settings(
                tmp_path / name, postgres_url, worker_id=f"worker-{name}", esl=esl
            )
            service = await stack.enter_async_context(
                Service(
                    settings,
                    live=RedisLiveState(redis_url, prefix=prefix),
                    bus=RedisBus(redis_url, prefix=prefix),
                    handover=handover if name == "A" else None,
                )
            )
            if service.inbound is not None:
                await service.inbound.wait_connected(5)
            url = await stack.enter_async_context(serve(service))
            consoles.append(Console(service, url))
        await add_user(consoles[0].service, "alice")
        try:
            yield Pair(consoles[0], consoles[1], handover)
        finally:
            for console in consoles:
                await console.aclose()
    cleanup = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in cleanup.scan_iter(f"{prefix}:*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()


async def _ws(console: Console, topics: str) -> Any:
    client, _ = await console.signed_in("alice")
    cookie = f"cc_session={client.cookies['cc_session']}"
    url = console.url.replace("http://", "ws://") + f"/ws/live?topics={topics}"
    return connect(url, additional_headers={"Cookie": cookie})


async def _until(ws: Any, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            for m in frame.get("messages", []):
                if predicate(m):
                    return dict(m)


async def test_a_call_on_worker_a_is_live_on_worker_b(
    pair: Pair, fake_switch: FakeFreeSwitch
) -> None:
    async with await _ws(pair.b, "calls") as ws:
        assert json.loads(await ws.recv())["calls"] == []
        call_id = await fake_switch.inbound_call(
            caller="+15550321", destination="9198", variables={"callcontrol_action": "bot"}
        )
        m = await _until(ws, lambda m: m["data"]["id"] == call_id and m["data"]["state"] == "bot")
        assert m["data"]["worker"] == "worker-A" and m["data"]["caller"] == "+15550321"
    assert call_id in pair.a.service.controller.calls
    assert call_id not in pair.b.service.controller.calls  # B only watches
    client, _ = await pair.b.signed_in("alice")
    active = (await client.get("/api/calls/active")).json()
    assert [c["id"] for c in active] == [call_id]
    async with await _ws(pair.b, f"call.{call_id}") as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot"
        turn = {"type": "turn", "speaker": "bot", "text": "Hello from A", "seq": 1, "timings": {}}
        await pair.a.service.bus.publish(f"call.{call_id}", turn)  # what A's dialog does
        got = await _until(ws, lambda m: m["topic"] == f"call.{call_id}")
        assert got["data"] == turn
    page = await client.get(f"/calls/{call_id}")
    assert page.status_code == 200 and "+15550321" in page.text
    async with await _ws(pair.b, "calls") as ws:
        snap = json.loads(await ws.recv())
        assert [c["id"] for c in snap["calls"]] == [call_id]  # initial list from Redis
        await fake_switch.far_end_hangup(call_id)
        await _until(ws, lambda m: m["data"]["id"] == call_id and m["data"]["state"] == "hangup")
    assert (await client.get("/api/calls/active")).json() == []


async def test_an_answer_given_on_b_reaches_the_desk_on_a(pair: Pair) -> None:
    client, _ = await pair.b.signed_in("alice")
    async with await _ws(pair.b, "hitl"):  # alice's console is open on B
        await asyncio.sleep(0.2)
        status = await client.put("/api/me/status", json={"status": "available"})
        assert status.status_code == 200
        assert [o["username"] for o in await pair.a.service.desk.available_operators()] == ["alice"]
        ask = asyncio.create_task(
            pair.a.service.desk.ask(
                HitlQuestion(call_id="call-a", question="Is parking free?", reason="caller_request")
            )
        )
        for _ in range(200):
            waiting = (await client.get("/api/hitl/waiting")).json()
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert [w["question"] for w in waiting] == ["Is parking free?"]
        assert waiting[0]["context"]["worker"] == "worker-A"
        answered = await client.post(
            f"/api/hitl/{waiting[0]['id']}/answer", json={"answer": "Yes, behind the building."}
        )
        assert answered.status_code == 200, answered.text
        outcome = await asyncio.wait_for(ask, 5)
        assert outcome.status == "answered" and outcome.answer == "Yes, behind the building."
        assert outcome.operator == "alice"
        await pair.a.service.flush()
        async with pair.b.service.sessions() as s:  # the shared database has it too
            row = await s.get(HitlRequest, outcome.request_id)
            assert row is not None and row.status == "answered" and row.outcome == "answered"
