"""A call for the bot when no bot can take it: refused with SIP 480 or sent to the
fallback, never answered into silence (the real service against the emulator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from callcontrol.store.models import CallEvent
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import RecordingHandover, eventually, make_settings, running_service

pytestmark = pytest.mark.integration

BOT = {"callcontrol_action": "bot", "callcontrol_owner": "acme"}


async def test_with_the_bot_disabled_a_call_for_it_is_refused_with_480(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)  # pipeline disabled
    async with running_service(settings) as service:
        uuid = await fake_switch.inbound_call(caller="+15550301", destination="5000", variables=BOT)
        record = await service.controller.wait_finished(uuid, 5)
        ch = fake_switch.channel(uuid)
        assert not ch.answered
        [complete] = fake_switch.events_for(uuid, "CHANNEL_HANGUP_COMPLETE")
        # SUBSCRIBER_ABSENT on an unanswered INVITE: sofia refuses it with 480.
        assert complete.get("Hangup-Cause") == "SUBSCRIBER_ABSENT"
        assert complete.get("variable_sip_hangup_disposition") == "send_refuse"
        assert record.hangup_cause == "SUBSCRIBER_ABSENT" and record.answer_at is None
        await service.flush()
        async with service.sessions() as session:
            events = (
                await session.execute(select(CallEvent).where(CallEvent.call_id == uuid))
            ).scalars()
            refused = [e for e in events if e.name == "route_refused"]
        assert refused and "pipeline.enabled" in json.dumps(refused[0].data)


async def test_when_the_models_failed_a_call_goes_to_the_fallback(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    fake_switch.extensions["1002"] = Extension.answers(0.1)
    handover = RecordingHandover()
    handover.refused = "the voice models failed to load: no Whisper"
    settings = make_settings(
        tmp_path, esl_port=fake_switch.esl_port, calls={"bot_fallback": "1002"}
    )
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(caller="+15550302", destination="5000", variables=BOT)
        await eventually(lambda: bool(fake_switch.events_for(uuid, "CHANNEL_BRIDGE")))
        assert handover.handles == []  # the bot never got it
        ch = fake_switch.channel(uuid)
        assert ch.profile is not None and ch.profile.destination_number == "1002"
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)


async def test_a_bot_that_is_there_takes_the_call(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path, esl_port=fake_switch.esl_port, calls={"bot_fallback": "1002"}
    )
    async with running_service(settings, handover=handover) as service:
        uuid = await fake_switch.inbound_call(caller="+15550303", destination="5000", variables=BOT)
        await handover.wait()
        assert fake_switch.channel(uuid).answered
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)
