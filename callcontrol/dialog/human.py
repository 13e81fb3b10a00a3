"""Handing a question to a person (the HITL desk) and saying their answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from callcontrol.dialog.base import CallInfo
from callcontrol.hitl.base import HitlDesk, HitlOutcome, HitlQuestion, PhoneHandoff, Reason
from callcontrol.media.codecs import Int16Array
from callcontrol.pipeline.base import ChatMessage

log = structlog.get_logger(__name__)

BRIEFING_RATE = 8000  # the operator's phone leg is a telephone line


def briefing_text(question: HitlQuestion) -> str:
    """What the operator hears before the caller is put through."""
    who = f"A caller from {question.caller_number}" if question.caller_number else "A caller"
    said = [t.get("text", "") for t in question.recent_turns if t.get("speaker") == "bot"]
    parts = [f"{who} asks for a person.", f"Their question: {question.question}"]
    if said and said[-1]:
        parts.append(f"The bot said: {said[-1]}")
    return " ".join(p if p.endswith((".", "?", "!")) else p + "." for p in parts)


@dataclass(slots=True)
class HumanHandover:
    """What the next ASK_HUMAN sends, and the answer a person gave."""

    call: CallInfo
    desk: HitlDesk | None
    rephrase_prompt: str  # the language pack's: tells the model to pass the answer on
    # Hand-off by phone, tried first when the caller asks for a person; ``speak`` makes
    # the operator's briefing (text → 16-bit PCM at BRIEFING_RATE).
    phone: PhoneHandoff | None = None
    speak: Callable[[str], Awaitable[bytes]] | None = None
    question: str = ""
    reason: Reason = "low_confidence"
    passages: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    request_id: str = ""  # the desk's, once it has answered how the wait ended

    def prepare(self, question: str, reason: Reason, passages: list[dict[str, Any]]) -> None:
        self.question = question
        self.reason = reason
        self.passages = passages

    async def ask(self, recent_turns: list[dict[str, str]]) -> HitlOutcome:
        """Ask a person (waits for the answer or the desk's timeout).

        A caller who asked for a person is first put through by phone when that is on
        (the bridge then ends the dialog: ``cancelled``, nothing more to say)."""
        question = HitlQuestion(
            call_id=self.call.call_id,
            question=self.question,
            reason=self.reason,
            owner=self.call.owner,
            caller_number=self.call.caller_number,
            recent_turns=list(recent_turns),
            retrieval=self.passages,
        )
        if self.phone is not None and self.reason == "caller_request":
            briefing = b""
            if self.speak is not None:
                try:
                    briefing = await self.speak(briefing_text(question))
                except Exception as exc:  # noqa: BLE001 - put through without a briefing
                    log.warning("cannot synthesize the briefing", error=str(exc))
            operator = await self.phone.hand_off(question, briefing, BRIEFING_RATE)
            if operator is not None:
                return HitlOutcome("cancelled", request_id="", operator=operator)
        if self.desk is None:
            return HitlOutcome("unavailable", request_id="")
        return await self.desk.ask(question)

    async def attach_voicemail(
        self,
        audio: Int16Array,
        sample_rate: int,
        transcribe: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        """Give the caller's message to the desk, with the question it follows."""
        if self.desk is None or not self.request_id:
            return
        await self.desk.attach_voicemail(self.request_id, audio, sample_rate, transcribe)

    def notice(self) -> dict[str, Any]:
        """What a direct client is told."""
        return {"type": "handoff", "reason": self.reason, "question": self.question}

    def rephrase(self) -> list[ChatMessage]:
        """The model's prompt for saying the person's answer to the caller."""
        return [
            ChatMessage("system", self.rephrase_prompt),
            ChatMessage(
                "user",
                f"Caller's question: {self.question}\nColleague's answer: {self.answer}",
            ),
        ]
