"""Call lifecycles: which events, in which order, with which headers — against the recordings.

Events are compared one by one: the event name, the header *names* in order (channel
variables aside: those come from sofia and the dialplan), and the values that describe
state (Channel-State, -Call-State, -State-Number, Answer-State, Application, Hangup-Cause,
Event-Calling-*).
"""

from __future__ import annotations

import asyncio

import pytest

from tests import recordings as rec
from tests.fakes.freeswitch import Extension, FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient

STATE_KEYS = (
    "Event-Name",
    "Event-Calling-File",
    "Event-Calling-Function",
    "Event-Calling-Line-Number",
    "Channel-State",
    "Channel-Call-State",
    "Channel-State-Number",
    "Answer-State",
    "Application",
    "Hangup-Cause",
    "Original-Channel-Call-State",
    "Channel-Call-State-Number",
    "Call-Direction",
    "Channel-HIT-Dialplan",
    "API-Command",
)


def _shape(headers: list[tuple[str, str]]) -> tuple[list[str], dict[str, str]]:
    names = [k for k, _ in headers if not k.startswith("variable_")]
    values = {k: v for k, v in headers if k in STATE_KEYS}
    return names, values


def _recorded(name: str, uuid_filter: str | None = None) -> list[tuple[list[str], dict[str, str]]]:
    out = []
    for row in rec.received(name):
        if not (row.ctype or "").startswith("text/event") or row.event in (
            "HEARTBEAT",
            "RE_SCHEDULE",
        ):
            continue
        headers = rec.event_header_list(row.data)
        if uuid_filter is not None and dict(headers).get("Unique-ID") != uuid_filter:
            continue
        out.append(_shape(headers))
    return out


async def _collect(
    client: EslTestClient, until: str, timeout: float = 5.0
) -> list[list[tuple[str, str]]]:
    """Events up to and including the last CHANNEL_STATE CS_DESTROY-like terminator."""
    got = []
    while True:
        msg = await client.next_event(timeout=timeout)
        headers = rec.event_header_list(msg.raw)
        got.append(headers)
        d = dict(headers)
        if d.get("Event-Name") == "CHANNEL_STATE" and d.get("Channel-State") == until:
            return got


def _assert_same(
    mine: list[tuple[list[str], dict[str, str]]], recorded: list[tuple[list[str], dict[str, str]]]
) -> None:
    assert [v["Event-Name"] for _, v in mine] == [v["Event-Name"] for _, v in recorded]
    for i, ((names, values), (want_names, want_values)) in enumerate(
        zip(mine, recorded, strict=True)
    ):
        assert names == want_names, (i, values["Event-Name"])
        assert values == want_values, (i, values["Event-Name"])


@pytest.mark.parametrize("fmt", ["plain", "json"])
async def test_inbound_call_parked_then_caller_hangs_up(
    fake_switch: FakeFreeSwitch, fmt: str
) -> None:
    recorded = _recorded(f"esl-events-{fmt}-all-a-sipp-park-caller-hangup.jsonl")
    async with await EslTestClient.connect(fake_switch.esl_port) as client:
        await client.command(f"event {fmt} ALL")
        uid = await fake_switch.inbound_call(caller="sipp", destination="9198", answer=True)
        await asyncio.sleep(0.05)
        await fake_switch.far_end_hangup(uid)
        events = await _collect(client, "CS_DESTROY")
        assert client.all_messages[-1].content_type == f"text/event-{fmt}"
    _assert_same([_shape(h) for h in events], recorded)
    complete = dict(events[-3])
    assert complete["Event-Name"] == "CHANNEL_HANGUP_COMPLETE"
    assert [k for k, _ in events[-3]].count("Hangup-Cause") == 2
    for key in (
        "variable_duration",
        "variable_billsec",
        "variable_hangup_cause",
        "variable_hangup_cause_q850",
    ):
        assert key in complete, key


async def test_uuid_kill_from_the_same_connection(fake_switch: FakeFreeSwitch) -> None:
    name = "esl-events-plain-all-c-uuid-kill.jsonl"
    recorded_order = [r.event or r.ctype for r in rec.received(name)[3:-2]]
    async with await EslTestClient.connect(fake_switch.esl_port) as client:
        await client.command("event plain ALL")
        uid = await fake_switch.inbound_call(caller="sipp", destination="9198", answer=True)
        await asyncio.sleep(0.05)
        await client.send(f"api uuid_kill {uid} NORMAL_CLEARING\n\n")
        await _collect(client, "CS_DESTROY")
        order = []
        for msg in client.all_messages[3:]:
            if msg.content_type == "api/response":
                order.append("api/response")
            else:
                order.append(dict(rec.event_header_list(msg.raw))["Event-Name"])
    assert order == recorded_order


B = "esl-events-plain-all-b-originate-fail.jsonl"


async def test_originate_no_answer(fake_switch: FakeFreeSwitch) -> None:
    fake_switch.extensions["9201"] = Extension.never_answers()
    async with await EslTestClient.connect(fake_switch.esl_port) as client:
        await client.command("event plain ALL")
        reply = await client.command(
            "bgapi originate {originate_timeout=1}sofia/internal/9201@127.0.0.1:5080 &park()"
        )
        job = reply.get("Job-UUID")
        events = await _collect(client, "CS_DESTROY")
        bg = (
            await client.next_event("BACKGROUND_JOB")
            if not any(dict(h).get("Event-Name") == "BACKGROUND_JOB" for h in events)
            else None
        )
    leg = dict(events[0])["Unique-ID"]
    mine = [_shape(h) for h in events if dict(h).get("Unique-ID") == leg]
    _assert_same(mine, _recorded(B, "70200e4c-e355-46d3-a37c-c2d788e716be"))
    jobs = [h for h in events if dict(h)["Event-Name"] == "BACKGROUND_JOB"]
    body = bg.body.split(b"\n\n", 1)[1] if bg is not None else None
    if jobs:
        assert dict(jobs[0])["Job-UUID"] == job
    else:
        assert bg is not None and body == b"-ERR NO_ANSWER\n"
    assert fake_switch.channel(leg).hangup_cause == "NO_ANSWER"


async def test_originate_busy_and_absent(fake_switch: FakeFreeSwitch) -> None:
    fake_switch.extensions["9202"] = Extension.busy(after=0.02)
    async with await EslTestClient.connect(fake_switch.esl_port) as client:
        await client.command("event plain ALL")
        await client.command("bgapi originate sofia/internal/9202@127.0.0.1:5080 &park()")
        events = await _collect(client, "CS_DESTROY")
        leg = dict(events[0])["Unique-ID"]
        mine = [_shape(h) for h in events if dict(h).get("Unique-ID") == leg]
        _assert_same(mine, _recorded(B, "89f7286e-0bbd-4430-990d-1e5840ead13e"))
        job = await client.next_event("BACKGROUND_JOB")
        assert job.body.endswith(b"\n\n-ERR USER_BUSY\n")

        before = len(fake_switch.events)
        assert (
            await client.api("originate user/nobody@127.0.0.1 &park()")
            == "-ERR SUBSCRIBER_ABSENT\n"
        )
        assert [e.name for e in fake_switch.events[before:]] == ["API"]  # no channel at all


@pytest.mark.parametrize(
    ("extension", "reply"),
    [
        (Extension.never_answers(), "-ERR NO_ANSWER\n"),
        (Extension.busy(), "-ERR USER_BUSY\n"),
        (Extension.rejects(), "-ERR CALL_REJECTED\n"),
        (Extension.unregistered(), "-ERR USER_NOT_REGISTERED\n"),
    ],
)
async def test_sync_originate_failures(
    fake_switch: FakeFreeSwitch, extension: Extension, reply: str
) -> None:
    fake_switch.extensions["1000"] = extension
    async with await EslTestClient.connect(fake_switch.esl_port) as client:
        assert await client.api("originate {originate_timeout=1}user/1000 &park()") == reply
        assert await client.api("originate error/USER_BUSY &park()") == "-ERR USER_BUSY\n"


async def test_originate_answered_with_origination_uuid_parks(fake_switch: FakeFreeSwitch) -> None:
    fake_switch.extensions["1000"] = Extension.answers(after=0.1)
    uid = "11111111-2222-4333-8444-555555555555"
    async with await EslTestClient.connect(fake_switch.esl_port) as client:
        await client.command("event plain CHANNEL_ANSWER CHANNEL_PARK CHANNEL_HANGUP_COMPLETE")
        started = asyncio.get_running_loop().time()
        reply = await client.api(
            f"originate {{origination_uuid={uid},originate_timeout=5}}user/1000 &park()"
        )
        assert reply == f"+OK {uid}\n"
        assert asyncio.get_running_loop().time() - started >= 0.09
        answer = await client.next_event()
        assert dict(rec.event_header_list(answer.raw))["Event-Name"] == "CHANNEL_ANSWER"
        park = dict(rec.event_header_list((await client.next_event()).raw))
        assert park["Event-Name"] == "CHANNEL_PARK" and park["Unique-ID"] == uid
        assert park["Call-Direction"] == "outbound" and park["variable_origination_uuid"] == uid
        assert await client.api(f"uuid_exists {uid}") == "true"
        assert await client.api(f"uuid_kill {uid} USER_BUSY") == "+OK\n"
        done = dict(rec.event_header_list((await client.next_event()).raw))
        assert done["Hangup-Cause"] == "USER_BUSY" and int(done["variable_billsec"]) >= 0
        assert await client.api(f"uuid_exists {uid}") == "false"


async def test_no_answer_inbound_call_and_callee_hangup(fake_switch: FakeFreeSwitch) -> None:
    """A ringing inbound leg that is never answered, then the caller gives up."""
    uid = await fake_switch.inbound_call(answer=False)
    ch = fake_switch.channel(uid)
    assert ch.answer_state == "ringing" and ch.call_state == "RINGING"
    await fake_switch.far_end_hangup(uid, "ORIGINATOR_CANCEL")
    await fake_switch.wait_for_channel_state(uid, "destroyed")
    complete = fake_switch.events_for(uid, "CHANNEL_HANGUP_COMPLETE")[0]
    assert complete.get("Hangup-Cause") == "ORIGINATOR_CANCEL"
    assert complete.get("variable_billsec") == "0"
