"""Handing a question to a person: by phone first when the caller asked for one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from callcontrol.dialog.base import CallInfo
from callcontrol.dialog.human import BRIEFING_RATE, HumanHandover, briefing_text
from callcontrol.hitl.base import HitlOutcome, HitlQuestion, Reason
from callcontrol.media.codecs import Int16Array


class Phone:
    def __init__(self, operator: str | None) -> None:
        self.operator = operator
        self.calls: list[tuple[HitlQuestion, bytes, int]] = []

    async def hand_off(
        self, question: HitlQuestion, briefing: bytes, sample_rate: int
    ) -> str | None:
        self.calls.append((question, briefing, sample_rate))
        return self.operator


class TextDesk:
    def __init__(self) -> None:
        self.asked: list[HitlQuestion] = []

    async def ask(self, question: HitlQuestion) -> HitlOutcome:
        self.asked.append(question)
        return HitlOutcome("unavailable", request_id="r1")

    async def attach_voicemail(
        self,
        request_id: str,
        audio: Int16Array,
        sample_rate: int,
        transcribe: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        raise AssertionError("not here")


RECENT = [
    {"speaker": "caller", "text": "Do you repair bikes?"},
    {"speaker": "bot", "text": "We sell bikes and accessories."},
    {"speaker": "caller", "text": "Can I talk to a person?"},
]


def handover(phone: Phone, desk: TextDesk, reason: Reason) -> tuple[HumanHandover, list[str]]:
    spoken: list[str] = []

    async def speak(text: str) -> bytes:
        spoken.append(text)
        return b"\x00\x01" * 800

    human = HumanHandover(
        CallInfo("c1", "acme", "+15550100"), desk, "pass it on", phone=phone, speak=speak
    )
    human.prepare("Can I talk to a person?", reason, [])
    return human, spoken


async def test_a_caller_who_asks_for_a_person_is_put_through_by_phone() -> None:
    phone, desk = Phone("alice"), TextDesk()
    human, spoken = handover(phone, desk, "caller_request")
    outcome = await human.ask(RECENT)
    assert outcome.status == "cancelled" and outcome.operator == "alice"  # the bridge ends it
    assert desk.asked == []
    [(question, briefing, rate)] = phone.calls
    assert question.call_id == "c1" and rate == BRIEFING_RATE and len(briefing) == 1600
    assert spoken == [
        "A caller from +15550100 asks for a person. Their question: Can I talk to a person? "
        "The bot said: We sell bikes and accessories."
    ]


async def test_nobody_on_the_phone_falls_back_to_the_text_desk() -> None:
    phone, desk = Phone(None), TextDesk()
    human, _ = handover(phone, desk, "caller_request")
    outcome = await human.ask(RECENT)
    assert outcome.status == "unavailable" and len(phone.calls) == 1
    assert [q.question for q in desk.asked] == ["Can I talk to a person?"]


@pytest.mark.parametrize("reason", ["low_confidence", "sensitive", "not_helpful", "repeated"])
async def test_other_questions_go_to_the_text_desk(reason: Reason) -> None:
    phone, desk = Phone("alice"), TextDesk()
    human, _ = handover(phone, desk, reason)
    await human.ask(RECENT)
    assert phone.calls == [] and len(desk.asked) == 1


def test_the_briefing_without_a_number_or_an_answer() -> None:
    question = HitlQuestion(call_id="c", question="Where is my order", reason="caller_request")
    assert briefing_text(question) == (
        "A caller asks for a person. Their question: Where is my order."
    )
