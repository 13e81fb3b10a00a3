"""What every speech-to-text vendor shares: the gate that drops what was not speech (pure).

Whisper (``whisper.py``), like most recognizers, invents text for silence and noise
("Thank you.", "you", dots). A vendor calls :func:`gate_audio` before decoding and
:func:`gate_text` after: a turn is dropped when the audio holds (almost) no energy;
the VAD-measured speech is shorter than ``min_speech_ms``; the recognizer itself
says no speech (``no_speech_prob > no_speech_threshold`` and ``avg_logprob < -1``);
the text has no letters; or it is a known silence hallucination (the language
pack's ``hallucinations``) while the evidence of speech is weak. Dropped turns come
back as an empty :class:`~callcontrol.pipeline.base.Transcript` with ``dropped``
saying why. :func:`strip_annotations` and :func:`collapse_repeats` clean what a
recognizer writes besides words ("[BLANK_AUDIO]", a sentence looped).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from callcontrol.config import PipelineSettings
from callcontrol.language import ENGLISH, LanguagePack
from callcontrol.pipeline.base import STT_SAMPLE_RATE, AudioF32

# What Whisper is known to produce from silence, noise or breathing (normalized): the
# English pack's list, the default of :attr:`GateSettings.hallucinations`.
HALLUCINATIONS = ENGLISH.hallucinations

_FRAME = 320  # 20 ms at 16 kHz
_SILENCE_DBFS = -50.0
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Sound annotations Whisper writes instead of words: [BLANK_AUDIO], (music), *laughs*, ♪.
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]+")

NDArrayF64 = np.ndarray[Any, np.dtype[np.float64]]


def normalize(text: str) -> str:
    """Lowercase words only, for comparing against :data:`HALLUCINATIONS`."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_NON_WORD.sub(" ", text).split()).replace("amara org", "amaraorg")


def frame_levels_dbfs(audio: AudioF32) -> NDArrayF64:
    """RMS level of each 20 ms frame, in dBFS."""
    n = len(audio) // _FRAME
    if n == 0:
        return np.full(1, -120.0)
    frames = audio[: n * _FRAME].astype(np.float64).reshape(n, _FRAME)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    levels: NDArrayF64 = 20.0 * np.log10(np.maximum(rms, 1e-6))
    return levels


def estimate_speech_ms(audio: AudioF32) -> float:
    """A cheap stand-in for VAD: time in frames well above the clip's own floor.

    A frame counts when it is louder than -45 dBFS and at least 12 dB above the
    clip's 10th-percentile level, so steady hiss (no dynamics) counts as nothing.
    """
    levels = frame_levels_dbfs(audio)
    floor = float(np.percentile(levels, 10))
    voiced = (levels > -45.0) & (levels > floor + 12.0)
    return float(voiced.sum()) * _FRAME * 1000.0 / STT_SAMPLE_RATE


def strip_annotations(text: str) -> str:
    """Remove sound annotations ("[BLANK_AUDIO]", "(music)") and squeeze spaces."""
    return " ".join(_ANNOTATION.sub(" ", text).split())


def collapse_repeats(text: str) -> str:
    """ "A? A? A? A" → "A?": Whisper's loop when the window is short or audio is odd."""
    match = re.fullmatch(r"\s*(.{6,}?[.!?])(?:\s*\1)+\s*(.*)", text, re.DOTALL)
    if match is None:
        return text
    tail = match.group(2)
    return match.group(1) if match.group(1).startswith(tail) else text


@dataclass(frozen=True, slots=True)
class GateSettings:
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    min_speech_ms: float = 250.0
    # Below this much speech a known hallucination is dropped even if Whisper is sure.
    hallucination_speech_ms: float = 700.0
    # Known silence hallucinations (normalized): the language pack's.
    hallucinations: frozenset[str] = HALLUCINATIONS

    @classmethod
    def from_settings(
        cls, pipeline: PipelineSettings, language: LanguagePack = ENGLISH
    ) -> GateSettings:
        return cls(
            no_speech_threshold=pipeline.no_speech_threshold,
            min_speech_ms=float(pipeline.min_speech_ms),
            hallucinations=language.hallucinations,
        )


def gate_audio(audio: AudioF32, speech_ms: float | None, gate: GateSettings) -> str | None:
    """Reason to skip Whisper altogether, or None."""
    if len(audio) == 0 or float(frame_levels_dbfs(audio).max()) < _SILENCE_DBFS:
        return "silence"
    if speech_ms is not None and speech_ms < gate.min_speech_ms:
        return "too_short"
    return None


def gate_text(
    text: str, no_speech_prob: float, avg_logprob: float, speech_ms: float, gate: GateSettings
) -> str | None:
    """Reason to drop a transcript, or None to keep it."""
    words = normalize(strip_annotations(text))
    if not words:
        return "no_words"
    if no_speech_prob > gate.no_speech_threshold and avg_logprob < gate.log_prob_threshold:
        return "no_speech"
    if words in gate.hallucinations and (
        speech_ms < gate.hallucination_speech_ms
        or no_speech_prob > 0.5 * gate.no_speech_threshold
        or avg_logprob < gate.log_prob_threshold
    ):
        return "hallucination"
    return None
