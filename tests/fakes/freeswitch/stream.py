"""jambonz mod_audio_fork's streaming playout (``… true true <rate>``), as a pure model.

Follows lws_glue.cpp (freeswitch-modules 30f2189, folder 3f06a24) processIncomingBinary /
dub_speech_frame / fork_session_stop_play, and what the recordings in
tests/data/recordings/jambonz-mod-audio-fork show:

* every binary message is handled in pieces of at most 1024 bytes (libwebsockets' receive
  buffer); an odd byte is set aside for the next piece;
* pending marks become the marker sample 0xFFFF (-1) in front of the next piece;
* a piece goes to a **pre-buffer**; only when it holds the threshold (1280 × f samples the
  first time, then 640 × f, f = stream rate ÷ codec rate when higher, else 1) is it
  resampled (whole multiples of f; the rest stays) and appended to the unlimited
  **playout buffer**; what stays below the threshold waits for the next binary message;
* on every write tick (``tick``) one frame's worth is taken from the playout buffer and
  added to what the channel writes; marker samples are dropped and pop a mark
  (``playout``); a mark never attached to audio fires on the first tick with nothing to
  play; a ``kill`` makes the next tick clear the playout buffer (not the pre-buffer), play
  nothing and report every pending mark ``cleared``.

Resampling is not speex but behaves like it where it matters: downsampling by a whole
factor is a stateful low-pass FIR (history kept across blocks, so its output has new
sample values, -1 among them, and a small delay), anything else is linear. speex does not
keep the marker sample, and its start-up transient is a run of near-zero samples in which
-1 pops marks: the recording (extras, marks16k) had every in-use mark fire at the first
played frame. The model: markers are removed before resampling, and the first resampled
block of a fork starts with ``SPEEX_TRANSIENT`` samples of -1. A -1 that a resampled tone
happens to produce pops a mark too (extras: a mark ``cleared`` by a kill, whose marker was
in the cleared audio, was popped that way, so the next mark could fire at all).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .media import resample

PIECE_BYTES = 1024  # libwebsockets rx buffer: processIncomingBinary sees at most this much
MARKER = -1  # AUDIO_MARKER 0xFFFF read as int16
MAX_MARKS = 30
SPEEX_TRANSIENT = 16  # output samples of speex's start-up ramp, modelled as -1


def mark_text(name: str, event: str) -> str:
    """send_mark_event: the exact text frame (spacing as recorded, the name not escaped)."""
    return '{"type": "mark", "data": {"name":"' + name + '", "event": "' + event + '"}}'


@dataclass
class Tick:
    """What one write tick did: samples added to the frame (None: nothing), mark texts."""

    samples: np.ndarray | None
    marks: list[str] = field(default_factory=list)
    cleared: bool = False


@dataclass(eq=False)
class StreamBuffer:
    """The pre-buffer, playout buffer and marks of one streaming bug."""

    stream_rate: int  # the 10th start field: the rate of the server's binary frames
    codec_rate: int  # the channel's read codec rate (what the module resamples to)
    prebuf: list[int] = field(default_factory=list)
    playout: deque[int] = field(default_factory=deque)
    inventory: deque[str] = field(default_factory=deque)
    in_use: deque[str] = field(default_factory=deque)
    cleared_marks: deque[str] = field(default_factory=deque)
    clear_pending: bool = False
    set_aside: int | None = None
    threshold: int = 0
    resampled_blocks: int = 0
    _history: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    def __post_init__(self) -> None:
        self.threshold = 320 * self.factor * 4

    @property
    def factor(self) -> int:
        """downscale_factor: stream rate ÷ codec rate when the stream rate is higher."""
        return self.stream_rate // self.codec_rate if self.stream_rate > self.codec_rate else 1

    @property
    def resampling(self) -> bool:
        return self.stream_rate != self.codec_rate

    @property
    def has_marks(self) -> bool:
        return bool(self.in_use or self.cleared_marks)

    # ------------------------------------------------------------------ server → module
    def mark(self, name: str) -> bool:
        """Queue a mark; False when 30 are pending already (dropped with an INFO log)."""
        if len(self.in_use) + len(self.inventory) >= MAX_MARKS:
            return False
        self.inventory.append(name)
        return True

    def clear_marks(self) -> None:
        """clearMarks: in-use and inventory marks are never reported."""
        self.cleared_marks.extend(self.in_use)
        self.cleared_marks.extend(self.inventory)
        self.in_use.clear()
        self.inventory.clear()

    def kill(self) -> None:
        """killAudio: the next tick clears the playout buffer."""
        self.clear_pending = True

    def stop_play(self) -> None:
        """fork_session_stop_play: the playout buffer only; marks and pre-buffer stay."""
        self.playout.clear()

    def feed(self, message: bytes) -> None:
        """One binary websocket message (zero-length ones never get here)."""
        for at in range(0, len(message), PIECE_BYTES):
            self._piece(message[at : at + PIECE_BYTES])

    def _piece(self, piece: bytes) -> None:
        data = piece
        if self.set_aside is not None:
            data = bytes([self.set_aside]) + data
            self.set_aside = None
        if len(data) % 2:
            self.set_aside = data[-1]
            data = data[:-1]
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
        if self.inventory:
            self.prebuf.extend([MARKER] * len(self.inventory))
            self.in_use.extend(self.inventory)
            self.inventory.clear()
        self.prebuf.extend(int(s) for s in samples)
        if len(self.prebuf) < self.threshold:
            return
        self.threshold = 320 * self.factor * 2
        complete = len(self.prebuf) // self.factor * self.factor
        block, leftover = self.prebuf[:complete], self.prebuf[complete:]
        self.playout.extend(self._resample(block))
        self.prebuf = leftover

    def _resample(self, block: list[int]) -> list[int]:
        if not self.resampling:
            return block
        audio = np.array([s for s in block if s != MARKER], dtype=np.int16)
        out = [int(s) for s in self._convert(audio)]
        if self.resampled_blocks == 0:
            n = min(SPEEX_TRANSIENT, len(out))
            out[:n] = [MARKER] * n
        self.resampled_blocks += 1
        return out

    def _convert(self, audio: np.ndarray) -> np.ndarray:
        factor = self.stream_rate // self.codec_rate
        if factor < 2 or self.stream_rate % self.codec_rate:
            return resample(audio, self.stream_rate, self.codec_rate)
        taps = _lowpass(factor)
        data = np.concatenate([self._history, audio.astype(np.float64)])
        usable = (len(data) - len(taps) + 1) // factor * factor
        if usable <= 0:
            self._history = data
            return np.zeros(0, dtype=np.int16)
        filtered = np.convolve(data, taps, mode="valid")[:usable:factor]
        self._history = data[usable:]
        return np.clip(np.round(filtered), -32768, 32767).astype(np.int16)

    # ------------------------------------------------------------------ the write tick
    def tick(self, frame_samples: int) -> Tick:
        """dub_speech_frame for one write frame of ``frame_samples`` at the codec rate."""
        if self.clear_pending:
            self.clear_pending = False
            self.playout.clear()
            pending = [*self.in_use, *self.inventory]
            self.cleared_marks.extend(self.in_use)
            self.in_use.clear()
            self.inventory.clear()
            return Tick(None, [mark_text(n, "cleared") for n in pending], cleared=True)
        take = min(len(self.playout), frame_samples)
        taken = [self.playout.popleft() for _ in range(take)]
        marks: list[str] = []
        if self.has_marks:
            audio: list[int] = []
            for sample in taken:
                if sample != MARKER:
                    audio.append(sample)
                    continue
                source = self.cleared_marks if self.cleared_marks else self.in_use
                if source:
                    name = source.popleft()
                    if source is self.in_use:
                        marks.append(mark_text(name, "playout"))
            return Tick(_frame(audio, frame_samples) if audio else None, marks)
        if taken:
            return Tick(_frame(taken, frame_samples), marks)
        if self.inventory:
            marks.append(mark_text(self.inventory.popleft(), "playout"))
        return Tick(None, marks)


def _lowpass(factor: int, per_side: int = 8) -> np.ndarray:
    """A Hann-windowed sinc with cut-off at the output Nyquist, unity gain at DC."""
    n = 2 * per_side * factor + 1
    k = np.arange(n) - (n - 1) / 2
    taps = np.sinc(k / factor) * np.hanning(n)
    result: np.ndarray = taps / taps.sum()
    return result


def _frame(samples: list[int], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int16)
    out[: len(samples)] = samples
    return out
