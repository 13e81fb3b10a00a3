"""Fault injection: restarts, garbage, wrong lengths, truncation, one byte at a time."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient
from tests.fakes.freeswitch.events import Event
from tests.fakes.freeswitch.wire import MessageReader


async def test_restart_drops_connections_and_reflects_calls(fake_switch: FakeFreeSwitch) -> None:
    client = await EslTestClient.connect(fake_switch.esl_port)
    await client.command("event plain ALL")
    kept = await fake_switch.inbound_call(caller="1001")
    ended = await fake_switch.inbound_call(caller="1002")
    started: list[str] = []

    async def meanwhile(sw: FakeFreeSwitch) -> None:
        started.append(await sw.inbound_call(caller="1003"))
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", sw.esl_port)  # refused while down

    port = fake_switch.esl_port
    await fake_switch.restart(down_for=0.3, hangup=[ended], during=meanwhile)
    await client.read_until_eof(timeout=2)
    assert client.eof and b"disconnect-notice" not in bytes(client.raw)  # dropped, not told
    await client.close()
    assert fake_switch.esl_port == port
    async with await EslTestClient.connect(port) as again:
        rows = json.loads(await again.api("show channels as json"))["rows"]
    assert {r["uuid"] for r in rows} == {kept, started[0]}
    await fake_switch.wait_for_channel_state(ended, "destroyed")


async def test_restart_ending_every_call(fake_switch: FakeFreeSwitch) -> None:
    await fake_switch.inbound_call()
    await fake_switch.inbound_call()
    await fake_switch.restart(down_for=0.1, hangup_all=True, cause="NORMAL_TEMPORARY_FAILURE")
    await fake_switch.wait_until(lambda: not fake_switch.channels)
    async with await EslTestClient.connect(fake_switch.esl_port) as client:
        assert await client.api("show channels as json") == '{"row_count": 0}\n'
    assert {c.hangup_cause for c in fake_switch.ended.values()} == {"NORMAL_TEMPORARY_FAILURE"}


async def test_garbage_and_wrong_length(fake_switch: FakeFreeSwitch) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fake_switch.esl_port)
    await reader.readuntil(b"\n\n")
    writer.write(b"auth ClueCon\n\n")
    await reader.readuntil(b"\n\n")
    fake_switch.faults.send_raw(b"\x00\xffgarbage\n\n")
    assert await asyncio.wait_for(reader.readexactly(11), 2) == b"\x00\xffgarbage\n\n"
    event = Event((("Event-Name", "HEARTBEAT"), ("Event-Info", "System Ready")))
    sent = fake_switch.faults.event_with_wrong_length(event, -5)
    payload = event.serialize_plain()
    assert (
        sent
        == b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % (len(payload) - 5) + payload
    )
    assert await asyncio.wait_for(reader.readexactly(len(sent)), 2) == sent
    writer.write(b"api status\n\n")  # the switch itself is unaffected
    assert (await asyncio.wait_for(reader.readuntil(b"\n\n"), 2)).startswith(
        b"Content-Type: api/response"
    )
    writer.close()
    await writer.wait_closed()


async def test_truncated_frame_then_close(fake_switch: FakeFreeSwitch) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fake_switch.esl_port)
    await reader.readuntil(b"\n\n")
    writer.write(b"auth ClueCon\n\n")
    await reader.readuntil(b"\n\n")
    frame = Event((("Event-Name", "HEARTBEAT"),)).frame("plain")
    await fake_switch.faults.truncate_and_close(frame, keep=20)
    rest = await asyncio.wait_for(reader.read(), 2)
    assert rest == frame[:20]
    writer.close()
    await writer.wait_closed()


async def test_dribble_one_byte_at_a_time(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    await esl_client.command("event plain CHANNEL_CREATE")
    frame = Event((("Event-Name", "HEARTBEAT"), ("Up-Time", "0 years"))).frame("plain")
    task = asyncio.ensure_future(fake_switch.faults.dribble(frame, delay=0.002))
    await asyncio.sleep(0.02)
    uid = await fake_switch.inbound_call()  # its CHANNEL_CREATE must wait for the dribble
    await task
    first = await esl_client.next_event()
    second = await esl_client.next_event()
    assert first.raw == frame
    assert b"CHANNEL_CREATE" in second.raw and uid.encode() in second.raw
    reader = MessageReader()
    for byte in frame:
        reader.feed(bytes([byte]))
    assert reader.next_message() is not None
