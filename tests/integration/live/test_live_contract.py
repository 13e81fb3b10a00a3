"""The live/ seams — EventBus and LiveState — as one contract, run against both
implementations: in process (the embedded default) and Redis (real, at REDIS_URL).

Whatever a worker does with a bus or live state must behave the same on either."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from callcontrol.live.base import EventBus, LiveState
from callcontrol.live.memory import InMemoryLiveState, InProcessBus
from callcontrol.live.redis import RedisBus, RedisLiveState


@pytest_asyncio.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    made: EventBus
    if request.param == "memory":
        made = InProcessBus()
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisBus(url, prefix=f"cc-test-{uuid.uuid4().hex[:8]}")
    yield made
    await made.close()


@pytest_asyncio.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[LiveState]:
    made: LiveState
    if request.param == "memory":
        made = InMemoryLiveState()
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisLiveState(url, prefix=f"cc-test-{uuid.uuid4().hex[:8]}")
    yield made
    await made.close()


async def next_message(subscription: object) -> tuple[str, object]:
    iterator = aiter(subscription)  # type: ignore[call-overload]
    return await asyncio.wait_for(anext(iterator), 10)


async def test_a_subscriber_gets_its_topics_in_order_and_no_others(bus: EventBus) -> None:
    async with bus.subscribe("calls", "call.*") as subscription:
        await bus.publish("hitl", {"n": 0})  # not subscribed
        await bus.publish("calls", {"n": 1})
        await bus.publish("call.abc", {"n": 2})
        await bus.publish("call.def", {"n": 3})
        got = [await next_message(subscription) for _ in range(3)]
    assert got == [("calls", {"n": 1}), ("call.abc", {"n": 2}), ("call.def", {"n": 3})]


async def test_every_subscriber_gets_every_message(bus: EventBus) -> None:
    async with bus.subscribe("calls") as one, bus.subscribe("calls") as two:
        await bus.publish("calls", {"id": "c1"})
        assert await next_message(one) == ("calls", {"id": "c1"})
        assert await next_message(two) == ("calls", {"id": "c1"})


async def test_one_worker_claims_a_call_and_only_it_releases_it(state: LiveState) -> None:
    call = f"call-{uuid.uuid4().hex[:8]}"
    assert await state.claim(call, "worker-a", 60)
    assert await state.claim(call, "worker-a", 60)  # its own claim again: still its
    assert not await state.claim(call, "worker-b", 60)
    assert await state.owner(call) == "worker-a"
    await state.release(call, "worker-b")  # not its claim: nothing happens
    assert await state.owner(call) == "worker-a"
    await state.release(call, "worker-a")
    assert await state.owner(call) is None
    assert await state.claim(call, "worker-b", 60)


async def test_put_get_all_delete_by_namespace(state: LiveState) -> None:
    await state.put("calls", "c1", {"state": "bot"})
    await state.put("calls", "c2", {"state": "ringing"})
    await state.put("hitl", "r1", {"question": "parking?"})
    assert await state.get("calls", "c1") == {"state": "bot"}
    assert await state.all("calls") == {"c1": {"state": "bot"}, "c2": {"state": "ringing"}}
    await state.put("calls", "c1", {"state": "hangup"})  # replaced, not duplicated
    await state.delete("calls", "c2")
    assert await state.all("calls") == {"c1": {"state": "hangup"}}
    assert await state.get("calls", "c2") is None
    assert await state.all("hitl") == {"r1": {"question": "parking?"}}
