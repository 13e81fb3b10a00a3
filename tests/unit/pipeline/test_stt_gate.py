from __future__ import annotations

import numpy as np
import pytest

from callcontrol.pipeline.stt import (
    GateSettings,
    collapse_repeats,
    estimate_speech_ms,
    gate_audio,
    gate_text,
    normalize,
    strip_annotations,
)
from callcontrol.pipeline.whisper import choose_model

RATE = 16000
GATE = GateSettings()


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 200 * t) * level).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


@pytest.mark.parametrize(
    ("language", "default", "expected"),
    [
        ("en", "en", ("en", "en")),
        ("en-GB", "auto", ("en", "en")),
        ("es", "en", ("multilingual", "es")),
        ("auto", "en", ("multilingual", None)),
        (None, "auto", ("multilingual", None)),
        (None, "en", ("en", "en")),
        (None, "de", ("multilingual", "de")),
    ],
)
def test_choose_model(language: str | None, default: str, expected: tuple[str, str | None]) -> None:
    assert choose_model(language, default) == expected


def test_english_on_the_multilingual_model_when_configured() -> None:
    assert choose_model("en", "en", "base") == ("multilingual", "en")
    assert choose_model(None, "auto", "base") == ("multilingual", None)


def test_normalize() -> None:
    assert normalize(" Thank you. ") == "thank you"
    assert normalize("[BLANK_AUDIO]") == "blank audio"
    assert (
        normalize("Subtitles by the Amara.org community") == "subtitles by the amaraorg community"
    )
    assert normalize("...") == ""


def test_digital_silence_skips_whisper() -> None:
    assert gate_audio(silence(2), None, GATE) == "silence"
    assert gate_audio(silence(0), None, GATE) == "silence"
    assert gate_audio(tone(1, 0.0005), None, GATE) == "silence"  # ~ -69 dBFS
    assert gate_audio(tone(1), None, GATE) is None


def test_vad_reported_blip_is_too_short() -> None:
    assert gate_audio(tone(1), 120.0, GATE) == "too_short"
    assert gate_audio(tone(1), 400.0, GATE) is None


def test_speech_estimate_counts_dynamics_not_steady_hiss() -> None:
    rng = np.random.default_rng(1)
    hiss = (rng.standard_normal(3 * RATE) * 0.05).astype(np.float32)
    assert estimate_speech_ms(hiss) < 100
    burst = np.concatenate([silence(1), tone(0.8), silence(1)])
    assert 700 <= estimate_speech_ms(burst) <= 900


@pytest.mark.parametrize(
    ("text", "no_speech", "logprob", "speech_ms", "reason"),
    [
        ("Where can I park my car?", 0.2, -0.2, 1500, None),
        ("...", 0.9, -0.1, 1500, "no_words"),
        ("", 0.1, -0.1, 1500, "no_words"),
        ("Some words", 0.8, -1.5, 1500, "no_speech"),
        ("Some words", 0.8, -0.4, 1500, None),  # confident words despite the no-speech token
        ("Thank you.", 0.1, -0.2, 300, "hallucination"),  # little speech
        ("Thank you.", 0.4, -0.2, 1500, "hallucination"),  # Whisper unsure it was speech
        ("Thank you.", 0.1, -0.2, 1200, None),  # a real, clear "thank you"
        ("you", 0.2, -1.2, 2000, "hallucination"),
        ("[BLANK_AUDIO]", 0.1, -0.1, 2000, "no_words"),
    ],
)
def test_gate_text(
    text: str, no_speech: float, logprob: float, speech_ms: float, reason: str | None
) -> None:
    assert gate_text(text, no_speech, logprob, speech_ms, GATE) == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Where can I park my car? Where can I park my car? Where can I park my car? Where",
            "Where can I park my car?",
        ),
        ("Hello there. Hello there.", "Hello there."),
        ("Yes. Yes. No.", "Yes. Yes. No."),  # too short to be a loop, and different tail
        ("A normal sentence.", "A normal sentence."),
        ("Call me. Call me. I need help.", "Call me. Call me. I need help."),
    ],
)
def test_collapse_repeats(text: str, expected: str) -> None:
    assert collapse_repeats(text) == expected


def test_strip_annotations() -> None:
    assert strip_annotations("[BLANK_AUDIO]") == ""
    assert strip_annotations(" Hello (music) there ♪ *laughs*") == "Hello there"


def test_a_transcript_that_copies_the_glossary_is_recognized() -> None:
    from callcontrol.pipeline.whisper import copies_glossary

    glossary = "Acme Store, New Year's Day, American Express, Labor Day, delivery."
    assert copies_glossary("New Year's Day, American Express,", glossary)
    assert copies_glossary("Labor Day. Delivery.", glossary)
    assert not copies_glossary("Do you take American Express?", glossary)
    assert not copies_glossary("Are you open on Labor Day, and on New Year's Day?", glossary)
    assert not copies_glossary("anything", "")
