"""The loop the post-call analysis closes: a person states a fact in a call, the call's
analysis proposes it, an operator approves it in the console, and the bot answers the
next caller with it (real models, the emulator, the console over HTTP)."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcontrol.app import Service
from callcontrol.store.models import ActionItem, Call, CallSummary, KnowledgeProposal
from callcontrol.store.models import TranscriptSegment as SegmentRow
from tests.console.conftest import Console, add_user, serve
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.integration.dialog.test_bot_calls import reply_after, start_call

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio"

PERSON_CALL = [
    ("caller", "Hi, I wanted to ask about your hours, can I come in on the weekend?"),
    ("agent", "Sure. Just so you know, the shop is open from nine to one on Sundays."),
    ("caller", "Great, I'll come by on Sunday then."),
    ("agent", "I'll put a note on your order for the pickup."),
]


async def test_an_approved_fact_from_a_call_answers_the_next_caller(
    switch: FakeFreeSwitch, bot_service: Service, transcribe: Any
) -> None:
    call_id = str(uuidlib.uuid4())
    async with bot_service.sessions() as s:
        s.add(Call(id=call_id, owner="acme", handled_by="human", caller_number="+15550050"))
        s.add_all(
            SegmentRow(
                call_id=call_id,
                channel="caller" if who == "caller" else "other",
                speaker=who,
                start_s=i * 4.0,
                end_s=i * 4.0 + 3.5,
                text=text,
            )
            for i, (who, text) in enumerate(PERSON_CALL)
        )
        await s.commit()
    # As the service runs it: the rules, then the gate on the loaded e5.
    assert bot_service.postcall_worker is not None
    result, owner = await bot_service.postcall_worker.run(call_id)
    assert owner == "acme"
    async with bot_service.sessions() as s:
        summary = await s.get(CallSummary, call_id)
        items = list(
            (await s.execute(select(ActionItem).where(ActionItem.call_id == call_id))).scalars()
        )
        [proposal] = list(
            (
                await s.execute(
                    select(KnowledgeProposal).where(KnowledgeProposal.call_id == call_id)
                )
            ).scalars()
        )
    assert summary is not None and "hours" in summary.summary
    # The agent's promise is a task; the caller's own plan ("I'll come by on Sunday")
    # is not one the business asked for: the gate drops it, as the annotation guide does.
    assert [(i.assignee, i.evidence) for i in items] == [
        ("agent", "I'll put a note on your order for the pickup.")
    ]
    segment_ids = set(summary.sources)
    assert segment_ids and all(i.segment_id for i in items)
    assert proposal.text == "The shop is open from nine to one on Sundays."
    assert proposal.category == "faq" and proposal.status == "pending"

    # An operator approves it in the console.
    await add_user(bot_service, "olga")
    async with serve(bot_service) as url:
        console = Console(bot_service, url)
        try:
            client, _ = await console.signed_in("olga")
            shown = (await client.get(f"/api/calls/{call_id}/postcall")).json()
            assert shown["summary"] == summary.summary
            assert shown["proposals"][0]["evidence"] in PERSON_CALL[1][1]  # its words
            approved = await client.post(f"/api/proposals/{proposal.id}/approve", json={})
            assert approved.status_code == 200, approved.text
            assert approved.json()["status"] == "approved" and approved.json()["kb_doc_id"]
            again = await client.post(f"/api/proposals/{proposal.id}/reject")
            assert again.status_code == 409  # decided once
        finally:
            await console.aclose()

    # The next caller asks; the bot answers from the approved fact.
    uuid = await start_call(switch, bot_service, "acme", "+15550051")
    session = bot_service.bot.session(uuid)
    assert session is not None
    before = len(switch.captured_audio(uuid).playbacks)
    switch.caller_says(uuid, AUDIO / "dialog_sunday.wav")
    reply = await reply_after(switch, bot_service, uuid, before)
    answer = [t["text"] for t in session.turns if t["speaker"] == "bot"][-1]
    assert "nine to one" in answer.lower(), session.turns
    heard = transcribe(b"".join(p.pcm for p in reply), reply[0].sample_rate).lower()
    assert "sunday" in heard and ("nine" in heard or "9" in heard), heard
    await switch.far_end_hangup(uuid)
    await bot_service.controller.wait_finished(uuid, 10)
