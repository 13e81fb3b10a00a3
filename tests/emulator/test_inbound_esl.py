"""Inbound ESL commands and replies, held against esl-inbound-commands / -auth-fail."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests import recordings as rec
from tests.fakes.freeswitch import Extension, FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient, event_headers

CMDS = "esl-inbound-commands.jsonl"


def _keys(body: bytes) -> list[list[str]]:
    return [list(row) for row in json.loads(body)["rows"]]


async def test_auth_failure_is_the_recorded_exchange(fake_switch: FakeFreeSwitch) -> None:
    client = await EslTestClient.connect(fake_switch.esl_port, password=None)
    await client.send("auth WrongPassword\n\n")
    await client.read_until_eof()
    recorded = b"".join(r.data for r in rec.received("esl-inbound-auth-fail.jsonl"))
    assert bytes(client.raw) == recorded
    assert client.eof
    await client.close()


async def test_status_and_empty_show(esl_client: EslTestClient) -> None:
    status = await esl_client.command("api status")
    recorded = rec.reply_after(CMDS, "api status")
    assert status.header_names == ["Content-Type", "Content-Length"]
    units = re.compile(r"(<n> (?:year|day|hour|minute|second|millisecond|microsecond))s?")

    def shape(text: str) -> str:
        return units.sub(r"\1(s)", rec.normalise(text))

    assert shape(status.body.decode()) == shape(rec.split_message(recorded.data)[1].decode())
    for cmd in ("api show channels as json", "api show calls as json"):
        reply = await esl_client.command(cmd)
        assert reply.raw == rec.reply_after(CMDS, cmd).data  # '{"row_count": 0}\n'


async def test_show_with_a_parked_call_has_the_recorded_shape(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    uid = await fake_switch.inbound_call(
        caller="sipp", destination="9198", answer=True, codec="PCMA"
    )
    channels = await esl_client.command("api show channels as json")
    recorded = rec.split_message(rec.reply_after(CMDS, "api show channels as json", 1).data)[1]
    assert channels.header_names == ["Content-Type", "Content-Length"]
    assert _keys(channels.body) == _keys(recorded)
    assert b": " not in channels.body and not channels.body.endswith(b"\n")
    row = json.loads(channels.body)["rows"][0]
    want = json.loads(recorded)["rows"][0]
    for key in (
        "direction",
        "state",
        "callstate",
        "application",
        "dialplan",
        "context",
        "read_codec",
        "read_rate",
        "write_bit_rate",
        "hostname",
        "cid_num",
        "initial_dest",
        "ip_addr",
    ):
        assert row[key] == want[key], key
    assert row["uuid"] == uid
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["created"])

    calls = await esl_client.command("api show calls as json")
    recorded_calls = rec.split_message(rec.reply_after(CMDS, "api show calls as json", 1).data)[1]
    assert _keys(calls.body) == _keys(recorded_calls)
    assert json.loads(calls.body)["rows"][0]["b_uuid"] == ""


async def test_show_calls_puts_a_bridge_in_one_row(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    fake_switch.extensions["9198"] = Extension.answers(after=0.05)
    fake_switch.extensions["9199"] = Extension.answers(after=0.05)
    reply = await esl_client.api("originate user/9198 &bridge(user/9199)")
    assert re.fullmatch(r"\+OK [0-9a-f-]{36}\n", reply)
    a_uuid = reply.split()[1]
    await fake_switch.wait_until(lambda: fake_switch.channel(a_uuid).partner_uuid is not None)
    calls = await esl_client.command("api show calls as json")
    recorded = json.loads(
        rec.split_message(rec.reply_after(CMDS, "api show calls as json", 2).data)[1]
    )
    rows = json.loads(calls.body)["rows"]
    assert list(rows[0]) == list(recorded["rows"][0])
    assert len(rows) == 1 and rows[0]["uuid"] == a_uuid
    b_uuid = fake_switch.channel(a_uuid).partner_uuid
    assert rows[0]["b_uuid"] == b_uuid and rows[0]["b_state"] == "CS_EXCHANGE_MEDIA"
    assert rows[0]["call_uuid"] == a_uuid and rows[0]["call_created_epoch"].isdigit()
    channels = json.loads((await esl_client.command("api show channels as json")).body)
    assert {r["uuid"] for r in channels["rows"]} == {a_uuid, b_uuid}
    assert await esl_client.api(f"uuid_kill {b_uuid}") == "+OK\n"
    await fake_switch.wait_for_channel_state(a_uuid, "destroyed")


async def test_errors_and_unknown_commands(esl_client: EslTestClient) -> None:
    for cmd in ("api uuid_kill 00000000-0000-4000-8000-000000000000", "foo bar", "api foo bar"):
        assert (await esl_client.command(cmd)).raw == rec.reply_after(CMDS, cmd).data


async def test_bgapi_event_only_with_a_subscription(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    fake_switch.extensions["9198"] = Extension.answers(after=0.02)
    reply = await esl_client.command("bgapi originate loopback/9198/public &park()")
    recorded = rec.reply_after(CMDS, "bgapi originate loopback/9198/public &park()")
    assert rec.normalise(reply.raw.decode()) == rec.normalise(recorded.text)
    job = reply.get("Job-UUID")
    await asyncio.sleep(0.3)
    await esl_client.command("api status")  # anything held would have arrived by now
    assert not esl_client.events

    sub = await esl_client.command("event plain BACKGROUND_JOB")
    assert sub.raw == rec.reply_after(CMDS, "event plain BACKGROUND_JOB").data
    recorded_events = [r for r in rec.received(CMDS) if r.event == "BACKGROUND_JOB"]
    for command, want, body_re in (
        (
            "bgapi originate loopback/9198/public &park()",
            recorded_events[0],
            r"\+OK [0-9a-f-]{36}\n",
        ),
        (
            "bgapi originate user/nobody@127.0.0.1 &park()",
            recorded_events[1],
            r"-ERR SUBSCRIBER_ABSENT\n",
        ),
        ("bgapi status", recorded_events[2], r"UP 0 years, .*\n1000 session\(s\) max\n.*"),
    ):
        reply = await esl_client.command(command)
        job = reply.get("Job-UUID")
        event = await esl_client.next_event("BACKGROUND_JOB")
        got = rec.event_header_list(event.raw)
        expected = rec.event_header_list(want.data)
        assert [k for k, _ in got] == [k for k, _ in expected]
        assert dict(got)["Job-UUID"] == job
        assert dict(got)["Job-Command-Arg" if " " in command[6:] else "Job-Command"] == dict(
            expected
        ).get("Job-Command-Arg" if " " in command[6:] else "Job-Command")
        body = event.body.split(b"\n\n", 1)[1].decode()
        assert re.fullmatch(body_re, body, re.S), body
    assert job


async def test_noevents_hupall_exit(fake_switch: FakeFreeSwitch, esl_client: EslTestClient) -> None:
    await esl_client.command("event plain ALL")
    uid = await fake_switch.inbound_call()
    assert (await esl_client.command("noevents")).raw == rec.reply_after(CMDS, "noevents").data
    assert (await esl_client.command("api hupall NORMAL_CLEARING")).raw == rec.reply_after(
        CMDS, "api hupall NORMAL_CLEARING"
    ).data
    await fake_switch.wait_for_channel_state(uid, "destroyed")
    assert fake_switch.channel(uid).hangup_cause == "NORMAL_CLEARING"
    esl_client.events.clear()
    await esl_client.send("exit\n\n")
    await esl_client.read_until_eof()
    tail = b"".join(r.data for r in rec.received(CMDS)[-2:])
    assert bytes(esl_client.raw).endswith(tail)
    assert esl_client.eof and not esl_client.events


async def test_sync_api_reply_comes_before_the_events_it_caused(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    """As recorded in esl-events-plain-all-c-uuid-kill: api/response, then CHANNEL_HANGUP."""
    uid = await fake_switch.inbound_call(answer=True)
    await esl_client.command("event plain ALL")
    reply = await esl_client.command(f"api uuid_kill {uid} NORMAL_CLEARING")
    assert reply.body == b"+OK\n"
    first = await esl_client.next_event()
    assert event_headers(first)["Event-Name"] == "CHANNEL_HANGUP"
    assert esl_client.all_messages.index(reply) < esl_client.all_messages.index(first)
    recorded = rec.received("esl-events-plain-all-c-uuid-kill.jsonl")
    i = next(i for i, r in enumerate(recorded) if r.ctype == "api/response")
    assert recorded[i + 1].event == "CHANNEL_HANGUP"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("event plain", "-ERR no keywords supplied"),
        ("event json CHANNEL_ANSWER", "+OK event listener enabled json"),
        ("nixevent CHANNEL_ANSWER", "+OK events nixed"),
        ("filter Unique-ID abc", "+OK filter added. [Unique-ID]=[abc]"),
        ("filter delete Unique-ID abc", "+OK filter deleted. [Unique-ID][abc]"),
        ("linger", "-ERR not controlling a session"),
        ("myevents", "-ERR command not found"),
        ("divert_events on", "-ERR not controlling a session."),
        (
            "sendmsg 00000000-0000-4000-8000-000000000000",
            "-ERR invalid session id [00000000-0000-4000-8000-000000000000]",
        ),
        ("noevents", "-ERR not listening for events"),
    ],
)
async def test_command_replies(esl_client: EslTestClient, command: str, reply: str) -> None:
    assert (await esl_client.command(command)).get("Reply-Text") == reply


async def test_commands_before_auth_are_refused(fake_switch: FakeFreeSwitch) -> None:
    client = await EslTestClient.connect(fake_switch.esl_port, password=None)
    assert (await client.next_reply()).content_type == "auth/request"
    assert (await client.command("api status")).get("Reply-Text") == "-ERR command not found"
    assert (await client.command("auth ClueCon")).get("Reply-Text") == "+OK accepted"
    assert (await client.command("api status")).content_type == "api/response"
    await client.close()


async def test_acl_rejection(fake_switch: FakeFreeSwitch) -> None:
    fake_switch.config.acl_reject = True
    client = await EslTestClient.connect(fake_switch.esl_port, password=None)
    await client.read_until_eof()
    assert bytes(client.raw).startswith(
        b"Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied"
    )
    assert client.eof
    await client.close()


async def test_filter_unique_id_hides_other_calls_and_background_jobs(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    keep = await fake_switch.inbound_call()
    other = await fake_switch.inbound_call()
    await esl_client.command("event plain CHANNEL_HANGUP BACKGROUND_JOB")
    await esl_client.command(f"filter Unique-ID {keep}")
    await esl_client.command("bgapi status")
    await esl_client.api(f"uuid_kill {other}")
    await esl_client.api(f"uuid_kill {keep}")
    event = await esl_client.next_event()
    assert event_headers(event)["Unique-ID"] == keep
    await asyncio.sleep(0.2)
    await esl_client.command("api status")
    assert not esl_client.events  # no other call's HANGUP, and BACKGROUND_JOB has no Unique-ID


async def test_custom_subclasses_and_json_format(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    reply = await esl_client.command("event json CHANNEL_PARK CUSTOM mod_audio_fork::json")
    assert reply.get("Reply-Text") == "+OK event listener enabled json"
    uid = await fake_switch.inbound_call()
    park = await esl_client.next_event()
    assert park.content_type == "text/event-json" and json.loads(park.body)["Unique-ID"] == uid
    ch = fake_switch.channel(uid)
    fake_switch.channel_event(ch, "CUSTOM", subclass="other::thing", body="x")
    fake_switch.channel_event(ch, "CUSTOM", subclass="mod_audio_fork::json", body='{"a":1}')
    event = await esl_client.next_event()
    assert json.loads(event.body)["Event-Subclass"] == "mod_audio_fork::json"
    assert list(json.loads(event.body))[:2] == ["Event-Subclass", "Event-Name"]
