"""Call control end to end: the real service against the FreeSWITCH emulator over TCP."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from callcontrol.calls.machine import LegState
from callcontrol.errors import CallError, EslCommandError
from callcontrol.store.models import Call as CallRow
from callcontrol.store.models import CallEvent, Cdr
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.events import Event
from tests.fakes.freeswitch.scenarios import Extension
from tests.fakes.freeswitch.wire import event_message
from tests.harness import RecordingHandover, eventually, make_settings, running_service

pytestmark = pytest.mark.integration


async def cdrs(service) -> list[Cdr]:  # type: ignore[no-untyped-def]
    await service.flush()
    async with service.sessions() as session:
        return list((await session.execute(select(Cdr))).scalars())


async def _inbound_bot_call_leaves_a_cdr(
    fake_switch: FakeFreeSwitch, tmp_path: Path, database_url: str
) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, database_url=database_url, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(
            caller="+15550001",
            destination="5000",
            variables={"callcontrol_action": "bot", "callcontrol_owner": "acme"},
        )
        await handover.wait()
        handle = handover.handles[0]
        assert handle.id == uuid
        assert handle.call.state is LegState.BOT
        await fake_switch.wait_for_channel_state(uuid, "CS_EXECUTE")
        assert fake_switch.channel(uuid).answered
        await asyncio.sleep(0.3)
        await fake_switch.far_end_hangup(uuid, "NORMAL_CLEARING")
        record = await service.controller.wait_finished(uuid, 5)
        assert record.handled_by == "bot" and record.outcome == "bot"
        rows = await cdrs(service)
        assert len(rows) == 1
        row = rows[0]
        assert (row.call_id, row.caller, row.callee, row.owner) == (
            uuid,
            "+15550001",
            "5000",
            "acme",
        )
        assert row.direction == "inbound" and row.hangup_cause == "NORMAL_CLEARING"
        assert row.answer_at is not None and row.end_at >= row.answer_at
        async with service.sessions() as session:
            call = await session.get(CallRow, uuid)
            events = list(
                (await session.execute(select(CallEvent).where(CallEvent.call_id == uuid)))
                .scalars()
                .all()
            )
        assert call is not None and call.state == "hangup" and call.handled_by == "bot"
        names = [e.name for e in sorted(events, key=lambda e: e.at)]
        for expected in ("CHANNEL_CREATE", "CHANNEL_PARK", "CHANNEL_ANSWER", "handover_to_bot"):
            assert expected in names
        assert names.index("CHANNEL_PARK") < names.index("CHANNEL_ANSWER")
        assert "CHANNEL_HANGUP_COMPLETE" in names
    # The same CDR is in the day's JSON Lines file.
    lines = [
        json.loads(line)
        for path in (settings.data_dir / "cdr").glob("cdr-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [line["call_id"] for line in lines] == [uuid]


async def test_inbound_bot_call_leaves_a_cdr_in_sqlite(
    fake_switch: FakeFreeSwitch, tmp_path: Path, sqlite_url: str
) -> None:
    await _inbound_bot_call_leaves_a_cdr(fake_switch, tmp_path, sqlite_url)


@pytest.mark.postgres
async def test_inbound_bot_call_leaves_a_cdr_in_postgres(
    fake_switch: FakeFreeSwitch, tmp_path: Path, postgres_url: str
) -> None:
    await _inbound_bot_call_leaves_a_cdr(fake_switch, tmp_path, postgres_url)


async def test_originate_answer_hangup(fake_switch: FakeFreeSwitch, tmp_path: Path) -> None:
    fake_switch.extensions["2001"] = Extension.answers(0.2)
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings) as service:
        started = time.monotonic()
        uuid = await service.controller.originate("user/2001", owner="acme", timeout_s=10)
        assert time.monotonic() - started >= 0.2  # returns once answered
        handle = service.controller.handle(uuid)
        await eventually(lambda: handle.call.state is LegState.ANSWERED)
        await handle.hangup("NORMAL_CLEARING")
        record = await service.controller.wait_finished(uuid, 5)
        assert record.direction == "outbound" and record.callee == "2001"
        assert record.hangup_cause == "NORMAL_CLEARING" and record.answer_at is not None
        assert [r.call_id for r in await cdrs(service)] == [uuid]


async def test_stopping_playback_on_a_channel_that_is_gone_is_not_an_error(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    """A caller hanging up during the bot's reply: the barge-in/cleanup ``uuid_break``
    meets "-ERR No such channel!", which is the normal end of a call, not a failure."""
    fake_switch.extensions["2001"] = Extension.answers(0.0)
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings) as service:
        uuid = await service.controller.originate("user/2001", owner="acme", timeout_s=10)
        handle = service.controller.handle(uuid)
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)
        await handle.stop_playback()  # raised EslCommandError before
        with pytest.raises(EslCommandError, match="invalid uuid"):
            await handle.play("silence_stream://100")  # a real failure still raises


@pytest.mark.parametrize(
    ("extension", "cause"),
    [(Extension.busy(), "USER_BUSY"), (Extension.unregistered(), "USER_NOT_REGISTERED")],
)
async def test_failed_originate_raises_and_still_leaves_a_cdr(
    fake_switch: FakeFreeSwitch, tmp_path: Path, extension: Extension, cause: str
) -> None:
    fake_switch.extensions["2002"] = extension
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings) as service:
        with pytest.raises(CallError, match=cause):
            await service.controller.originate("user/2002", timeout_s=5)
        rows = await eventually(lambda: cdrs(service))
        assert len(rows) == 1 and rows[0].hangup_cause == cause and rows[0].billsec_s == 0


async def test_no_answer_takeover_after_the_configured_seconds(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    fake_switch.extensions["1001"] = Extension.never_answers()
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        calls={"no_answer_timeout": 10, "no_answer_timeouts": {"1001": 1.2}},
    )
    async with running_service(settings, handover=handover) as service:
        parked_at = time.monotonic()
        uuid = await fake_switch.inbound_call(
            caller="1000",
            destination="1001",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "1001"},
        )
        await handover.wait(timeout=5)
        waited = time.monotonic() - parked_at
        assert waited >= 1.2, waited  # not before the extension's ring time
        call = handover.handles[0].call
        assert call.state is LegState.BOT
        ring_legs = [leg for leg in call.legs.values() if leg.role == "extension"]
        assert len(ring_legs) == 1
        ring = ring_legs[0]
        # The ringing leg was cancelled, the caller answered and handed over.
        await eventually(lambda: ring.state is LegState.HANGUP)
        assert ring.hangup_cause == "ORIGINATOR_CANCEL"
        assert fake_switch.channel(uuid).answered
        names = [e.name for e in call.timeline]
        assert names.index("ring_extension") < names.index("no_answer_takeover")
        takeover = next(e for e in call.timeline if e.name == "no_answer_takeover")
        assert takeover.data["reason"] == "no answer"
        await fake_switch.far_end_hangup(uuid)
        record = await service.controller.wait_finished(uuid, 5)
        assert record.handled_by == "bot"


async def test_answered_extension_is_bridged_not_taken_over(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    fake_switch.extensions["1002"] = Extension.answers(0.3)
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(
            destination="1002",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "1002"},
        )
        actor_call = await eventually(lambda: service.controller.calls.get(uuid))
        await eventually(lambda: actor_call.state is LegState.BRIDGED)
        assert not handover.handles
        assert actor_call.handled_by == "human"
        await fake_switch.far_end_hangup(uuid)
        record = await service.controller.wait_finished(uuid, 5)
        assert record.outcome == "human"


async def test_busy_extension_is_taken_over_at_once(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    fake_switch.extensions["1003"] = Extension.busy(0.1)
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover):
        await fake_switch.inbound_call(
            destination="1003",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "1003"},
        )
        await handover.wait(timeout=8)  # well inside the 10 s ring time
        takeover = next(
            e for e in handover.handles[0].call.timeline if e.name == "no_answer_takeover"
        )
        assert "USER_BUSY" in takeover.data["reason"]  # the busy leg, not the ring timer


async def test_an_extension_that_cannot_be_dialled_is_taken_over_not_left_parked(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    """A callcontrol_extension FreeSWITCH would misread (a space splits the originate)
    used to leave the caller parked for good: no leg, no ring timer, no takeover."""
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover):
        uuid = await fake_switch.inbound_call(
            destination="1004",
            context="default",
            variables={"callcontrol_action": "extension", "callcontrol_extension": "10 04"},
        )
        await handover.wait(timeout=8)
        call = handover.handles[0].call
        assert call.id == uuid and call.state is LegState.BOT
        names = [e.name for e in call.timeline]
        assert "ring_refused" in names and "no_answer_takeover" in names
        takeover = next(e for e in call.timeline if e.name == "no_answer_takeover")
        assert "cannot be dialled" in takeover.data["reason"]
        assert not [c for c in fake_switch.live_channels() if c.uuid != uuid]  # nothing rang


async def test_restart_mid_call_reconciles_and_still_writes_the_cdr(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover) as service:
        ended = await fake_switch.inbound_call(variables={"callcontrol_action": "bot"})
        kept = await fake_switch.inbound_call(variables={"callcontrol_action": "bot"})
        await handover.wait(2)
        started_meanwhile: list[str] = []

        async def during(sw: FakeFreeSwitch) -> None:
            started_meanwhile.append(
                await sw.inbound_call(variables={"callcontrol_action": "bot"}, caller="3333")
            )

        # FreeSWITCH goes away; one call ends and a new one starts while nobody listens.
        await fake_switch.restart(down_for=0.5, hangup=[ended], during=during)
        record = await service.controller.wait_finished(ended, 10)
        assert record.hangup_cause == "UNKNOWN"
        assert service.inbound is not None and service.inbound.status.connects >= 2
        # The call that started meanwhile was adopted and routed to the bot.
        await handover.wait(3, timeout=10)
        assert started_meanwhile[0] in {h.id for h in handover.handles}
        assert kept in service.controller.calls
        timeline = [e.name for e in handover.handles[0].call.timeline]
        assert "reconciled_hangup" in timeline
        rows = await cdrs(service)
        assert [r.call_id for r in rows] == [ended]
        # Still controlling calls after the reconnect.
        await fake_switch.far_end_hangup(kept)
        await service.controller.wait_finished(kept, 5)
        health = service.health()
        assert health["esl"]["state"] == "connected"


async def test_malformed_esl_input_is_logged_and_the_service_keeps_running(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover) as service:
        inbound = service.inbound
        assert inbound is not None
        faults = fake_switch.faults
        uuid = await fake_switch.inbound_call(variables={"callcontrol_action": "bot"})
        await handover.wait()
        call = handover.handles[0].call
        # Garbage bytes and a header block with a non-numeric Content-Length.
        faults.send_raw(b"\x00\xff\xfe garbage\x01 with no colon\n\n")
        faults.send_raw(b"Content-Type: text/event-plain\nContent-Length: nope\n\n")
        await eventually(lambda: inbound.status.protocol_errors >= 2)
        # An event fed one byte at a time arrives whole.
        dtmf = Event(
            (
                ("Event-Name", "DTMF"),
                ("Unique-ID", uuid),
                ("DTMF-Digit", "7"),
                ("DTMF-Duration", "2000"),
            ),
            None,
        )
        await faults.dribble(event_message(dtmf.serialize_plain(), "plain"))
        entry = await eventually(lambda: [e for e in call.timeline if e.name == "DTMF"])
        assert entry[0].data["DTMF-Digit"] == "7"
        # An event whose Content-Length is too short: its tail is read as a bogus next
        # message and dropped; the stream resynchronises and the next event arrives.
        errors = inbound.status.protocol_errors
        faults.event_with_wrong_length(dtmf, -30)
        faults.send_raw(b"\n\n")
        later = Event((("Event-Name", "DTMF"), ("Unique-ID", uuid), ("DTMF-Digit", "9")), None)
        faults.send_raw(event_message(later.serialize_plain(), "plain"))
        await eventually(
            lambda: any(e.data.get("DTMF-Digit") == "9" for e in call.timeline if e.name == "DTMF")
        )
        assert inbound.status.protocol_errors > errors
        assert inbound.connected
        second = await fake_switch.inbound_call(variables={"callcontrol_action": "bot"})
        await handover.wait(2, timeout=5)
        assert handover.handles[1].id == second
        # A truncated frame then a close: the service reconnects and carries on.
        connects = inbound.status.connects
        await faults.truncate_and_close(
            b"Content-Length: 500\nContent-Type: text/event-plain\n\nEv", 60
        )
        await eventually(lambda: inbound.status.connects > connects, timeout=5)
        third = await fake_switch.inbound_call(variables={"callcontrol_action": "bot"})
        await handover.wait(3, timeout=5)
        assert handover.handles[2].id == third
        assert service.health()["esl"]["protocol_errors"] >= 3


async def test_the_dialplans_language_reaches_the_bot_and_the_call_record(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(
            caller="+821012345678",
            destination="5000",
            variables={"callcontrol_action": "bot", "callcontrol_language": "ko"},
        )
        await handover.wait()
        assert handover.handles[0].call.language == "ko"
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)
        await service.flush()
        async with service.sessions() as session:
            row = await session.get(CallRow, uuid)
        assert row is not None and row.language == "ko"
