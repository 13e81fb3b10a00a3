"""What every text-to-speech vendor shares: call rates, resampling, the fixed phrases.

A vendor (``piper.py``) renders at its own rate; :func:`resample_int16` brings each
sentence to the call's 8 or 16 kHz (``soxr``). :func:`fixed_phrases` lists what the
dialog says verbatim, which a vendor renders once and caches (``phrase``/``warm``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from callcontrol.config import PipelineSettings

CALL_RATES = (8000, 16000)


def resample_int16(pcm: bytes, source_rate: int, target_rate: int) -> bytes:
    """int16 mono PCM from ``source_rate`` to ``target_rate`` (soxr, high quality)."""
    if source_rate == target_rate or not pcm:
        return pcm
    import soxr

    samples = np.frombuffer(pcm, dtype=np.int16)
    out = soxr.resample(samples, source_rate, target_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16).tobytes()


def fixed_phrases(pipeline: PipelineSettings) -> list[str]:
    """The phrases the dialog speaks verbatim (worth caching)."""
    return [
        pipeline.greeting,
        pipeline.reprompt,
        pipeline.goodbye,
        pipeline.hold_phrase,
        pipeline.reassurance,
        pipeline.follow_up,
        pipeline.away_message,
        *([pipeline.voicemail_prompt, pipeline.voicemail_thanks] if pipeline.voicemail else []),
    ]
