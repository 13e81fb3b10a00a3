"""Call control commands: transfer, bridge, record, variables, answer, fsctl, sendmsg."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from tests.emulator.test_audio_fork import peak_hz
from tests.fakes.freeswitch import Audio, Extension, FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient, event_headers
from tests.fakes.freeswitch.media import read_wav


async def test_dialplan_variables_reach_the_park_event(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    await esl_client.command("event plain CHANNEL_EXECUTE CHANNEL_PARK")
    uid = await fake_switch.inbound_call(
        caller="+15551230000",
        destination="5000",
        variables={"callcontrol_action": "bot", "callcontrol_owner": "alice@example.com"},
    )
    sets = []
    while True:
        headers = event_headers(await esl_client.next_event())
        if headers["Event-Name"] == "CHANNEL_PARK":
            break
        sets.append(headers.get("Application-Data", headers["Application"]))
    assert sets[:2] == ["outside_call=true", f"RFC2822_DATE={sets[1].split('=', 1)[1]}"]
    assert sets[2:] == ["callcontrol_action=bot", "callcontrol_owner=alice@example.com", "park"]
    assert headers["variable_callcontrol_action"] == "bot"
    assert headers["variable_callcontrol_owner"] == "alice@example.com"
    assert (
        headers["Caller-Caller-ID-Number"] == "+15551230000"
        and headers["Caller-Destination-Number"] == "5000"
    )
    assert headers["Channel-Call-UUID"] == uid and headers["Answer-State"] == "ringing"
    raw_park = esl_client.all_messages[-1].raw
    assert b"variable_callcontrol_owner: alice%40example.com\n" in raw_park


async def test_uuid_answer_inbound_and_outbound(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    uid = await fake_switch.inbound_call()
    assert await esl_client.api(f"uuid_answer {uid}") == "+OK\n"
    assert fake_switch.channel(uid).call_state == "ACTIVE"
    assert await esl_client.api(f"uuid_answer {uid}") == "+OK\n"
    assert [e.name for e in fake_switch.events_for(uid, "CHANNEL_ANSWER")] == ["CHANNEL_ANSWER"]
    assert await esl_client.api("uuid_answer 00000000-0000-4000-8000-000000000000") == "-ERROR\n"
    fake_switch.extensions["3000"] = Extension.never_answers()
    await esl_client.command("bgapi originate user/3000 &park()")
    await fake_switch.wait_until(
        lambda: any(c.direction == "outbound" for c in fake_switch.channels.values())
    )
    leg = next(c for c in fake_switch.channels.values() if c.direction == "outbound")
    assert (
        await esl_client.api(f"uuid_answer {leg.uuid}") == "-ERROR\n"
    )  # only the far end can answer
    assert await esl_client.api(f"uuid_kill {leg.uuid}") == "+OK\n"


async def test_transfer_runs_the_new_extension(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    fake_switch.dialplans["7000"] = [
        ("answer", ""),
        ("playback", "silence_stream://100"),
        ("hangup", "USER_BUSY"),
    ]
    uid = await fake_switch.inbound_call()
    assert await esl_client.api(f"uuid_transfer {uid} 7000 XML public") == "+OK\n"
    await fake_switch.wait_for_channel_state(uid, "destroyed")
    names = [
        (e.name, e.get("Application") or e.get("Channel-State"))
        for e in fake_switch.events_for(uid)
    ]
    i = names.index(("CHANNEL_UNPARK", "CS_EXECUTE"))
    assert names[i + 1 : i + 5] == [
        ("CHANNEL_EXECUTE_COMPLETE", "park"),
        ("CHANNEL_STATE", "CS_ROUTING"),
        ("CHANNEL_STATE", "CS_EXECUTE"),
        ("CHANNEL_EXECUTE", "answer"),
    ]
    last = fake_switch.events_for(uid, "CHANNEL_HANGUP_COMPLETE")[0]
    assert (
        last.get("Caller-Destination-Number") == "7000" and last.get("Caller-Profile-Index") == "2"
    )
    assert last.get("Hangup-Cause") == "USER_BUSY"
    other = await fake_switch.inbound_call()
    assert await esl_client.api(f"uuid_transfer {other} 404404") == "+OK\n"
    await fake_switch.wait_for_channel_state(other, "destroyed")
    assert fake_switch.channel(other).hangup_cause == "NO_ROUTE_DESTINATION"
    assert await esl_client.api(f"uuid_transfer {other} 1") == "-ERR No such channel!\n"


async def test_uuid_bridge_and_unbridge(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    await esl_client.command("event plain CHANNEL_BRIDGE CHANNEL_UNBRIDGE")
    a = await fake_switch.inbound_call(answer=True, caller="1001")
    b = await fake_switch.inbound_call(answer=True, caller="1002")
    assert await esl_client.api(f"uuid_bridge {a} {b}") == f"+OK {b}\n"
    bridge = event_headers(await esl_client.next_event("CHANNEL_BRIDGE"))
    assert (
        bridge["Unique-ID"] == a
        and bridge["Other-Leg-Unique-ID"] == b
        and bridge["Other-Type"] == "originatee"
    )
    assert (bridge["Bridge-A-Unique-ID"], bridge["Bridge-B-Unique-ID"]) == (a, b)
    calls = json.loads(await esl_client.api("show calls as json"))
    assert calls["row_count"] == 1 and calls["rows"][0]["b_uuid"] == b
    await fake_switch.far_end_hangup(b)
    unbridge = event_headers(await esl_client.next_event("CHANNEL_UNBRIDGE"))
    assert unbridge["Unique-ID"] == a
    await fake_switch.wait_for_channel_state(a, "destroyed")
    assert await esl_client.api(f"uuid_bridge {a} {b}") == "-ERR Invalid uuid\n"


async def test_bridge_app_to_an_extension_with_audio(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    fake_switch.extensions["8000"] = Extension.answers(
        after=0.1, audio=Audio.tone(600, 1.0), hangup_after=0.5
    )
    fake_switch.dialplans["8000"] = [("bridge", "user/8000")]
    uid = await fake_switch.inbound_call(destination="8000", app="bridge", app_arg="user/8000")
    await fake_switch.wait_for_channel_state(uid, "destroyed", timeout=5)
    ch = fake_switch.channel(uid)
    assert ch.answered and ch.hangup_cause == "NORMAL_CLEARING"
    legs = [c for c in fake_switch.ended.values() if c.direction == "outbound"]
    assert len(legs) == 1 and legs[0].answered


async def test_uuid_record_writes_the_call(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, tmp_path: Path
) -> None:
    uid = await fake_switch.inbound_call(
        answer=True, audio=Audio.tone(400, 2.0), voice_starts="now"
    )
    path = tmp_path / "rec" / "call.wav"
    assert await esl_client.api(f"uuid_record {uid} start {path}") == "+OK Success\n"
    await asyncio.sleep(0.5)
    assert await esl_client.api(f"uuid_record {uid} stop {path}") == "+OK Success\n"
    assert (
        await esl_client.api(f"uuid_record {uid} stop {path}")
        == "-ERR Cannot stop record session!\n"
    )
    start, stop = (
        fake_switch.events_for(uid, "RECORD_START"),
        fake_switch.events_for(uid, "RECORD_STOP"),
    )
    assert start[0].get("Record-File-Path") == stop[0].get("Record-File-Path") == str(path)
    samples, rate = read_wav(path)
    assert rate == 8000 and 3600 <= len(samples) <= 4400
    assert abs(peak_hz(samples, rate) - 400) < 10 and np.abs(samples).max() > 5000
    assert await esl_client.api(f"uuid_record 1 start {path}") == "-ERR Cannot locate session!\n"


async def test_variables_dtmf_and_misc_api(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    uid = await fake_switch.inbound_call()
    assert await esl_client.api(f"uuid_setvar {uid} greeting hello") == "+OK\n"
    assert await esl_client.api(f"uuid_getvar {uid} greeting") == "hello"
    assert await esl_client.api(f"uuid_getvar {uid} nothing") == "_undef_"
    assert await esl_client.api(f"uuid_send_dtmf {uid} 123#") == f"+OK {uid} sent DTMF 123#.\n"
    assert fake_switch.channel(uid).sent_dtmf == ["123#"]
    assert await esl_client.api("fsctl max_sessions 20") == "+OK max sessions: 20\n"
    assert await esl_client.api("fsctl max_sessions") == "+OK max sessions: 20\n"
    assert await esl_client.api("fsctl sps 5") == "+OK sessions per second: 5\n"
    status = await esl_client.api("status")
    assert (
        "1 session(s) since startup\n1 session(s) - peak 1" in status
        and "20 session(s) max" in status
    )
    assert await esl_client.api("show channels count") == "\n1 total.\n"
    text = await esl_client.api("show channels")
    assert text.startswith("uuid,direction,created,") and text.endswith("\n\n1 total.\n")
    assert await esl_client.api(f"uuid_exists {uid}") == "true"


async def test_sendmsg_from_an_inbound_connection(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    uid = await fake_switch.inbound_call()
    assert (await esl_client.sendmsg(uid, "answer")).get("Reply-Text") == "+OK"
    await fake_switch.wait_for_channel_state(uid, "ACTIVE")
    body = "silence_stream://50"
    reply = await esl_client.command(
        f"sendmsg {uid}\ncall-command: execute\nexecute-app-name: playback\n"
        f"content-type: text/plain\ncontent-length: {len(body)}\n\n{body}"
    )
    assert reply.get("Reply-Text") == "+OK"
    await fake_switch.wait_for_event("PLAYBACK_STOP", uuid=uid)
    assert fake_switch.events_for(uid, "PLAYBACK_START")[0].get("Playback-File-Path") == body
    reply = await esl_client.command(
        f"sendmsg {uid}\ncall-command: hangup\nhangup-cause: CALL_REJECTED"
    )
    assert reply.get("Reply-Text") == "+OK"
    await fake_switch.wait_for_channel_state(uid, "destroyed")
    assert fake_switch.channel(uid).hangup_cause == "CALL_REJECTED"


async def test_myevents_uuid_on_an_inbound_connection(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient
) -> None:
    uid = await fake_switch.inbound_call()
    other = await fake_switch.inbound_call()
    assert (await esl_client.command(f"myevents {uid} json")).get(
        "Reply-Text"
    ) == "+OK Events Enabled"
    await esl_client.api(f"uuid_answer {other}")
    await esl_client.api(f"uuid_answer {uid}")
    event = await esl_client.next_event()
    assert event.content_type == "text/event-json" and json.loads(event.body)["Unique-ID"] == uid
    assert all(json.loads(m.body)["Unique-ID"] == uid for m in esl_client.events)
