"""Live calls, call pages, actions and history against the FreeSWITCH emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from callcontrol.app import Service
from callcontrol.hitl.base import HitlQuestion
from callcontrol.hitl.operators import TAKEOVERS_NS
from callcontrol.store.models import Call, CallSummary, Cdr, HitlRequest, Turn
from callcontrol.store.repos import OperatorRepo
from tests.console.conftest import Console, add_user, console_settings, running_service, serve
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import RecordingHandover, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def switched(
    fake_switch: FakeFreeSwitch, tmp_path: Path, sqlite_url: str
) -> AsyncIterator[tuple[Console, FakeFreeSwitch, RecordingHandover]]:
    """A console whose worker controls calls on the emulator (a stand-in bot takes them)."""
    settings = console_settings(
        tmp_path,
        sqlite_url,
        esl={
            "inbound_enabled": True,
            "port": fake_switch.esl_port,
            "reconnect_initial": 0.05,
            "command_timeout": 3,
        },
        recordings_dir=None,
    )
    handover = RecordingHandover()
    async with Service(settings, handover=handover) as service:
        assert service.inbound is not None
        await service.inbound.wait_connected(5)
        await add_user(service, "alice", extension="1001")
        async with serve(service) as url:
            console = Console(service, url)
            try:
                yield console, fake_switch, handover
            finally:
                await console.aclose()


async def bot_call(sw: FakeFreeSwitch, handover: RecordingHandover, caller: str) -> str:
    uuid = await sw.inbound_call(
        caller=caller, destination="9198", variables={"callcontrol_action": "bot"}
    )
    await handover.wait(len(handover.handles) + 1)
    return uuid


async def test_inbound_call_is_live_then_hung_up_by_an_operator(
    switched: tuple[Console, FakeFreeSwitch, RecordingHandover],
) -> None:
    console, sw, handover = switched
    client, _ = await console.signed_in("alice")
    cookie = f"cc_session={client.cookies['cc_session']}"
    ws_url = console.url.replace("http://", "ws://") + "/ws/live?topics=calls"
    async with connect(ws_url, additional_headers={"Cookie": cookie}) as ws:
        assert json.loads(await ws.recv())["calls"] == []
        uuid = await bot_call(sw, handover, "+15550123")
        seen: dict[str, str] = {}
        while seen.get(uuid) != "bot":
            frame = json.loads(await ws.recv())
            for m in frame["messages"]:
                seen[m["data"]["id"]] = m["data"]["state"]
        active = (await client.get("/api/calls/active")).json()
        assert [(c["id"], c["caller"], c["handled_by"]) for c in active] == [
            (uuid, "+15550123", "bot")
        ]
        page = await client.get(f"/calls/{uuid}")
        assert page.status_code == 200 and "+15550123" in page.text
        hung = await client.post(f"/api/calls/{uuid}/hangup")
        assert hung.status_code == 200, hung.text
        while seen.get(uuid) != "hangup":
            frame = json.loads(await ws.recv())
            for m in frame["messages"]:
                seen[m["data"]["id"]] = m["data"]["state"]
    await console.service.controller.wait_finished(uuid, 5)
    assert not sw.channels.get(uuid)
    await console.service.flush()
    history = (await client.get("/api/history", params={"number": "0123"})).json()
    assert [c["call_id"] for c in history["calls"]] == [uuid]
    assert (await client.get("/api/calls/active")).json() == []
    detail = (await client.get(f"/api/calls/{uuid}")).json()
    assert detail["cdr"]["handled_by"] == "bot"
    names = [e["name"] for e in detail["events"]]
    assert "CHANNEL_HANGUP_COMPLETE" in names
    again = await client.post(f"/api/calls/{uuid}/hangup")
    assert again.status_code == 409  # no such channel any more


async def test_take_over_bridges_the_operators_phone(
    switched: tuple[Console, FakeFreeSwitch, RecordingHandover],
) -> None:
    console, sw, handover = switched
    sw.extensions["1001"] = Extension.answers(0.1)
    client, _ = await console.signed_in("alice")
    assert (await client.put("/api/me/status", json={"status": "away"})).status_code == 200
    uuid = await bot_call(sw, handover, "+15550999")
    taken = await client.post(f"/api/calls/{uuid}/takeover", json={})
    assert taken.status_code == 200, taken.text
    leg = taken.json()["result"]
    await eventually(lambda: sw.state_matches(uuid, "ACTIVE") and leg in sw.channels)
    assert sw.channel(leg).answered
    await eventually(lambda: bool(sw.events_for(uuid, "CHANNEL_BRIDGE")))
    call = console.service.controller.calls[uuid]
    await eventually(lambda: call.handled_by == "both")
    assert (await client.get("/api/me")).json()["status"] == "busy"
    await sw.far_end_hangup(uuid)
    record = await console.service.controller.wait_finished(uuid, 5)
    assert record.handled_by == "both"

    # The call is over: the operator is back to the status they had before it.
    async def away_again() -> bool:
        return bool((await client.get("/api/me")).json()["status"] == "away")

    await eventually(away_again)


async def test_a_status_set_during_a_taken_over_call_is_kept(
    switched: tuple[Console, FakeFreeSwitch, RecordingHandover],
) -> None:
    console, sw, handover = switched
    sw.extensions["1001"] = Extension.answers(0.1)
    client, _ = await console.signed_in("alice")
    uuid = await bot_call(sw, handover, "+15550998")
    taken = await client.post(f"/api/calls/{uuid}/takeover", json={})
    assert taken.status_code == 200, taken.text
    assert await console.service.live.get(TAKEOVERS_NS, uuid) is not None
    assert (await client.put("/api/me/status", json={"status": "offline"})).status_code == 200
    await sw.far_end_hangup(uuid)
    await console.service.controller.wait_finished(uuid, 5)

    async def restored() -> bool:
        return await console.service.live.get(TAKEOVERS_NS, uuid) is None

    await eventually(restored)
    assert (await client.get("/api/me")).json()["status"] == "offline"


async def test_call_back_from_a_follow_up_rings_the_operator_then_the_caller(
    switched: tuple[Console, FakeFreeSwitch, RecordingHandover],
) -> None:
    console, sw, _handover = switched
    sw.extensions["1001"] = Extension.answers(0.1)  # alice's phone
    sw.extensions["5550177"] = Extension.answers(0.2)  # the caller, reached back
    console.service.settings.console.callback_dialstring = "user/{number}"
    client, _ = await console.signed_in("alice")
    outcome = await console.service.desk.ask(
        HitlQuestion(
            call_id="call-x", question="Refund?", reason="sensitive", caller_number="5550177"
        )
    )
    assert outcome.status == "unavailable"
    await console.service.flush()
    response = await client.post(f"/api/hitl/{outcome.request_id}/callback", json={})
    assert response.status_code == 200, response.text
    call_id = response.json()["call_id"]
    row = response.json()["row"]
    assert row["callbacks"] == [call_id] and row["status"] == "contacted"
    await eventually(lambda: bool(sw.events_for(call_id, "CHANNEL_BRIDGE")))
    operator, customer = sw.channel(call_id), sw.channel(sw.channel(call_id).partner_uuid or "")
    assert operator.variables.get("callcontrol_followup") == outcome.request_id
    assert customer.profile is not None and customer.profile.destination_number == "5550177"
    await sw.far_end_hangup(call_id)
    record = await console.service.controller.wait_finished(call_id, 5)
    assert record.direction == "outbound"
    # The caller's line is busy: an error that says so, and the operator's leg is ended.
    sw.extensions["5550177"] = Extension.busy()
    failed = await client.post(f"/api/hitl/{outcome.request_id}/callback", json={})
    assert failed.status_code == 409 and "5550177" in failed.json()["detail"]
    assert "USER_BUSY" in failed.json()["detail"]
    await eventually(lambda: not [c for c in sw.channels.values() if c.up])


async def test_transfer_and_bad_destinations(
    switched: tuple[Console, FakeFreeSwitch, RecordingHandover],
) -> None:
    console, sw, handover = switched
    sw.extensions["1002"] = Extension.answers(0.1)
    client, _ = await console.signed_in("alice")
    uuid = await bot_call(sw, handover, "+15550777")
    for bad in ("1002 XML default", "&park()", "a/b", ""):
        refused = await client.post(f"/api/calls/{uuid}/transfer", json={"destination": bad})
        assert refused.status_code == 422, bad
    moved = await client.post(f"/api/calls/{uuid}/transfer", json={"destination": "1002"})
    assert moved.status_code == 200, moved.text
    await eventually(lambda: bool(sw.events_for(uuid, "CHANNEL_BRIDGE")))
    await sw.far_end_hangup(uuid)


async def test_actions_without_freeswitch_say_so(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    response = await client.post("/api/calls/abc/hangup")
    assert response.status_code == 503
    admin, _ = await console.signed_in("root")  # root has no extension
    no_phone = await admin.post("/api/calls/abc/takeover", json={})
    assert no_phone.status_code == 422 and "extension" in no_phone.json()["detail"]
    missing = await client.get("/calls/nope")
    assert missing.status_code == 404
    bad_id = await client.get("/api/calls/" + "x" * 80)
    assert bad_id.status_code == 422


async def _seed(service: Service) -> None:
    now = datetime.now(UTC)
    async with service.sessions() as s:
        for i, (caller, handled, outcome, v2v) in enumerate(
            [
                ("+15550001", "bot", "bot", [800.0, 900.0, 1000.0]),
                ("+15550002", "human", "human", []),
                ("+15550003", "both", "bot_then_human", [1200.0]),
                ("+15550004", "none", "missed", []),
            ]
        ):
            cid = f"hist-{i}"
            start = now - timedelta(minutes=10 * (i + 1))
            s.add(
                Call(
                    id=cid,
                    caller_number=caller,
                    callee_number="9198",
                    handled_by=handled,
                    state="hangup",
                    created_at=start,
                )
            )
            s.add(
                Cdr(
                    id=cid,
                    call_id=cid,
                    caller=caller,
                    callee="9198",
                    direction="inbound",
                    start_at=start,
                    end_at=start + timedelta(seconds=30),
                    duration_s=30,
                    hangup_cause="NORMAL_CLEARING",
                    handled_by=handled,
                    outcome=outcome,
                )
            )
            for seq, ms in enumerate(v2v):
                s.add(
                    Turn(
                        call_id=cid,
                        seq=seq,
                        speaker="bot",
                        text="ok",
                        started_at=start,
                        voice_to_voice_ms=ms,
                    )
                )
        alice = await OperatorRepo(service.sessions).by_username("alice")
        assert alice is not None
        for n, (cid, outcome, wait_s) in enumerate(
            [("hist-0", "answered", 10), ("hist-0", "answered", 30), ("hist-2", "timeout", None)]
        ):
            created = now - timedelta(minutes=5, seconds=n)
            s.add(
                HitlRequest(
                    call_id=cid,
                    reason="low_confidence",
                    question="q",
                    status="answered" if wait_s else "unresolved",
                    outcome=outcome,
                    created_at=created,
                    answered_at=created + timedelta(seconds=wait_s) if wait_s else None,
                    operator_id=alice.id if wait_s else None,
                    kb_doc_id="doc-1" if n == 0 else None,
                )
            )
        old = now - timedelta(days=40)
        s.add(Call(id="old", caller_number="+1999", handled_by="bot", created_at=old))
        s.add(
            Cdr(
                id="old",
                call_id="old",
                caller="+1999",
                callee="9198",
                direction="inbound",
                start_at=old,
                end_at=old,
                hangup_cause="NORMAL_CLEARING",
                handled_by="bot",
                outcome="bot",
            )
        )
        await s.commit()


async def test_history_search_and_dashboard(console: Console) -> None:
    await _history_and_dashboard(console)


@pytest.mark.postgres
async def test_history_search_and_dashboard_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    async with running_service(console_settings(tmp_path, postgres_url)) as service:
        await add_user(service, "alice")
        async with serve(service) as url:
            console = Console(service, url)
            try:
                await _history_and_dashboard(console)
            finally:
                await console.aclose()


async def _history_and_dashboard(console: Console) -> None:
    await _seed(console.service)
    client, _ = await console.signed_in("alice")
    everything = (await client.get("/api/history")).json()
    assert everything["total"] == 5
    assert [c["call_id"] for c in everything["calls"]][:4] == [f"hist-{i}" for i in range(4)]
    assert (await client.get("/api/history", params={"number": "0002"})).json()["total"] == 1
    assert (await client.get("/api/history", params={"handled_by": "bot"})).json()["total"] == 2
    assert (await client.get("/api/history", params={"outcome": "missed"})).json()["total"] == 1
    today = datetime.now().astimezone().date()
    ranged = await client.get(
        "/api/history",
        params={"since": (today - timedelta(days=1)).isoformat(), "until": today.isoformat()},
    )
    assert ranged.json()["total"] == 4
    assert (await client.get("/api/history", params={"since": "yesterday"})).status_code == 422
    assert (await client.get("/api/history", params={"handled_by": "robot"})).status_code == 422
    assert (await client.get("/api/history", params={"number": "%"})).json()["total"] == 0
    # Searching the calls' summaries (words in any order, any case).
    async with console.service.sessions() as s:
        s.add(CallSummary(call_id="hist-1", summary="The caller wants a REFUND for a late parcel."))
        s.add(CallSummary(call_id="hist-2", summary="The caller asked about opening hours."))
        await s.commit()
    found = (await client.get("/api/history", params={"text": "parcel refund"})).json()
    assert [c["call_id"] for c in found["calls"]] == ["hist-1"]
    assert found["calls"][0]["summary"].startswith("The caller wants a REFUND")
    assert (await client.get("/api/history", params={"text": "100%"})).json()["total"] == 0
    page = await client.get("/history", params={"number": "0003"})
    assert page.status_code == 200 and "+15550003" in page.text and "+15550001" not in page.text
    bad_page = await client.get("/history", params={"since": "13/13/2020"})
    assert bad_page.status_code == 422 and "Cannot search" in bad_page.text
    stats = (await client.get("/api/dashboard", params={"period": "7d"})).json()
    assert stats["calls"] == 4
    assert stats["bot_calls"] == 2 and stats["bot_share"] == 0.5
    assert stats["hitl_requests"] == 3 and stats["hitl_calls"] == 2
    assert stats["hitl_rate"] == 0.5 and stats["hitl_answered"] == 2
    assert stats["hitl_unresolved"] == 1
    assert stats["hitl_answer_s_median"] == pytest.approx(20.0)
    [alice] = stats["hitl_by_operator"]
    assert alice["key"] == "alice" and (alice["questions"], alice["answered"]) == (2, 2)
    assert alice["resolution"] == 1.0 and alice["answer_s_median"] == pytest.approx(20.0)
    assert (alice["saved_to_kb"], alice["saved_share"]) == (1, 0.5)
    days = stats["hitl_by_day"]
    assert sum(d["questions"] for d in days) == 3 and sum(d["answered"] for d in days) == 2
    assert stats["v2v_turns"] == 4
    assert stats["v2v_p50_ms"] == pytest.approx(950.0)
    assert stats["v2v_p95_ms"] == pytest.approx(1170.0)
    assert (await client.get("/api/dashboard", params={"period": "year"})).status_code == 422
    home = await client.get("/")
    assert home.status_code == 200 and "Voice to voice" in home.text
    assert "Questions by operator" in home.text and "Questions by day" in home.text
