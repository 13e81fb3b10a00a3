"""A scripted flow driving a real dialog session (fake models, manual playback): its
first words, answers read and committed, keys, silence, transfers and the close."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path

from callcontrol.config import Settings
from callcontrol.dialog.base import CallInfo, CallTransfer
from callcontrol.dialog.machine import Input, State
from callcontrol.dialog.policy import DialogPolicy
from callcontrol.dialog.session import DialogSession
from callcontrol.dialog.voice import VoicePipeline
from callcontrol.flows.engine import FlowRun, FlowState, Step
from callcontrol.flows.model import parse
from callcontrol.flows.policy import FlowPolicy
from callcontrol.media.vad import VadWorker
from tests.fakes.pipeline import FakeKnowledgeBase, FakeLLM, FakeSTT, FakeTTS
from tests.unit.dialog.test_session_events import (
    ManualOutput,
    Turns,
    ask,
    played_out,
    until,
)

EXAMPLES = Path(str(resources.files("callcontrol.flows") / "examples"))
CONTACT = {
    "name": "Dana",
    "amount": "125.50",
    "due_date": "2026-12-10",
    "loan_id": "4017",
    "agent_extension": "1001",
}


class Transfers:
    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.calls: list[tuple[str, str, int]] = []

    async def put_through(self, call_id: str, to: str, briefing: bytes, sample_rate: int) -> bool:
        self.calls.append((call_id, to, len(briefing)))
        return self.ok


class Flow:
    """A session playing one example flow, with what it kept and whether it hung up."""

    def __init__(
        self,
        vad: VadWorker,
        example: str,
        heard: list[str],
        values: dict[str, str],
        transfer: CallTransfer | None = None,
    ) -> None:
        settings = Settings(_env_file=None, pipeline={"language": "en"})
        self.stt = FakeSTT(heard)
        self.voice = VoicePipeline(
            settings, self.stt, FakeKnowledgeBase(), FakeLLM(), FakeTTS(ms_per_char=5), vad
        )
        self.kept: list[tuple[FlowState, Step]] = []
        run = FlowRun(parse((EXAMPLES / f"{example}.yaml").read_text()), "en", values)
        self.policy = FlowPolicy(
            self.voice,
            run,
            today=date(2026, 12, 3),
            on_change=lambda state, step: self.kept.append((state, step)),
        )
        checked: DialogPolicy = self.policy  # the flow satisfies the seam (mypy)
        assert checked is self.policy
        self.output, self.turns = ManualOutput(), Turns()
        self.hung_up = False

        async def hangup() -> None:
            self.hung_up = True

        self.session = DialogSession(
            call=CallInfo("f1", "acme", "+15550100"),
            voice=self.voice,
            output=self.output,
            output_rate=8000,
            hangup=hangup,
            sinks=[self.turns],
            policy=self.policy,
            transfer=transfer,
        )

    def playing_until(self, condition: Callable[[], object]) -> Callable[[], object]:
        """A predicate: finish whatever plays, until ``condition`` holds."""

        def check() -> object:
            if self.output.playing:
                self.output.finish_current()
            return condition()

        return check

    def re_asked(self, times: int) -> Callable[[], bool]:
        """A predicate: the question was re-asked ``times`` times and the bot listens."""

        def check() -> bool:
            asked = sum("did not catch" in t for t in self.bot())
            return asked == times and self.session.machine.state is State.LISTENING

        return check

    def bot(self) -> list[str]:
        return [r.text for r in self.turns.records if r.speaker == "bot"]


async def test_the_flow_speaks_first_and_a_yes_closes_the_call(vad: VadWorker) -> None:
    flow = Flow(vad, "payment_reminder", ["Yes, I can."], CONTACT)
    flow.session.start()
    try:
        await until(played_out(flow.session, flow.output), "the opening played")
        assert flow.bot()[0].startswith("Hello Dana, this is Northgate Finance")
        assert flow.bot()[0].endswith("Will you be able to make this payment by the due date?")
        ask(flow.session, 9000)
        await until(lambda: flow.session.machine.state is State.CLOSING, "closing")
        await until(flow.playing_until(lambda: flow.hung_up), "hung up")
    finally:
        await flow.session.stop()
    assert flow.bot()[-1] == (
        "Thank you, Dana. We have noted that you will pay by December 10, 2026. Goodbye."
    )
    state, _ = flow.kept[-1]
    assert state.outcome == "will_pay" and state.fields == {"can_pay": "yes"}


async def test_silence_re_asks_and_keys_answer_a_keypad_question(vad: VadWorker) -> None:
    values = {"name": "Lee", "order_id": "77", "address": "4 Elm Road", "date": "2026-12-05"}
    flow = Flow(vad, "delivery_confirmation", ["Yes.", "No, that's all."], values)
    flow.session.start()
    try:
        await until(played_out(flow.session, flow.output), "the opening played")
        flow.session.post(Input.SILENCE)  # nothing said: the address question again
        await until(lambda: flow.session.machine.state is State.PROMPTING, "re-asked")
        await until(played_out(flow.session, flow.output), "re-ask played")
        assert flow.bot()[-1] == "Should we deliver it to 4 Elm Road?"
        ask(flow.session, 9000)  # "Yes."
        await until(
            flow.playing_until(
                lambda: (
                    "Press 1" in " ".join(flow.bot())
                    and flow.session.machine.state is State.LISTENING
                )
            ),
            "the keypad question",
        )
        flow.session.on_dtmf("2")
        await until(
            flow.playing_until(
                lambda: (
                    "afternoon" in flow.bot()[-1] and flow.session.machine.state is State.LISTENING
                )
            ),
            "the slot is confirmed and questions offered",
        )
        ask(flow.session, 15000)  # "No, that's all."
        await until(flow.playing_until(lambda: flow.hung_up), "hung up")
    finally:
        await flow.session.stop()
    assert "(pressed 2)" in [r.text for r in flow.turns.records if r.speaker == "caller"]
    assert flow.bot()[-1] == "Thank you for choosing Swiftline. Goodbye.", flow.bot()
    state, _ = flow.kept[-1]
    assert state.outcome == "confirmed" and state.fields["slot"] == "2"


async def test_out_of_tries_the_caller_is_put_through_warm(vad: VadWorker) -> None:
    transfers = Transfers(ok=True)
    flow = Flow(vad, "payment_reminder", ["Banana.", "Banana.", "Banana."], CONTACT, transfers)
    flow.session.start()
    try:
        await until(played_out(flow.session, flow.output), "the opening played")
        for n, at in enumerate((9000, 15000), start=1):
            ask(flow.session, at)
            await until(flow.playing_until(flow.re_asked(n)), "re-asked")
        ask(flow.session, 21000)
        await until(lambda: flow.session.machine.state is State.TRANSFERRING, "transferring")
        await until(lambda: flow.output.playing, "the transfer words play")
        flow.output.finish_current()
        await until(lambda: flow.session.machine.state is State.ENDED, "bridged: the bot is done")
    finally:
        await flow.session.stop()
    assert transfers.calls and transfers.calls[0][:2] == ("f1", "1001")
    assert transfers.calls[0][2] > 0  # a warm transfer: the agent heard a briefing
    assert not flow.hung_up
    assert "Let me put you through to one of our team." in flow.bot()


async def test_nobody_takes_the_transfer_and_the_flow_says_its_fallback(vad: VadWorker) -> None:
    transfers = Transfers(ok=False)
    flow = Flow(vad, "payment_reminder", ["Banana."] * 3, CONTACT, transfers)
    flow.session.start()
    try:
        await until(played_out(flow.session, flow.output), "the opening played")
        for n, at in enumerate((9000, 15000), start=1):
            ask(flow.session, at)
            await until(flow.playing_until(flow.re_asked(n)), "re-asked")
        ask(flow.session, 21000)
        await until(flow.playing_until(lambda: transfers.calls), "the transfer was tried")
        await until(flow.playing_until(lambda: flow.hung_up), "hung up")
    finally:
        await flow.session.stop()
    assert flow.bot()[-1].startswith("Nobody is free right now.")
    assert flow.kept[-1][0].outcome == "callback"
