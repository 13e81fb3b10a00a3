"""The payment-reminder flow end to end: a campaign dials two contacts through the
emulator, the bot reads each their debt, and real speech recognition hears one say
"Yes, I can." and the other "No, I can't." then "Next Friday." — each contact keeps
what it promised."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcontrol.app import Service
from callcontrol.dialog.machine import State
from callcontrol.flows.store import FlowStore
from callcontrol.store.models import Contact
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.fakes.freeswitch.scenarios import Extension
from tests.harness import eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.asyncio(loop_scope="module"),
]

AUDIO = Path(__file__).parents[2] / "data" / "audio"
EXAMPLE = Path(str(resources.files("callcontrol.flows") / "examples")) / "payment_reminder.yaml"


async def listening_after(service: Service, call_id: str, bot_turns: int) -> Any:
    """The call's session once the bot has said ``bot_turns`` things and listens."""
    session = await eventually(lambda: service.bot.session(call_id), timeout=60)
    await eventually(
        lambda: (
            session.machine.state is State.LISTENING
            and len([t for t in session.turns if t["speaker"] == "bot"]) >= bot_turns
        ),
        timeout=90,
    )
    return session


async def contact(service: Service, phone: str) -> Contact:
    async with service.sessions() as s:
        return (await s.execute(select(Contact).where(Contact.phone == phone))).scalar_one()


async def test_the_payment_reminder_hears_a_yes_and_a_no_with_a_date(
    switch: FakeFreeSwitch, bot_service: Service
) -> None:
    row = await FlowStore(bot_service.sessions).save(EXAMPLE.read_text(), owner="acme")
    for digits in ("14155550701", "14155550702"):
        switch.extensions[digits] = Extension.answers(0.05)
    store = bot_service.campaigns
    campaign = await store.create(
        name="reminders",
        owner="acme",
        dialstring="user/{digits}",
        cps=2.0,
        max_concurrent=1,
        ring_s=5,
        flow_id=row.id,
    )
    due = (date.today() + timedelta(days=7)).isoformat()
    csv = (
        "name,phone,amount,due_date,loan_id,agent_extension\n"
        f"Dana,+14155550701,125.50,{due},4017,1001\n"
        f"Omar,+14155550702,80,{due},5522,1001\n"
    ).encode()
    assert (await store.upload(campaign.id, csv, "contacts.csv")).failed == 0
    await store.change(campaign.id, "start")

    # Dana: the opening, then "Yes, I can."
    dana = await eventually(lambda: _called(bot_service, "+14155550701"), timeout=60)
    session = await listening_after(bot_service, dana, 1)
    opening = [t["text"] for t in session.turns if t["speaker"] == "bot"][0]
    assert opening.startswith("Hello Dana, this is Northgate Finance")
    assert "one hundred and twenty-five dollars, fifty cents" in opening
    switch.caller_says(dana, AUDIO / "flow_yes.wav")
    await bot_service.controller.wait_finished(dana, 90)
    said = [t["text"] for t in session.turns if t["speaker"] == "bot"]
    assert said[-1].startswith("Thank you, Dana. We have noted that you will pay by")
    kept = await eventually(lambda: _flow_result(bot_service, "+14155550701"), timeout=20)
    assert kept["outcome"] == "will_pay" and kept["fields"] == {"can_pay": "yes"}

    # Omar: "No, I can't.", then the date he can pay.
    omar = await eventually(lambda: _called(bot_service, "+14155550702"), timeout=60)
    session = await listening_after(bot_service, omar, 1)
    switch.caller_says(omar, AUDIO / "flow_no.wav")
    session = await listening_after(bot_service, omar, 2)
    asked = [t["text"] for t in session.turns if t["speaker"] == "bot"][-1]
    assert asked == "I understand. On what date will you be able to pay?"
    switch.caller_says(omar, AUDIO / "flow_friday.wav")
    await bot_service.controller.wait_finished(omar, 90)
    kept = await eventually(lambda: _flow_result(bot_service, "+14155550702"), timeout=20)
    assert kept["outcome"] == "promised", kept
    promised = date.fromisoformat(kept["fields"]["promised_date"])
    today = datetime.now(UTC).date()
    assert promised.weekday() == 4 and today < promised <= today + timedelta(days=14)
    assert kept["fields"]["can_pay"] == "no"
    # Each contact's attempt settles as completed, the flow's result beside it.
    final = await eventually(
        lambda: _status(bot_service, ("+14155550701", "+14155550702")), timeout=30
    )
    assert final == ["completed", "completed"]
    exported = await store.export_csv(campaign.id)
    header, *lines = exported.splitlines()
    assert header.endswith("flow_outcome,flow.can_pay,flow.promised_date")
    assert lines[0].endswith("will_pay,yes,") and f"promised,no,{promised}" in lines[1]


async def _called(service: Service, phone: str) -> str | None:
    row = await contact(service, phone)
    return row.last_call_id if row.status == "in_progress" else None


async def _flow_result(service: Service, phone: str) -> dict[str, Any] | None:
    row = await contact(service, phone)
    flow = (row.outcome or {}).get("flow") or {}
    return flow if flow.get("outcome") else None


async def _status(service: Service, phones: tuple[str, ...]) -> list[str] | None:
    rows = [await contact(service, p) for p in phones]
    statuses = [r.status for r in rows]
    return statuses if all(s == "completed" for s in statuses) else None


DELIVERY = EXAMPLE.parent / "delivery_confirmation.yaml"


async def test_delivery_keys_a_slot_and_a_wrong_address_goes_to_the_team(
    switch: FakeFreeSwitch, bot_service: Service
) -> None:
    row = await FlowStore(bot_service.sessions).save(DELIVERY.read_text(), owner="acme")
    for digits in ("14155550801", "14155550802"):
        switch.extensions[digits] = Extension.answers(0.05)
    switch.extensions["1002"] = Extension.answers(0.3)  # the delivery team's phone
    store = bot_service.campaigns
    campaign = await store.create(
        name="deliveries",
        owner="acme",
        dialstring="user/{digits}",
        cps=2.0,
        max_concurrent=1,
        ring_s=5,
        flow_id=row.id,
    )
    day = (date.today() + timedelta(days=2)).isoformat()
    csv = (
        "name,phone,order_id,address,date,agent_extension\n"
        f"Lee,+14155550801,77,4 Elm Road,{day},1002\n"
        f"Kim,+14155550802,78,9 Oak Lane,{day},1002\n"
    ).encode()
    assert (await store.upload(campaign.id, csv, "contacts.csv")).failed == 0
    await store.change(campaign.id, "start")

    # Lee: yes to the address, 1 on the keypad, no more questions.
    lee = await eventually(lambda: _called(bot_service, "+14155550801"), timeout=60)
    session = await listening_after(bot_service, lee, 1)
    switch.caller_says(lee, AUDIO / "flow_yes.wav")
    session = await listening_after(bot_service, lee, 2)
    assert [t["text"] for t in session.turns if t["speaker"] == "bot"][-1].startswith("Press 1")
    await switch.caller_dtmf(lee, "1")
    session = await listening_after(bot_service, lee, 3)
    offered = [t["text"] for t in session.turns if t["speaker"] == "bot"][-1]
    assert offered.startswith("Your delivery is booked for the morning.")
    switch.caller_says(lee, AUDIO / "flow_no.wav")  # "No, I can't." — no more questions
    await bot_service.controller.wait_finished(lee, 90)
    kept = await eventually(lambda: _flow_result(bot_service, "+14155550801"), timeout=20)
    assert kept["outcome"] == "confirmed", kept
    assert kept["fields"]["slot"] == "1" and kept["fields"]["slot_name"] == "morning"

    # Kim: no, the address is wrong: put through to the team's phone.
    kim = await eventually(lambda: _called(bot_service, "+14155550802"), timeout=60)
    await listening_after(bot_service, kim, 1)
    switch.caller_says(kim, AUDIO / "flow_no.wav")
    await eventually(lambda: switch.events_for(kim, "CHANNEL_BRIDGE"), timeout=60)
    async with bot_service.sessions() as s:
        status = (
            await s.execute(select(Contact.status).where(Contact.phone == "+14155550802"))
        ).scalar_one()
    assert status == "agent_transfer"
    kept = await eventually(lambda: _flow_result(bot_service, "+14155550802"), timeout=20)
    assert kept["outcome"] == "wrong_address"
    await switch.far_end_hangup(kim)
    await bot_service.controller.wait_finished(kim, 30)
    final = await eventually(lambda: _status(bot_service, ("+14155550802",)), timeout=30)
    assert final == ["completed"]
