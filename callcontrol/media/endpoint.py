"""Turn detection from VAD probabilities: a pure state machine, no I/O, no clock.

Feed one speech probability per VAD chunk (Silero: 32 ms at 16 kHz) with the stream time
at the chunk's end; get back events:

* :class:`SpeechStarted` once ``min_speech_ms`` of voiced audio has accumulated (shorter
  bursts are dropped, never a turn); ``start_ms`` is where the first voiced chunk began.
* :class:`SpeechPaused` after ``pause_ms`` of silence: time to start STT speculatively.
* :class:`SpeechResumed` if speech returns before the endpoint: drop the speculation.
* :class:`SpeechEnded` after ``endpoint_silence_ms`` of silence (``end_of_turn=True``), or
  when a turn reaches ``max_turn_ms`` (``end_of_turn=False``, speech may go on).
* :class:`BargeIn` while ``bot_speaking`` is set, once ``backchannel_max_ms`` of voiced
  audio has accumulated — even before the burst counts as a turn (``min_speech_ms``) —
  so shorter backchannels ("mm") do not interrupt and longer speech does at once.

A chunk is speech at ``prob >= threshold`` and silence at ``prob < neg_threshold``; in
between it keeps the previous classification (hysteresis).

Every transition is in :data:`TRANSITIONS`, keyed by (state, input symbol); the symbol is
the chunk's classification refined by the durations accumulated so far.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from callcontrol.config import PipelineSettings


class State(enum.Enum):
    IDLE = "idle"  # no speech
    PENDING = "pending"  # voiced audio, not yet min_speech_ms of it
    SPEAKING = "speaking"  # a turn is in progress
    PAUSED = "paused"  # a turn, then pause_ms..endpoint_silence_ms of silence


class Symbol(enum.Enum):
    SPEECH = "speech"  # voiced chunk, turn shorter than min_speech_ms
    SPEECH_LONG = "speech_long"  # voiced chunk, at least min_speech_ms voiced
    SILENCE = "silence"  # silence shorter than pause_ms
    SILENCE_PAUSE = "silence_pause"  # silence of pause_ms or more
    SILENCE_END = "silence_end"  # silence of endpoint_silence_ms or more
    TOO_LONG = "too_long"  # voiced chunk that makes the turn exceed max_turn_ms


class Action(enum.Enum):
    BEGIN = "begin"  # remember where voiced audio began
    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    ENDED = "ended"  # end_of_turn=True
    CUT = "cut"  # end_of_turn=False (max length), a new turn begins at once
    DISCARD = "discard"  # a burst too short to be a turn
    CHECK_BARGE_IN = "check_barge_in"


S, L, Q, P, E, T = Symbol  # short names for the table only

TRANSITIONS: Final[dict[tuple[State, Symbol], tuple[State, tuple[Action, ...]]]] = {
    (State.IDLE, S): (State.PENDING, (Action.BEGIN, Action.CHECK_BARGE_IN)),
    (State.IDLE, L): (State.SPEAKING, (Action.BEGIN, Action.STARTED, Action.CHECK_BARGE_IN)),
    (State.IDLE, Q): (State.IDLE, ()),
    (State.IDLE, P): (State.IDLE, ()),
    (State.IDLE, E): (State.IDLE, ()),
    (State.IDLE, T): (State.SPEAKING, (Action.BEGIN, Action.STARTED, Action.CHECK_BARGE_IN)),
    # Barge-in may fire before the burst is long enough to be a turn (backchannel_max_ms
    # can be shorter than min_speech_ms): interrupting the bot must not wait for it.
    (State.PENDING, S): (State.PENDING, (Action.CHECK_BARGE_IN,)),
    (State.PENDING, L): (State.SPEAKING, (Action.STARTED, Action.CHECK_BARGE_IN)),
    (State.PENDING, Q): (State.PENDING, ()),
    (State.PENDING, P): (State.IDLE, (Action.DISCARD,)),
    (State.PENDING, E): (State.IDLE, (Action.DISCARD,)),
    (State.PENDING, T): (State.SPEAKING, (Action.STARTED, Action.CHECK_BARGE_IN)),
    (State.SPEAKING, S): (State.SPEAKING, (Action.CHECK_BARGE_IN,)),
    (State.SPEAKING, L): (State.SPEAKING, (Action.CHECK_BARGE_IN,)),
    (State.SPEAKING, Q): (State.SPEAKING, (Action.CHECK_BARGE_IN,)),
    (State.SPEAKING, P): (State.PAUSED, (Action.PAUSED,)),
    (State.SPEAKING, E): (State.IDLE, (Action.ENDED,)),
    (State.SPEAKING, T): (State.SPEAKING, (Action.CUT, Action.STARTED, Action.CHECK_BARGE_IN)),
    (State.PAUSED, S): (State.SPEAKING, (Action.RESUMED, Action.CHECK_BARGE_IN)),
    (State.PAUSED, L): (State.SPEAKING, (Action.RESUMED, Action.CHECK_BARGE_IN)),
    (State.PAUSED, Q): (State.PAUSED, ()),
    (State.PAUSED, P): (State.PAUSED, ()),
    (State.PAUSED, E): (State.IDLE, (Action.ENDED,)),
    (State.PAUSED, T): (State.SPEAKING, (Action.CUT, Action.STARTED, Action.CHECK_BARGE_IN)),
}
del S, L, Q, P, E, T


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    start_ms: float  # stream time where the turn's first voiced chunk began
    at_ms: float  # stream time when it was confirmed


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    start_ms: float
    end_ms: float  # end of the last voiced chunk
    at_ms: float


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    at_ms: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    start_ms: float
    end_ms: float  # end of the last voiced chunk
    at_ms: float
    voiced_ms: float
    end_of_turn: bool = True
    barged_in: bool = False  # this turn produced a BargeIn (the bot was interrupted)


@dataclass(frozen=True, slots=True)
class BargeIn:
    start_ms: float
    at_ms: float
    voiced_ms: float


EndpointEvent: TypeAlias = SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded | BargeIn


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    threshold: float = 0.5
    neg_threshold: float | None = None  # default: threshold - 0.15 (as Silero's own code)
    min_speech_ms: float = 250
    pause_ms: float = 200
    endpoint_silence_ms: float = 500
    backchannel_max_ms: float = 600
    max_turn_ms: float = 30_000

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError("threshold must be in (0, 1)")
        if self.neg_threshold is not None and not 0 <= self.neg_threshold <= self.threshold:
            raise ValueError("neg_threshold must be in [0, threshold]")
        if not 0 < self.pause_ms <= self.endpoint_silence_ms:
            raise ValueError("need 0 < pause_ms <= endpoint_silence_ms")
        if self.max_turn_ms <= self.min_speech_ms:
            raise ValueError("max_turn_ms must exceed min_speech_ms")

    @classmethod
    def from_settings(cls, pipeline: PipelineSettings) -> EndpointConfig:
        return cls(
            threshold=pipeline.vad_threshold,
            neg_threshold=pipeline.vad_neg_threshold,
            min_speech_ms=pipeline.min_speech_ms,
            pause_ms=min(pipeline.pause_ms, pipeline.endpoint_silence_ms),
            endpoint_silence_ms=pipeline.endpoint_silence_ms,
            backchannel_max_ms=pipeline.backchannel_max_ms,
            max_turn_ms=pipeline.max_turn_ms,
        )

    @property
    def off_threshold(self) -> float:
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(0.01, self.threshold - 0.15)


class Endpointer:
    """One call's turn detector. Not thread-safe; cheap (a dict lookup per chunk)."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self.bot_speaking = False
        self.reset()

    def reset(self) -> None:
        """Forget the current turn (``bot_speaking`` is kept)."""
        self.state = State.IDLE
        self._voiced = False  # classification of the previous chunk (hysteresis)
        self._start_ms = 0.0  # where the turn's (or burst's) first voiced chunk began
        self._last_voiced_end_ms = 0.0
        self._voiced_ms = 0.0  # voiced audio in the current turn or burst
        self._silence_ms = 0.0  # silence since the last voiced chunk
        self._barged_in = False

    def _symbol(self, voiced: bool, chunk_ms: float, end_ms: float) -> Symbol:
        cfg = self.config
        if voiced:
            if self.state in (State.SPEAKING, State.PAUSED):
                if end_ms - self._start_ms > cfg.max_turn_ms:
                    return Symbol.TOO_LONG
                return Symbol.SPEECH_LONG
            voiced_ms = chunk_ms if self.state is State.IDLE else self._voiced_ms + chunk_ms
            return Symbol.SPEECH_LONG if voiced_ms >= cfg.min_speech_ms else Symbol.SPEECH
        if self._silence_ms + chunk_ms >= cfg.endpoint_silence_ms:
            return Symbol.SILENCE_END
        if self._silence_ms + chunk_ms >= cfg.pause_ms:
            return Symbol.SILENCE_PAUSE
        return Symbol.SILENCE

    def feed(self, prob: float, end_ms: float, chunk_ms: float = 32.0) -> list[EndpointEvent]:
        """One VAD chunk ending at stream time ``end_ms``; returns the events it caused."""
        cfg = self.config
        if prob >= cfg.threshold:
            voiced = True
        elif prob < cfg.off_threshold:
            voiced = False
        else:
            voiced = self._voiced
        self._voiced = voiced
        symbol = self._symbol(voiced, chunk_ms, end_ms)
        new_state, actions = TRANSITIONS[(self.state, symbol)]
        events: list[EndpointEvent] = []
        start_ms = end_ms - chunk_ms

        for action in actions:
            if action is Action.BEGIN:
                self._start_ms = start_ms
                self._voiced_ms = 0.0
                self._barged_in = False
            elif action is Action.CUT:
                events.append(
                    SpeechEnded(
                        self._start_ms,
                        start_ms,
                        end_ms,
                        self._voiced_ms,
                        end_of_turn=False,
                        barged_in=self._barged_in,
                    )
                )
                self._start_ms = start_ms
                self._voiced_ms = 0.0
                self._barged_in = False

        # Counters change after BEGIN/CUT reset them and before the events that report them.
        if voiced:
            self._voiced_ms += chunk_ms
            self._silence_ms = 0.0
            self._last_voiced_end_ms = end_ms
        else:
            self._silence_ms += chunk_ms

        for action in actions:
            if action is Action.STARTED:
                events.append(SpeechStarted(self._start_ms, end_ms))
            elif action is Action.PAUSED:
                events.append(SpeechPaused(self._start_ms, self._last_voiced_end_ms, end_ms))
            elif action is Action.RESUMED:
                events.append(SpeechResumed(end_ms))
            elif action is Action.ENDED:
                events.append(
                    SpeechEnded(
                        self._start_ms,
                        self._last_voiced_end_ms,
                        end_ms,
                        self._voiced_ms,
                        barged_in=self._barged_in,
                    )
                )
            elif action is Action.CHECK_BARGE_IN:
                if (
                    self.bot_speaking
                    and not self._barged_in
                    and self._voiced_ms >= cfg.backchannel_max_ms
                ):
                    self._barged_in = True
                    events.append(BargeIn(self._start_ms, end_ms, self._voiced_ms))

        if new_state is State.IDLE:
            self._voiced_ms = 0.0
        self.state = new_state
        return events

    @property
    def in_turn(self) -> bool:
        return self.state in (State.SPEAKING, State.PAUSED)

    @property
    def turn_start_ms(self) -> float | None:
        return self._start_ms if self.state is not State.IDLE else None
