"""The endpointer's transition table, driven by probability patterns (32 ms per chunk)."""

from __future__ import annotations

import itertools

import pytest

from callcontrol.config import PipelineSettings
from callcontrol.media.endpoint import (
    TRANSITIONS,
    BargeIn,
    EndpointConfig,
    Endpointer,
    EndpointEvent,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    State,
    Symbol,
)

CHUNK = 32.0
PROB = {"#": 0.9, ".": 0.05, "+": 0.42}  # "+" sits between neg_threshold (0.35) and 0.5


def run(pattern: str, ep: Endpointer | None = None, t0: float = 0.0) -> list[EndpointEvent]:
    ep = ep or Endpointer()
    events: list[EndpointEvent] = []
    t = t0
    for ch in pattern.replace(" ", ""):
        t += CHUNK
        events += ep.feed(PROB[ch], t, CHUNK)
    return events


def kinds(events: list[EndpointEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_the_table_covers_every_state_and_symbol() -> None:
    assert set(TRANSITIONS) == set(itertools.product(State, Symbol))


def test_a_turn() -> None:
    # 10 voiced chunks (320 ms), then 20 silent (640 ms)
    events = run("." * 5 + "#" * 10 + "." * 20)
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    started, paused, ended = events
    assert isinstance(started, SpeechStarted) and started.start_ms == 5 * CHUNK
    assert started.at_ms == (5 + 8) * CHUNK  # 8 chunks = 256 ms >= min_speech_ms 250
    assert isinstance(paused, SpeechPaused) and paused.end_ms == 15 * CHUNK
    assert paused.at_ms == (15 + 7) * CHUNK  # 7 chunks = 224 ms >= pause_ms 200
    assert isinstance(ended, SpeechEnded)
    assert (ended.start_ms, ended.end_ms, ended.voiced_ms) == (5 * CHUNK, 15 * CHUNK, 10 * CHUNK)
    assert ended.at_ms == (15 + 16) * CHUNK  # 16 chunks = 512 ms >= endpoint 500
    assert ended.end_of_turn and not ended.barged_in


def test_short_bursts_are_not_turns() -> None:
    assert run("#" * 7 + "." * 30) == []  # 224 ms < 250
    assert run("###..###" + "." * 30) == []  # 192 ms voiced over a short gap


def test_voiced_time_accumulates_across_short_gaps_before_start() -> None:
    events = run("####..####" + "." * 20)
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    assert events[0].start_ms == 0.0  # type: ignore[union-attr]


def test_pause_then_resume_then_end() -> None:
    events = run("#" * 10 + "." * 8 + "#" * 5 + "." * 16)
    assert kinds(events) == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechResumed",
        "SpeechPaused",
        "SpeechEnded",
    ]
    resumed, ended = events[2], events[-1]
    assert isinstance(resumed, SpeechResumed) and resumed.at_ms == 19 * CHUNK
    assert isinstance(ended, SpeechEnded) and ended.voiced_ms == 15 * CHUNK
    assert ended.start_ms == 0 and ended.end_ms == 23 * CHUNK


def test_a_gap_shorter_than_pause_is_part_of_the_speech() -> None:
    assert kinds(run("#" * 10 + "." * 6 + "#" * 10 + "." * 16)) == [
        "SpeechStarted",
        "SpeechPaused",
        "SpeechEnded",
    ]


def test_hysteresis() -> None:
    # between the thresholds: speech continues after speech ...
    ep = Endpointer()
    run("#" * 10 + "+" * 30, ep)
    assert ep.state is State.SPEAKING
    # ... and silence stays silence
    assert run("." * 5 + "+" * 40) == []


def test_barge_in_only_while_the_bot_speaks_and_only_past_the_backchannel_limit() -> None:
    ep = Endpointer()
    ep.bot_speaking = True
    events = run("#" * 25 + "." * 16, ep)
    assert kinds(events) == ["SpeechStarted", "BargeIn", "SpeechPaused", "SpeechEnded"]
    barge = events[1]
    assert isinstance(barge, BargeIn) and barge.at_ms == 19 * CHUNK  # 608 ms >= 600
    assert events[-1].barged_in  # type: ignore[union-attr]

    backchannel = Endpointer()
    backchannel.bot_speaking = True
    events = run("#" * 12 + "." * 16, backchannel)  # "uh-huh", 384 ms
    assert "BargeIn" not in kinds(events)
    assert not events[-1].barged_in  # type: ignore[union-attr]

    quiet_bot = Endpointer()
    assert "BargeIn" not in kinds(run("#" * 40 + "." * 16, quiet_bot))


def test_barge_in_counts_voiced_time_across_a_pause_and_fires_once() -> None:
    ep = Endpointer()
    ep.bot_speaking = True
    events = run("#" * 12 + "." * 8 + "#" * 12 + "#" * 20 + "." * 16, ep)
    assert kinds(events).count("BargeIn") == 1


def test_bot_starting_to_speak_mid_turn() -> None:
    ep = Endpointer()
    run("#" * 25, ep)
    ep.bot_speaking = True
    assert kinds(run("#", ep, t0=25 * CHUNK)) == ["BargeIn"]


def test_max_turn_cuts_and_continues() -> None:
    cfg = EndpointConfig(max_turn_ms=1000)
    ep = Endpointer(cfg)
    events = run("#" * 40, ep)
    assert kinds(events) == ["SpeechStarted", "SpeechEnded", "SpeechStarted"]
    cut = events[1]
    assert isinstance(cut, SpeechEnded) and not cut.end_of_turn
    # the chunk that would make the turn exceed 1000 ms starts the next one
    assert cut.end_ms == events[2].start_ms == 31 * CHUNK  # type: ignore[union-attr]


def test_reset_keeps_the_bot_flag() -> None:
    ep = Endpointer()
    ep.bot_speaking = True
    run("#" * 10, ep)
    assert ep.in_turn and ep.turn_start_ms == 0.0
    ep.reset()
    assert ep.state is State.IDLE and ep.bot_speaking and ep.turn_start_ms is None


def test_min_speech_zero_starts_on_the_first_chunk() -> None:
    events = run("#" + "." * 16, Endpointer(EndpointConfig(min_speech_ms=0)))
    assert kinds(events) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0},
        {"threshold": 1.2},
        {"neg_threshold": 0.7},
        {"pause_ms": 600, "endpoint_silence_ms": 500},
        {"pause_ms": 0},
        {"max_turn_ms": 100},
    ],
)
def test_bad_configs(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EndpointConfig(**kwargs)


def test_config_from_settings() -> None:
    p = PipelineSettings(endpoint_silence_ms=700, pause_ms=250, backchannel_max_ms=800)
    cfg = EndpointConfig.from_settings(p)
    assert (cfg.endpoint_silence_ms, cfg.pause_ms, cfg.backchannel_max_ms) == (700, 250, 800)
    assert cfg.off_threshold == pytest.approx(p.vad_threshold - 0.15)
