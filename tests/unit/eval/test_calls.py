"""What the eval's callers make of the service's turns, and its clips and data files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.eval.dataset import load_dataset
from tests.eval.records import summarize
from tests.eval.speech import end_of_speech, parse_voices
from tests.eval.waiting import Patience, responded, verdict

HOLD = "Let me check that with a colleague, please hold."
FOLLOW = "I could not reach a colleague right now. Someone will call you back."
PHRASES = ["Hello, thanks for calling. How can I help you?", HOLD, FOLLOW]


def turn(speaker: str, text: str, v2v: float | None = None, **timings: float) -> dict[str, object]:
    return {"speaker": speaker, "text": text, "voice_to_voice_ms": v2v, "timings": timings}


def test_summarize_takes_the_bot_speech_after_the_caller_minus_fixed_phrases() -> None:
    turns = [
        turn("caller", "Do you sell"),
        turn("caller", "bicycles?"),
        turn("bot", HOLD),
        turn("bot", "We sell scooters.", 850.0, stt_done=0.2, first_audio_sent=0.85),
        turn("bot", FOLLOW),
    ]
    s = summarize(turns, [{"reason": "low_confidence"}], PHRASES)
    assert s.transcript == "Do you sell bicycles?"
    assert s.answer == "We sell scooters."
    assert s.bot_texts == [HOLD, "We sell scooters.", FOLLOW]
    assert s.handed_off and s.handoff_reason == "low_confidence"
    assert s.service_v2v_ms == 850.0
    assert s.waterfall_ms == {"stt_done": 200.0, "first_audio_sent": 850.0}


def test_summarize_ignores_bot_turns_before_the_caller_spoke() -> None:
    s = summarize([turn("bot", "Are you there?"), turn("caller", "hi")], [], PHRASES)
    assert s.answer == "" and s.bot_texts == [] and not s.handed_off
    assert s.service_v2v_ms is None


def test_responded_waits_for_the_follow_up_after_a_handoff() -> None:
    asked = [turn("caller", "Do you sell bikes?")]
    assert not responded(asked, [], HOLD)
    assert responded([*asked, turn("bot", "Yes.")], [], HOLD)
    handoff = [{"reason": "low_confidence"}]
    assert not responded([*asked, turn("bot", HOLD)], handoff, HOLD)
    assert responded([*asked, turn("bot", HOLD), turn("bot", FOLLOW)], handoff, HOLD)
    assert not responded([turn("bot", "Yes.")], [], HOLD)  # no caller turn yet


def test_verdict_rules() -> None:
    p = Patience(idle_s=1.0, no_turn_s=15.0, no_response_s=12.0, max_s=90.0)
    done = [turn("caller", "q"), turn("bot", "a")]

    def v(turns: list[dict[str, object]], since: float, quiet: float, playing: bool) -> str | None:
        return verdict(
            turns=turns,
            handoffs=[],
            hold_phrase=HOLD,
            since_eos_s=since,
            quiet_s=quiet,
            playing=playing,
            patience=p,
        )

    assert v(done, -0.1, 5.0, False) is None  # still speaking
    assert v(done, 3.0, 1.5, False) == "ok"
    assert v(done, 3.0, 0.5, False) is None  # audio until half a second ago
    assert v(done, 3.0, 5.0, True) is None  # still playing
    assert v([], 10.0, 10.0, False) is None
    assert v([], 16.0, 16.0, False) == "no_caller_turn"
    assert v([turn("caller", "q")], 10.0, 5.0, False) is None
    assert v([turn("caller", "q")], 20.0, 13.0, False) == "no_response"
    assert v([turn("caller", "q")], 91.0, 0.0, True) == "timeout"


def test_end_of_speech_is_the_last_frame_within_35_db_of_the_peak() -> None:
    rate = 8000
    loud = (np.sin(np.arange(rate) * 0.3) * 10000).astype(np.int16)  # 1 s
    faint = (np.sin(np.arange(rate // 2) * 0.3) * 100).astype(np.int16)  # -40 dB, 0.5 s
    quiet = (np.sin(np.arange(rate // 2) * 0.3) * 300).astype(np.int16)  # -30 dB, 0.5 s
    silence = np.zeros(rate // 2, dtype=np.int16)
    assert end_of_speech(np.concatenate([silence, loud, faint, silence]), rate) == rate * 3 // 2
    assert end_of_speech(np.concatenate([loud, quiet, silence]), rate) == rate * 3 // 2
    assert end_of_speech(np.zeros(10, dtype=np.int16), rate) == 0


def test_parse_voices() -> None:
    voices = parse_voices("en-us+m3:160, en+f3:145,en-us+m7")
    assert [(v.name, v.speed, v.label) for v in voices] == [
        ("en-us+m3", 160, "en-us+m3:160"),
        ("en+f3", 145, "en+f3:145"),
        ("en-us+m7", 160, "en-us+m7:160"),
    ]
    with pytest.raises(ValueError):
        parse_voices(" , ")


def test_load_dataset(tmp_path: Path) -> None:
    (tmp_path / "kb" / "shop").mkdir(parents=True)
    (tmp_path / "kb" / "shop" / "hours.md").write_text("We open at 9 am.")
    (tmp_path / "questions").mkdir()
    (tmp_path / "questions" / "shop.yaml").write_text(
        "owner: shop\nsplit: eval\ncalls:\n"
        "  - id: a\n    turns:\n      - say: When do you open?\n        expect: [9 am]\n"
        "  - id: b\n    turns:\n      - say: Open at 9?\n        expect: [9, [am, morning]]\n"
        "        yesno: yes\n      - say: Bikes?\n        handoff: unanswerable\n"
        "  - id: c\n    split: dev\n    turns:\n      - say: Hi\n"
    )
    data = load_dataset(tmp_path)
    assert [c.id for c in data.calls] == ["a", "b"]
    b = data.calls[1]
    assert b.turns[0].expect == ["9", ["am", "morning"]] and b.turns[0].yesno == "yes"
    assert b.turns[1].handoff == "unanswerable" and b.turns[1].expect == []
    assert data.kbs["shop"][0].title == "hours" and data.kb_text("shop") == "We open at 9 am."
    assert [c.id for c in load_dataset(tmp_path, split="all", limit=1).calls] == ["a"]
    assert [c.id for c in load_dataset(tmp_path, split="dev").calls] == ["c"]
    assert load_dataset(tmp_path, kb="other").calls == []
