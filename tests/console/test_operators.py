"""Operator status that changes by itself: closed consoles go offline (hitl/operators.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcontrol.app import Service
from callcontrol.hitl.desk import OPERATORS_NS
from callcontrol.hitl.operators import Presence
from callcontrol.store.repos import OperatorRepo
from tests.console.conftest import add_user, console_settings, running_service


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def service(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Service]:
    async with running_service(console_settings(tmp_path, sqlite_url)) as svc:
        yield svc


async def test_a_console_closed_past_the_grace_sets_the_operator_offline(
    service: Service,
) -> None:
    clock = Clock()
    repo = OperatorRepo(service.sessions)
    presence = Presence(
        repo,
        lambda: service.live,
        lambda: service.bus,
        timeout_s=60,
        offline_after_s=120,
        clock=clock,
    )
    alice = await repo.get(await add_user(service, "alice"))
    bob = await repo.get(await add_user(service, "bob"))
    assert alice is not None and bob is not None
    alice = await presence.set_status(alice, "available")
    bob = await presence.set_status(bob, "away")
    await presence.heartbeat(alice)
    await presence.heartbeat(bob)

    clock.now += 30  # both consoles open
    assert await presence.sweep() == []
    clock.now += 60  # alice: no heartbeat for 90 s, stale; her grace starts now
    await presence.heartbeat(bob)  # bob's console stays open
    assert await presence.sweep() == []
    clock.now += 119
    await presence.heartbeat(bob)
    assert await presence.sweep() == []
    clock.now += 1  # alice: missing for 120 s
    await presence.heartbeat(bob)
    assert await presence.sweep() == ["alice"]
    stored = await repo.get(alice.id)
    assert stored is not None and stored.status == "offline"
    shared = await service.live.get(OPERATORS_NS, alice.id)
    assert shared is not None and shared["status"] == "offline"
    bob_now = await repo.get(bob.id)
    assert bob_now is not None and bob_now.status == "away"
    # A console that comes back within the grace resets it: bob misses 100 s, returns.
    clock.now += 100
    assert await presence.sweep() == []  # bob stale: grace starts
    clock.now += 100
    await presence.heartbeat(bob)
    assert await presence.sweep() == []  # back: the grace is forgotten
    clock.now += 100
    assert await presence.sweep() == []  # stale again: a new grace starts
    clock.now += 119
    assert await presence.sweep() == []
    clock.now += 1
    assert await presence.sweep() == ["bob"]
    assert await presence.sweep() == []  # offline stays offline


async def test_a_status_set_during_a_take_over_is_kept_when_the_call_ends(
    service: Service,
) -> None:
    """An operator put through by phone sets themselves offline while still on the call:
    the end of the call must not bring them back as available (seen against a real
    FreeSWITCH, where the restore read "busy" just before the operator's change and
    wrote "available" after it)."""
    repo = OperatorRepo(service.sessions)
    presence = service.presence
    alice = await repo.get(await add_user(service, "alice"))
    bob = await repo.get(await add_user(service, "bob"))
    assert alice is not None and bob is not None
    alice = await presence.set_status(alice, "available")
    bob = await presence.set_status(bob, "available")
    await presence.took_over(alice, "call-a")
    await presence.took_over(bob, "call-b")

    # The conditional write itself: a status that is no longer "busy" is left alone.
    await presence.set_status(alice, "offline")
    assert await repo.replace_status(alice.id, "busy", "available") is None
    await presence.call_ended("call-a")
    stored = await repo.get(alice.id)
    assert stored is not None and stored.status == "offline"
    shared = await service.live.get(OPERATORS_NS, alice.id)
    assert shared is not None and shared["status"] == "offline"

    # Still busy at the end: back to the status before the take-over.
    await presence.call_ended("call-b")
    back = await repo.get(bob.id)
    assert back is not None and back.status == "available"
    shared = await service.live.get(OPERATORS_NS, bob.id)
    assert shared is not None and shared["status"] == "available"
