"""Handing a question to a person (the HITL desk) and saying their answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callcontrol.dialog.base import CallInfo
from callcontrol.hitl.base import HitlDesk, HitlOutcome, HitlQuestion, Reason
from callcontrol.media.codecs import Int16Array
from callcontrol.pipeline.base import ChatMessage


@dataclass(slots=True)
class HumanHandover:
    """What the next ASK_HUMAN sends, and the answer a person gave."""

    call: CallInfo
    desk: HitlDesk | None
    rephrase_prompt: str  # the language pack's: tells the model to pass the answer on
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
        """Ask a person (waits for the answer or the desk's timeout)."""
        if self.desk is None:
            return HitlOutcome("unavailable", request_id="")
        return await self.desk.ask(
            HitlQuestion(
                call_id=self.call.call_id,
                question=self.question,
                reason=self.reason,
                owner=self.call.owner,
                caller_number=self.call.caller_number,
                recent_turns=list(recent_turns),
                retrieval=self.passages,
            )
        )

    async def attach_voicemail(self, audio: Int16Array, sample_rate: int, transcript: str) -> None:
        """Give the caller's message to the desk, with the question it follows."""
        if self.desk is None or not self.request_id:
            return
        await self.desk.attach_voicemail(self.request_id, audio, sample_rate, transcript)

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
