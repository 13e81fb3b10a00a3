"""Hand-off by phone against the emulator: the operator's extension rings as a leg of
the caller's call, hears the briefing from the shared directory, then is bridged."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from callcontrol.handoff import BRIEFINGS, PhoneHandover
from callcontrol.hitl.base import HitlQuestion
from callcontrol.hitl.desk import OPERATORS_NS, PRESENCE_NS
from callcontrol.store.repos import HitlRepo, OperatorRepo
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import RecordingHandover, eventually, make_settings, running_service

pytestmark = pytest.mark.integration

BRIEFING = (np.sin(np.arange(8000) / 3) * 4000).astype("<i2").tobytes()  # 1 s at 8 kHz


def question(call_id: str) -> HitlQuestion:
    return HitlQuestion(
        call_id=call_id,
        question="Can I talk to a person?",
        reason="caller_request",
        caller_number="+15550100",
    )


async def operator_available(service, extension: str | None = "1001") -> str:  # type: ignore[no-untyped-def]
    op = await OperatorRepo(service.sessions).create("alice", "x", "operator", extension=extension)
    op = await service.presence.set_status(op, "available")
    await service.live.put(PRESENCE_NS, op.id, {"seen_at": time.time()})
    return op.id


async def test_the_caller_is_put_through_after_the_operator_hears_the_briefing(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    fake_switch.extensions["1001"] = Extension.answers(0.1)
    handover = RecordingHandover()
    shared = tmp_path / "shared"
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        calls={"recordings_dir": str(shared)},
        pipeline={"handoff_ring_s": 5},
    )
    async with running_service(settings, handover=handover) as service:
        op_id = await operator_available(service)
        uuid = await fake_switch.inbound_call(
            caller="+15550100", destination="5000", variables={"callcontrol_action": "bot"}
        )
        await handover.wait()
        phone = PhoneHandover(service)
        assert await phone.hand_off(question(uuid), BRIEFING, 8000) == "alice"
        [bridge] = fake_switch.events_for(uuid, "CHANNEL_BRIDGE")
        leg = fake_switch.channel(uuid).partner_uuid
        assert leg and fake_switch.channel(leg).variables.get("callcontrol_role") == "operator"
        # The operator heard the briefing, from the shared directory, before the bridge.
        played = [
            e
            for e in fake_switch.events_for(leg, "PLAYBACK_START")
            if (e.get("Playback-File-Path") or "").startswith(str(shared / BRIEFINGS))
        ]
        assert played and fake_switch.events.index(played[0]) < fake_switch.events.index(bridge)
        assert not list((shared / BRIEFINGS).glob("*.wav"))  # removed once played
        shared_view = await service.live.get(OPERATORS_NS, op_id)
        assert shared_view is not None and shared_view["status"] == "busy"
        await fake_switch.far_end_hangup(uuid)
        await service.controller.wait_finished(uuid, 5)

        async def back() -> bool:
            view = await service.live.get(OPERATORS_NS, op_id)
            return view is not None and view["status"] == "available"

        await eventually(back)  # available again once the call is over
        # The hand-off is kept like a typed answer: in the desk's figures and history.
        await service.flush()
        rows = await HitlRepo(service.sessions).list([], call_id=uuid)
        assert [(r.status, r.outcome, r.operator_id) for r in rows] == [
            ("answered", "phone", op_id)
        ]
        assert rows[0].question == "Can I talk to a person?" and rows[0].answered_at


async def test_nobody_answering_the_phone_leaves_the_call_to_the_text_desk(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    fake_switch.extensions["1001"] = Extension.never_answers()
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path, esl_port=fake_switch.esl_port, pipeline={"handoff_ring_s": 1}
    )
    async with running_service(settings, handover=handover) as service:
        await operator_available(service)
        uuid = await fake_switch.inbound_call(
            caller="+15550100", destination="5000", variables={"callcontrol_action": "bot"}
        )
        await handover.wait()
        assert await PhoneHandover(service).hand_off(question(uuid), BRIEFING, 8000) is None
        assert not fake_switch.events_for(uuid, "CHANNEL_BRIDGE")
        assert fake_switch.channel(uuid).up
        await service.flush()
        assert await HitlRepo(service.sessions).list([], call_id=uuid) == []  # the desk's now
        await fake_switch.far_end_hangup(uuid)


async def test_no_operator_with_a_phone_means_no_ringing(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    handover = RecordingHandover()
    settings = make_settings(tmp_path, esl_port=fake_switch.esl_port)
    async with running_service(settings, handover=handover) as service:
        await operator_available(service, extension=None)
        uuid = await fake_switch.inbound_call(
            caller="+15550100", destination="5000", variables={"callcontrol_action": "bot"}
        )
        await handover.wait()
        assert await PhoneHandover(service).hand_off(question(uuid), BRIEFING, 8000) is None
        assert [c for c in fake_switch.channels.values() if c.uuid != uuid] == []
        await fake_switch.far_end_hangup(uuid)


async def test_a_caller_hanging_up_while_the_operator_rings_frees_the_operator(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    import asyncio
    import contextlib

    fake_switch.extensions["1001"] = Extension.never_answers()
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path, esl_port=fake_switch.esl_port, pipeline={"handoff_ring_s": 30}
    )
    async with running_service(settings, handover=handover) as service:
        op_id = await operator_available(service)
        uuid = await fake_switch.inbound_call(
            caller="+15550100", destination="5000", variables={"callcontrol_action": "bot"}
        )
        await handover.wait()
        trying = asyncio.create_task(
            PhoneHandover(service).hand_off(question(uuid), BRIEFING, 8000)
        )

        def ringing() -> list[str]:
            return [c.uuid for c in fake_switch.channels.values() if c.uuid != uuid and c.up]

        [leg] = await eventually(ringing)
        view = await service.live.get(OPERATORS_NS, op_id)
        assert view is not None and view["status"] == "busy"  # nobody else rings this phone
        trying.cancel()  # what the dialog does when the caller hangs up
        with contextlib.suppress(asyncio.CancelledError):
            await trying
        await eventually(lambda: fake_switch.channel(leg).down)  # not left ringing

        async def free() -> bool:
            shared = await service.live.get(OPERATORS_NS, op_id)
            return shared is not None and shared["status"] == "available"

        await eventually(free)
        await fake_switch.far_end_hangup(uuid)
