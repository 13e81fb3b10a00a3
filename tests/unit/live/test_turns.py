"""The turn sinks the worker composes: the durable row, the live message, the metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from callcontrol.dialog.base import TurnRecord, TurnSink
from callcontrol.live.memory import InProcessBus
from callcontrol.live.topics import call_topic
from callcontrol.live.turns import TurnPublisher
from callcontrol.metrics import Metrics, TurnMetrics
from callcontrol.store.turns import TurnWriter
from callcontrol.store.writer import Write

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
RECORD = TurnRecord(
    call_id="c1",
    seq=3,
    speaker="bot",
    text="We open at nine.",
    language="en",
    interrupted=False,
    started_at=AT,
    ended_at=AT,
    timings={"stt_done": 0.2, "retrieval_done": 0.25, "playback_started": 0.6},
    voice_to_voice_ms=600.0,
    retrieval=[{"text": "We open at 9 am.", "score": 0.9, "title": "hours"}],
)


async def test_the_writer_queues_one_turns_row_with_a_fresh_id() -> None:
    writes: list[Write] = []
    sink: TurnSink = TurnWriter(writes.append)
    await sink.turn(RECORD)
    await sink.turn(RECORD)
    assert [w.table for w in writes] == ["turns", "turns"]
    row = writes[0].row
    assert row["call_id"] == "c1" and row["seq"] == 3 and row["speaker"] == "bot"
    assert row["voice_to_voice_ms"] == 600.0 and row["retrieval"][0]["title"] == "hours"
    assert row["id"] != writes[1].row["id"]


async def test_the_publisher_sends_the_turn_message_on_the_calls_topic() -> None:
    bus = InProcessBus()
    sink: TurnSink = TurnPublisher(bus)
    async with bus.subscribe(call_topic("c1")) as subscription:
        await sink.turn(RECORD)
        topic, message = await anext(aiter(subscription))
    assert topic == call_topic("c1")
    assert message == RECORD.message()
    assert message["type"] == "turn" and message["text"] == "We open at nine."


async def test_the_metrics_observe_voice_to_voice_and_the_stages_reached() -> None:
    metrics = Metrics()
    sink: TurnSink = TurnMetrics(metrics)
    await sink.turn(RECORD)
    registry = metrics.registry
    name = "callcontrol_turn_latency_seconds_count"
    assert registry.get_sample_value(name, {"stage": "voice_to_voice"}) == 1
    assert registry.get_sample_value(name, {"stage": "stt"}) == 1
    assert registry.get_sample_value(name, {"stage": "llm_first_token"}) is None
    silent = TurnRecord("c1", 4, "caller", "hi", "en", False, AT, AT)
    await sink.turn(silent)  # a caller turn has no latency
    assert registry.get_sample_value(name, {"stage": "voice_to_voice"}) == 1
