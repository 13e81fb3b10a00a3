"""The live websocket: snapshot, bus messages by topic, presence and operator status."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from callcontrol.console import live as live_module
from callcontrol.hitl.desk import OPERATORS_NS, PRESENCE_NS
from callcontrol.live.memory import InProcessBus
from tests.console.conftest import Console


async def open_ws(console: Console, username: str, topics: str) -> ClientConnection:
    client, _ = await console.signed_in(username)
    cookie = f"cc_session={client.cookies['cc_session']}"
    ws_url = console.url.replace("http://", "ws://") + f"/ws/live?topics={topics}"
    return await connect(ws_url, additional_headers={"Cookie": cookie})


async def next_frame(ws: ClientConnection, timeout: float = 3.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def messages(ws: ClientConnection, want: int, timeout: float = 3.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < want:
        frame = await next_frame(ws, max(0.01, deadline - time.monotonic()))
        if frame["type"] == "batch":
            out.extend(frame["messages"])
    return out


def call_snapshot(call_id: str, state: str = "bot") -> dict[str, Any]:
    return {
        "id": call_id,
        "caller": "+15550100",
        "callee": "9198",
        "state": state,
        "handled_by": "bot",
        "created_at": "2026-01-01T10:00:00+00:00",
        "worker": "w1",
    }


async def test_snapshot_then_live_calls(console: Console) -> None:
    service = console.service
    await service.live.put("calls", "c1", call_snapshot("c1"))
    ws = await open_ws(console, "alice", "calls")
    async with ws:
        snap = await next_frame(ws)
        assert snap["type"] == "snapshot" and [c["id"] for c in snap["calls"]] == ["c1"]
        await service.bus.publish("calls", call_snapshot("c2", "ringing"))
        await service.bus.publish("calls", call_snapshot("c1", "hangup"))
        got = await messages(ws, 2)
        assert [(m["topic"], m["data"]["id"], m["data"]["state"]) for m in got] == [
            ("calls", "c2", "ringing"),
            ("calls", "c1", "hangup"),
        ]
    gauge = service.metrics.console_websockets
    for _ in range(300):  # the server notices the close and cleans up
        if gauge._value.get() == 0:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert gauge._value.get() == 0  # type: ignore[attr-defined]


async def test_a_call_topic_carries_only_that_call(console: Console) -> None:
    bus = console.service.bus
    ws = await open_ws(console, "alice", "call.abc")
    async with ws:
        assert (await next_frame(ws))["type"] == "snapshot"
        await bus.publish("call.other", {"type": "turn", "speaker": "bot", "text": "no", "seq": 1})
        await bus.publish("calls", call_snapshot("abc"))
        turn = {"type": "turn", "speaker": "caller", "text": "<b>hi</b>", "seq": 1, "timings": {}}
        await bus.publish("call.abc", turn)
        [got] = await messages(ws, 1)
        assert got == {"topic": "call.abc", "data": turn}


async def test_presence_and_status_reach_the_desk(console: Console) -> None:
    service = console.service
    client, _ = await console.signed_in("alice")
    me = (await client.get("/api/me")).json()
    assert await service.desk.available_operators() == []
    ws = await open_ws(console, "alice", "operators")
    async with ws:
        snap = await next_frame(ws)
        assert {o["username"] for o in snap["operators"]} == {"alice"}
        presence = await service.live.get(PRESENCE_NS, me["id"])
        assert presence is not None and time.time() - presence["seen_at"] < 5
        assert await service.desk.available_operators() == []  # still offline
        assert (await client.put("/api/me/status", json={"status": "available"})).status_code == 200
        [msg] = await messages(ws, 1)
        assert msg["topic"] == "operators"
        assert msg["data"] == {
            "id": me["id"],
            "username": "alice",
            "status": "available",
            "role": "operator",
            "extension": "1001",  # the phone a hand-off would ring
        }
        assert [o["username"] for o in await service.desk.available_operators()] == ["alice"]
        assert (await service.live.get(OPERATORS_NS, me["id"]))["status"] == "available"  # type: ignore[index]
    # the status is persisted
    assert (await client.get("/api/me")).json()["status"] == "available"


async def test_bad_topics_are_refused(console: Console) -> None:
    with pytest.raises(ValueError):
        live_module.parse_topics("calls,../etc")
    with pytest.raises(ValueError):
        live_module.parse_topics("")
    with pytest.raises(ValueError):
        live_module.parse_topics(",".join(f"call.c{i}" for i in range(9)))
    assert live_module.parse_topics("calls, hitl,calls,call.*") == ["calls", "hitl", "call.*"]


async def test_a_client_that_falls_behind_is_told_to_resync() -> None:
    bus = InProcessBus()
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(3)
    async with bus.subscribe("calls") as sub:
        pump = asyncio.create_task(live_module._pump(sub, queue))
        for i in range(5):
            await bus.publish("calls", {"id": str(i)})
        with pytest.raises(live_module.Resync):
            await asyncio.wait_for(pump, 2)


async def test_signing_out_closes_the_live_socket_at_once(console: Console) -> None:
    """It kept streaming for up to 20 s after logout (until its next session check)."""
    client, csrf = await console.signed_in("alice")
    cookie = f"cc_session={client.cookies['cc_session']}"
    ws_url = console.url.replace("http://", "ws://") + "/ws/live?topics=calls"
    other, _ = await console.signed_in("root")  # root's socket must stay open
    root_ws = await connect(
        ws_url, additional_headers={"Cookie": f"cc_session={other.cookies['cc_session']}"}
    )
    async with await connect(ws_url, additional_headers={"Cookie": cookie}) as ws, root_ws:
        assert (await next_frame(ws))["type"] == "snapshot"
        assert (await next_frame(root_ws))["type"] == "snapshot"
        out = await client.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        closed = False
        try:
            while True:  # frames already queued may still arrive; then the close
                await asyncio.wait_for(ws.recv(), 3)
        except ConnectionClosed:
            closed = True
        assert closed
        await console.service.bus.publish("calls", call_snapshot("c9", "ringing"))
        got = await messages(root_ws, 1)
        assert got[0]["data"]["id"] == "c9"
