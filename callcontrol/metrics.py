"""Prometheus metrics. One registry per service instance (tests build several)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from callcontrol.dialog.base import TurnRecord


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls_active = Gauge("callcontrol_calls_active", "Calls in progress", registry=r)
        self.calls_total = Counter(
            "callcontrol_calls_total", "Finished calls by outcome", ["outcome"], registry=r
        )
        self.esl_events = Counter(
            "callcontrol_esl_events_total", "ESL events handled", ["name"], registry=r
        )
        self.event_latency = Histogram(
            "callcontrol_esl_event_handling_seconds",
            "From an ESL event's bytes being read off the socket to its handling being done",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.esl_connected = Gauge(
            "callcontrol_esl_connected", "1 when the inbound ESL connection is up", registry=r
        )
        self.turn_latency = Histogram(
            "callcontrol_turn_latency_seconds",
            "Turn latency by stage (voice_to_voice, stt, retrieval, llm_first_token, tts)",
            ["stage"],
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
            registry=r,
        )
        self.hitl_queue = Gauge(
            "callcontrol_hitl_queue_length", "Human-in-the-loop requests waiting", registry=r
        )
        self.hitl_requests = Counter(
            "callcontrol_hitl_requests_total",
            "Human-in-the-loop requests by how they ended (answered, unavailable, timeout…)",
            ["outcome"],
            registry=r,
        )
        self.hitl_answer_seconds = Histogram(
            "callcontrol_hitl_answer_seconds",
            "From a HITL request to an operator's answer",
            buckets=(2, 5, 10, 20, 30, 45, 60, 90, 120, 300),
            registry=r,
        )
        self.console_logins = Counter(
            "callcontrol_console_logins_total",
            "Console sign-in attempts by result (ok, bad_credentials, rate_limited)",
            ["result"],
            registry=r,
        )
        self.console_websockets = Gauge(
            "callcontrol_console_websockets", "Open console websockets", registry=r
        )
        self.fork_frames_dropped = Counter(
            "callcontrol_fork_frames_dropped_total", "Audio fork frames dropped", registry=r
        )
        self.fork_events = Counter(
            "callcontrol_fork_events_total",
            "mod_audio_fork events (connect_failed, disconnect, buffer_overrun…)",
            ["kind"],
            registry=r,
        )


class TurnMetrics:
    """A :class:`~callcontrol.dialog.base.TurnSink`: the latency of every answered turn."""

    STAGES = ("stt_done", "retrieval_done", "llm_first_token", "playback_started")

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def turn(self, record: TurnRecord) -> None:
        v2v = record.voice_to_voice_ms
        if v2v is None:
            return
        latency = self._metrics.turn_latency
        latency.labels("voice_to_voice").observe(v2v / 1000)
        for stage in self.STAGES:
            if stage in record.timings:
                latency.labels(stage.removesuffix("_done")).observe(record.timings[stage])
