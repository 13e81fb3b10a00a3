"""Per-channel media state: the caller's voice, what is played to the caller, and DTMF."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .media import CAPTURE_RATE, Audio, Timeline
from .playback import CallAudio


@dataclass(eq=False)
class ChannelMedia:
    """``voice`` is caller→switch audio, ``played`` switch→caller; both on the loop clock."""

    voice: Timeline = field(default_factory=lambda: Timeline(CAPTURE_RATE))
    played: Timeline = field(default_factory=lambda: Timeline(CAPTURE_RATE))
    heard: CallAudio = field(default_factory=CallAudio)
    voice_started_at: float | None = None
    voice_trigger: str = "fork"  # when queued speech starts: "fork" connect | "answer" | "now"
    pending: list[Audio] = field(default_factory=list)
    dtmf: deque[str] = field(default_factory=deque)

    def say(self, audio: Audio, now: float) -> float:
        """Queue an utterance after whatever the caller is already saying; returns its start.

        Before the voice starts (see ``start_voice``) utterances wait in ``pending``.
        """
        if self.voice_started_at is None:
            self.pending.append(audio)
            return float("nan")
        start = max(now, self.voice.end)
        self.voice.add(start, audio.at(CAPTURE_RATE))
        return start

    def start_voice(self, now: float) -> None:
        if self.voice_started_at is not None:
            return
        self.voice_started_at = now
        pending, self.pending = self.pending, []
        for audio in pending:
            self.say(audio, now)

    def voice_at(self, origin: float, index: int, n: int, rate: int) -> np.ndarray:
        data = self.voice.read(origin, index, n, rate)
        return np.zeros(n, dtype=np.int16) if data is None else data
