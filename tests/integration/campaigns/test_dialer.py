"""A campaign through the emulator: contacts answered, busy, unanswered or failing;
windows, pacing and concurrency respected; retries; do-not-call; every contact ends in a
final status with its history; and one dialer for two workers, with failover."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcontrol.campaigns.rules import FINAL
from callcontrol.store.models import ContactEvent
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import RecordingHandover, eventually, make_settings, running_service

pytestmark = pytest.mark.integration

ANSWERED, BUSY, NO_ANSWER, FAILS = "answered", "busy", "no_answer", "fails"


def number(n: int) -> str:
    return f"+1415555{n:04d}"


def behave(sw: FakeFreeSwitch, n: int, kind: str) -> None:
    digits = number(n).lstrip("+")
    sw.extensions[digits] = {
        ANSWERED: Extension.answers(0.05, hangup_after=0.3),
        BUSY: Extension.busy(0.05),
        NO_ANSWER: Extension.never_answers(),
        FAILS: Extension("unregistered"),
    }[kind]


def csv_for(kinds: dict[int, str]) -> bytes:
    lines = ["name,phone,amount"] + [f"Contact {n},{number(n)},{n * 10}" for n in kinds]
    return ("\n".join(lines) + "\n").encode()


async def run_campaign(service: Any, kinds: dict[int, str], **campaign: Any) -> str:
    store = service.campaigns
    values: dict[str, Any] = {
        "name": "reminders",
        "owner": "acme",
        "dialstring": "user/{digits}",
        "cps": 5.0,
        "max_concurrent": 3,
        "ring_s": 1,
        "retries": {
            "busy": {"count": 1, "after_s": 0.2},
            "no_answer": {"count": 1, "after_s": 0.2},
        },
    }
    values.update(campaign)
    created = await store.create(**values)
    result = await store.upload(created.id, csv_for(kinds), "contacts.csv")
    assert result.failed == 0 and result.added == len(kinds), result.errors
    await store.change(created.id, "start")
    return created.id


async def test_a_campaign_dials_every_contact_to_a_final_status_within_its_limits(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    kinds = {n: (ANSWERED, ANSWERED, BUSY, NO_ANSWER, FAILS)[n % 5] for n in range(20)}
    kinds[19] = ANSWERED  # and on the do-not-call list
    for n, kind in kinds.items():
        behave(fake_switch, n, kind)
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port, campaigns={"tick_s": 0.05})
    async with running_service(settings, handover=RecordingHandover()) as service:
        await service.campaigns.dnc_add(number(19), owner="acme", reason="asked")
        campaign_id = await run_campaign(service, kinds)
        peak = 0

        async def counts() -> dict[str, int]:
            nonlocal peak
            c = await service.campaigns.counts(campaign_id)
            peak = max(peak, sum(c.get(k, 0) for k in ("dialing", "in_progress")))
            return c

        async def done() -> bool:
            c = await counts()
            return sum(c.get(k, 0) for k in FINAL) == len(kinds)

        await eventually(done, timeout=60, step=0.05)
        final = await counts()
        assert final == {"completed": 8, "exhausted": 8, "failed": 3, "dnc": 1}, final
        assert peak <= 3  # never more calls at once than max_concurrent
        # Pacing: never more than 5 attempts started in any second (evenly spaced).
        times = sorted(t for t, _ in service.dialer.dialled)
        for i, t in enumerate(times):
            assert len([u for u in times[i:] if u - t < 1.0]) <= 5, times

        async def campaign_finished() -> bool:
            return (await service.campaigns.get(campaign_id)).status == "finished"

        await eventually(campaign_finished, timeout=5)  # at the dialer's next look
        # Every transition stored: a busy contact went ready → dialing → retry → … → exhausted.
        busy = next(
            c for c in await service.campaigns.contacts(campaign_id) if c.phone == number(2)
        )
        path = [e.to_status for e in await service.campaigns.history(busy.id)]
        assert path == ["dialing", "retry_scheduled", "dialing", "exhausted"]
        assert busy.attempts == 2 and busy.outcome["last"] == "busy"
        # A call nobody answered has nothing to summarise: no post-call job for it.
        assert busy.last_call_id and await service.jobs.get("postcall", busy.last_call_id) is None
        exported = await service.campaigns.export_csv(campaign_id)
        assert exported.splitlines()[0].endswith(",amount,flow_outcome") and number(0) in exported
        # No contact was ever dialled twice at once (one dialing per attempt).
        async with service.sessions() as s:
            dialing = (
                await s.execute(select(ContactEvent).where(ContactEvent.to_status == "dialing"))
            ).scalars()
            attempts = {}
            for e in dialing:
                attempts[e.contact_id] = attempts.get(e.contact_id, 0) + 1
        assert max(attempts.values()) <= 2


async def test_outside_its_window_a_campaign_waits(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    behave(fake_switch, 1, ANSWERED)
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port, campaigns={"tick_s": 0.05})
    async with running_service(settings, handover=RecordingHandover()) as service:
        # A window that is never open (an empty set of days).
        campaign_id = await run_campaign(service, {1: ANSWERED}, windows={"days": []})
        for _ in range(10):
            await service.dialer.tick()
        assert await service.campaigns.counts(campaign_id) == {"ready": 1}
        assert service.dialer.dialled == []


async def test_two_workers_one_dialer_and_failover(
    fake_switch: FakeFreeSwitch, tmp_path: Path, redis_url: str
) -> None:
    """Two workers on one database and Redis: only the lease holder dials; when it
    stops, the other takes over and finishes the campaign; no contact is dialled twice."""
    kinds = dict.fromkeys(range(8), ANSWERED)
    for n in kinds:
        behave(fake_switch, n, ANSWERED)
    db = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    common: dict[str, Any] = {
        "esl_port": fake_switch.esl_port,
        "database_url": db,
        "redis_url": redis_url,
        "campaigns": {"tick_s": 0.05, "lease_ttl_s": 1.0},
    }
    from redis.asyncio import Redis

    flush = Redis.from_url(redis_url)
    from callcontrol.live.redis import PREFIX

    await flush.delete(f"{PREFIX}:owner:campaign-dialer")
    await flush.aclose()
    a = make_settings(tmp_path / "a", worker_id="worker-a", **common)
    b = make_settings(tmp_path / "b", worker_id="worker-b", **common)
    async with running_service(b, handover=RecordingHandover()) as second:
        async with running_service(a, handover=RecordingHandover()) as first:
            await eventually(lambda: first.dialer.leading or second.dialer.leading, timeout=5)
            leader, other = (first, second) if first.dialer.leading else (second, first)
            campaign_id = await run_campaign(
                leader, kinds, cps=2.0, max_concurrent=1, name="failover"
            )
            await eventually(lambda: len(leader.dialer.dialled) >= 2, timeout=20)
            assert not other.dialer.leading and other.dialer.dialled == []
        # `first` stopped; if it led, `second` takes over within the lease.
        await eventually(lambda: second.dialer.leading, timeout=10)

        async def finished() -> bool:
            c = await second.campaigns.counts(campaign_id)
            return c.get("completed", 0) == len(kinds)

        await eventually(finished, timeout=60, step=0.1)
        async with second.sessions() as s:
            dialing = [
                e.contact_id
                for e in (
                    await s.execute(select(ContactEvent).where(ContactEvent.to_status == "dialing"))
                ).scalars()
            ]
        assert sorted(dialing) == sorted(set(dialing))  # each contact dialled once
        await asyncio.sleep(0)
