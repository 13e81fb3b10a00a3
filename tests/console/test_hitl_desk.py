"""The HITL desk against real databases (SQLite and PostgreSQL) and the in-process bus:
who is available, answers, timeouts, cancellation, races, and the follow-up list."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcontrol.app import Service
from callcontrol.hitl.base import HitlQuestion
from callcontrol.hitl.desk import HITL_NS, OPERATORS_NS, PRESENCE_NS, SETTINGS_TOPIC
from callcontrol.store.repos import HitlRepo
from tests.console.conftest import Console, console_settings, running_service
from tests.harness import eventually


@pytest.fixture(params=["sqlite", "postgres"])
def any_database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
async def service(tmp_path: Path, any_database_url: str) -> AsyncIterator[Service]:
    settings = console_settings(tmp_path, any_database_url, console={"hitl_timeout_s": 5})
    async with running_service(settings) as svc:
        yield svc


def question(call_id: str = "call-1", text: str = "Can I bring my dog?") -> HitlQuestion:
    return HitlQuestion(
        call_id=call_id,
        question=text,
        reason="low_confidence",
        owner="9198",
        caller_number="+15550100",
        recent_turns=[{"speaker": "caller", "text": text}],
        retrieval=[{"text": "Opening hours are 9 to 5.", "score": 0.71, "title": "hours"}],
    )


async def make_available(service: Service, op_id: str = "op-1", status: str = "available") -> None:
    await service.live.put(
        OPERATORS_NS, op_id, {"id": op_id, "username": "alice", "status": status}
    )
    await service.live.put(PRESENCE_NS, op_id, {"seen_at": time.time()})


async def stored(service: Service, request_id: str) -> dict[str, object]:
    await service.flush()
    row = await HitlRepo(service.sessions).get(request_id)
    assert row is not None
    return {
        "status": row.status,
        "outcome": row.outcome,
        "answer": row.answer,
        "operator_id": row.operator_id,
        "question": row.question,
        "context": row.context,
    }


async def wait_waiting(service: Service, n: int = 1) -> list[dict[str, object]]:
    for _ in range(200):
        rows = await service.desk.waiting()
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.01)
    raise AssertionError("no request reached the queue")


async def test_nobody_available_goes_straight_to_unresolved(service: Service) -> None:
    outcome = await service.desk.ask(question())
    # "unavailable", not "timeout": it returned without waiting for anyone.
    assert outcome.status == "unavailable" and outcome.answer is None
    row = await stored(service, outcome.request_id)
    assert row["status"] == "unresolved" and row["outcome"] == "unavailable"
    assert row["context"]["retrieval"][0]["title"] == "hours"  # type: ignore[index]
    assert await service.desk.waiting() == []


@pytest.mark.parametrize("status", ["away", "offline"])
async def test_operators_away_or_offline_do_not_count(service: Service, status: str) -> None:
    await make_available(service, status=status)
    assert (await service.desk.ask(question())).status == "unavailable"


async def test_while_every_operator_is_busy_the_question_waits_for_one(
    service: Service,
) -> None:
    await make_available(service, status="busy")
    await make_available(service, "op-2", status="away")
    ask = asyncio.create_task(service.desk.ask(question()))
    [waiting] = await wait_waiting(service)
    assert waiting["status"] == "waiting"
    assert waiting["context"]["queued_behind_busy"] is True  # type: ignore[index]
    assert not ask.done()
    # The operator finishes their call, becomes available and answers from the queue.
    await make_available(service, status="available")
    result = await service.desk.answer(
        str(waiting["id"]), "Dogs on a lead are welcome.", operator="alice", operator_id="op-1"
    )
    assert result.status == "answered"
    outcome = await asyncio.wait_for(ask, 5)
    assert outcome.status == "answered" and outcome.answer == "Dogs on a lead are welcome."


async def test_a_busy_queue_times_out_into_the_follow_up_list(service: Service) -> None:
    service.desk.timeout_s = 0.2
    await make_available(service, status="busy")
    outcome = await service.desk.ask(question())
    assert outcome.status == "timeout"
    row = await stored(service, outcome.request_id)
    assert row["status"] == "unresolved" and row["outcome"] == "timeout"


async def test_an_available_operator_whose_console_is_closed_does_not_count(
    service: Service,
) -> None:
    await make_available(service)
    await service.live.put(PRESENCE_NS, "op-1", {"seen_at": time.time() - 3600})
    assert (await service.desk.ask(question())).status == "unavailable"


async def test_answer_reaches_the_asking_call(service: Service) -> None:
    await make_available(service)
    ask = asyncio.create_task(service.desk.ask(question()))
    [waiting] = await wait_waiting(service)
    assert waiting["question"] == "Can I bring my dog?" and waiting["status"] == "waiting"
    assert service.metrics.hitl_queue._value.get() == 1  # type: ignore[attr-defined]
    result = await service.desk.answer(
        str(waiting["id"]), "  Yes, dogs are welcome.  ", operator="alice", operator_id="op-1"
    )
    assert result.status == "answered"
    outcome = await asyncio.wait_for(ask, 2)
    assert outcome.status == "answered"
    assert outcome.answer == "Yes, dogs are welcome." and outcome.operator == "alice"
    row = await stored(service, outcome.request_id)
    assert row["status"] == "answered" and row["answer"] == "Yes, dogs are welcome."
    assert row["operator_id"] == "op-1"
    assert await service.desk.waiting() == []
    assert service.metrics.hitl_queue._value.get() == 0  # type: ignore[attr-defined]
    # a second answer, late: the operator learns it was already answered
    late = await service.desk.answer(outcome.request_id, "No!", operator="bob")
    assert late.status == "gone"


async def test_two_operators_answer_at_once_one_wins(service: Service) -> None:
    await make_available(service)
    ask = asyncio.create_task(service.desk.ask(question()))
    [waiting] = await wait_waiting(service)
    rid = str(waiting["id"])
    first, second = await asyncio.gather(
        service.desk.answer(rid, "Yes.", operator="alice"),
        service.desk.answer(rid, "No.", operator="bob"),
    )
    assert sorted([first.status, second.status]) == ["answered", "conflict"]
    outcome = await ask
    winner = "alice" if first.status == "answered" else "bob"
    assert outcome.operator == winner
    loser = second if first.status == "answered" else first
    assert loser.row is not None and loser.row["operator"] == winner


async def test_timeout_leaves_a_follow_up(service: Service) -> None:
    await make_available(service)
    service.desk.timeout_s = 0.3
    outcome = await service.desk.ask(question())
    assert outcome.status == "timeout"
    row = await stored(service, outcome.request_id)
    assert row["status"] == "unresolved" and row["outcome"] == "timeout"
    assert await service.desk.waiting() == []
    late = await service.desk.answer(outcome.request_id, "too late", operator="alice")
    assert late.status == "gone"


async def test_caller_hanging_up_cancels_into_the_follow_up_list(service: Service) -> None:
    await make_available(service)
    ask = asyncio.create_task(service.desk.ask(question()))
    [waiting] = await wait_waiting(service)
    ask.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ask
    row = await stored(service, str(waiting["id"]))
    assert row["status"] == "unresolved" and row["outcome"] == "cancelled"
    assert await service.desk.waiting() == []


async def test_admin_setting_changes_the_timeout(service: Service) -> None:
    await make_available(service)
    await service.bus.publish(SETTINGS_TOPIC, {"key": "console.hitl_timeout_s", "value": 0.2})
    for _ in range(100):
        if service.desk.timeout_s == 0.2:
            break
        await asyncio.sleep(0.01)
    assert (await service.desk.ask(question())).status == "timeout"
    await service.bus.publish(SETTINGS_TOPIC, {"key": "console.hitl_timeout_s", "value": None})
    for _ in range(100):
        if service.desk.timeout_s == 5:
            break
        await asyncio.sleep(0.01)
    assert service.desk.timeout_s == 5


async def test_answer_validation(service: Service) -> None:
    with pytest.raises(ValueError):
        await service.desk.answer("x", "   ", operator="alice")
    with pytest.raises(ValueError):
        await service.desk.answer("x", "a" * 5000, operator="alice")
    assert (await service.desk.answer("unknown", "hello", operator="alice")).status == "gone"


async def test_stale_queue_entries_are_swept_at_start(tmp_path: Path, sqlite_url: str) -> None:
    settings = console_settings(tmp_path, sqlite_url, worker_id="w1")
    async with running_service(settings) as first:
        live = first.live  # in-memory state we carry over to the next start
        await make_available(first)
        ask = asyncio.create_task(first.desk.ask(question()))
        [waiting] = await wait_waiting(first)
        # the worker "dies": the queue entry stays behind in shared state
        ask.cancel()
        await asyncio.gather(ask, return_exceptions=True)
        await live.put(HITL_NS, str(waiting["id"]), waiting)
        stale = dict(waiting, id="old", created_at="2000-01-01T00:00:00+00:00")
        stale["context"] = {"worker": "someone-else"}
        await live.put(HITL_NS, "old", stale)
        fresh = dict(waiting, id="fresh")
        fresh["context"] = {"worker": "someone-else"}
        await live.put(HITL_NS, "fresh", fresh)
        await first.desk.stop()
        await first.desk.start(first.bus, live)
        ids = {r["id"] for r in await first.desk.waiting()}
        assert ids == {"fresh"}  # ours and the ancient one are gone; another worker's stays


# -- through the console ------------------------------------------------------------------
async def test_console_answer_and_save_to_kb(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    me = (await client.get("/api/me")).json()
    assert (await client.put("/api/me/status", json={"status": "available"})).status_code == 200
    await console.service.live.put(PRESENCE_NS, me["id"], {"seen_at": time.time()})
    ask = asyncio.create_task(console.service.desk.ask(question(text="Do you open on Sundays?")))
    [waiting] = await wait_waiting(console.service)
    listed = (await client.get("/api/hitl/waiting")).json()
    assert [r["id"] for r in listed] == [waiting["id"]]
    empty = await client.post(f"/api/hitl/{waiting['id']}/answer", json={"answer": ""})
    assert empty.status_code == 422
    response = await client.post(
        f"/api/hitl/{waiting['id']}/answer",
        json={"answer": "Yes, from 10 to 4.", "save_to_kb": True},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "answered" and body["saved_to_kb"] is True
    outcome = await asyncio.wait_for(ask, 2)
    assert outcome.answer == "Yes, from 10 to 4." and outcome.operator == "alice"
    kb = (await client.get("/api/kb/docs", params={"owner": "9198"})).json()
    assert [d["title"] for d in kb] == ["Do you open on Sundays?"]
    saved = await HitlRepo(console.service.sessions).get(str(waiting["id"]))
    assert saved is not None and saved.kb_doc_id == kb[0]["id"]  # for the dashboard
    again = await client.post(f"/api/hitl/{waiting['id']}/answer", json={"answer": "again"})
    assert again.status_code == 409
    missing = await client.post("/api/hitl/nope/answer", json={"answer": "hi"})
    assert missing.status_code == 404


async def test_follow_up_workflow(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    outcome = await console.service.desk.ask(question())
    assert outcome.status == "unavailable"
    await console.service.flush()
    page = await client.get("/hitl/unresolved")
    assert page.status_code == 200 and outcome.request_id in page.text
    listed = (await client.get("/api/hitl/unresolved")).json()
    assert [r["id"] for r in listed] == [outcome.request_id]
    url = f"/api/hitl/{outcome.request_id}/followup"
    assert (await client.post(url, json={})).status_code == 422
    assert (await client.post(url, json={"status": "closed"})).status_code == 422
    noted = await client.post(url, json={"notes": "left a voicemail"})
    assert noted.status_code == 200 and noted.json()["status"] == "unresolved"
    assert (await client.get("/api/hitl/open-count")).json() == {"open": 1}
    marked = (await client.post(url, json={"status": "noted"})).json()
    assert marked["status"] == "noted" and marked["noted_by"] == "alice" and marked["noted_at"]
    assert [r["id"] for r in (await client.get("/api/hitl/unresolved")).json()] == [
        outcome.request_id
    ]  # noted is still open
    only_noted = (await client.get("/api/hitl/unresolved", params={"show": "noted"})).json()
    assert [r["status"] for r in only_noted] == ["noted"]
    # Where to call back: the caller's number unless an operator sets another.
    assert marked["followup_phone"] == "+15550100" and marked["followup_required"] is True
    bad = await client.post(url, json={"phone": "555 0100; hangup"})
    assert bad.status_code == 422
    moved = (await client.post(url, json={"phone": "+15550111", "required": False})).json()
    assert moved["followup_phone"] == "+15550111" and moved["followup_required"] is False
    back = (await client.post(url, json={"phone": ""})).json()
    assert back["followup_phone"] == "+15550100"  # "" goes back to the caller's number
    contacted = await client.post(url, json={"status": "contacted"})
    body = contacted.json()
    assert body["status"] == "contacted" and body["notes"] == "left a voicemail"
    assert body["followup_by"] == "alice"
    resolved = await client.post(url, json={"status": "resolved", "notes": "called back"})
    closed = resolved.json()
    assert closed["status"] == "resolved"
    assert closed["resolved_by"] == "alice" and closed["resolved_at"]
    assert closed["noted_by"] == "alice"  # who noted it stays
    assert (await client.get("/api/hitl/unresolved")).json() == []
    assert (await client.get("/api/hitl/open-count")).json() == {"open": 0}
    everything = (await client.get("/api/hitl/unresolved", params={"show": "all"})).json()
    assert everything[0]["notes"] == "called back"
    # an answered request is not a follow-up
    await make_available(console.service)
    ask = asyncio.create_task(console.service.desk.ask(question("call-2")))
    [waiting] = await wait_waiting(console.service)
    await console.service.desk.answer(str(waiting["id"]), "yes", operator="alice")
    await ask
    await console.service.flush()
    refused = await client.post(f"/api/hitl/{waiting['id']}/followup", json={"notes": "x"})
    assert refused.status_code == 404


async def test_a_voicemail_is_kept_private_and_played_to_operators(console: Console) -> None:
    import stat

    import numpy as np

    from callcontrol.media.codecs import read_wav

    outcome = await console.service.desk.ask(question())
    assert outcome.status == "unavailable"
    audio = (np.sin(np.arange(16000) / 8) * 3000).astype(np.int16)
    # An operator is already on it when the message arrives: their status stays.
    client, _ = await console.signed_in("alice")
    await console.service.flush()
    url = f"/api/hitl/{outcome.request_id}/followup"
    assert (await client.post(url, json={"status": "noted"})).status_code == 200

    async def transcribe() -> str:
        return "Please call me back after five."

    await console.service.desk.attach_voicemail(outcome.request_id, audio, 8000, transcribe)

    async def transcribed() -> bool:
        await console.service.flush()
        row = await HitlRepo(console.service.sessions).get(outcome.request_id)
        return row is not None and row.voicemail_transcript is not None

    await eventually(transcribed)
    stored_row = await HitlRepo(console.service.sessions).get(outcome.request_id)
    assert stored_row is not None and stored_row.voicemail_path
    assert stored_row.status == "noted" and stored_row.noted_by == "alice"
    folder = console.service.desk.voicemail_dir
    assert folder is not None
    path = folder / stored_row.voicemail_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stored_row.voicemail_transcript == "Please call me back after five."
    [listed] = (await client.get("/api/hitl/unresolved")).json()
    assert listed["voicemail"] is True
    assert listed["voicemail_transcript"] == "Please call me back after five."
    played = await client.get(f"/api/hitl/{outcome.request_id}/voicemail")
    assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
    heard = read_wav(played.content)
    assert heard.sample_rate == 8000 and len(heard.samples) == 16000
    assert (await client.get("/api/hitl/nope/voicemail")).status_code == 404
    anonymous = await console.client().get(f"/api/hitl/{outcome.request_id}/voicemail")
    assert anonymous.status_code in (401, 303)
