"""The fork path: a caller through the FreeSWITCH emulator (ESL + mod_audio_fork + playback).

``caller_says`` answers on the event-loop clock (``sw.now()``), while the emulator's
playback records carry ``time.time()``: the end of speech is moved to the wall clock
with the offset between the two, read at the same moment. Caller-side voice-to-voice is
the start of the first playback after the end of speech minus the end of speech.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from callcontrol.app import Service
from callcontrol.dialog.machine import State
from tests.eval.records import Observed
from tests.eval.speech import RATE, Clip
from tests.eval.waiting import PATIENCE, Patience, verdict
from tests.fakes.freeswitch import Audio, FakeFreeSwitch
from tests.harness import eventually


def _playing(sw: FakeFreeSwitch, uuid: str, session: Any = None) -> bool:
    """A file playing (PLAYBACK_START without its STOP), or streamed audio playing out
    (no ESL events on that path: the worker's own output knows)."""
    files = len(sw.events_for(uuid, "PLAYBACK_START")) != len(sw.events_for(uuid, "PLAYBACK_STOP"))
    return files or bool(session is not None and session.output.playing)


def _first_heard(heard: Any, records_before: int, after: float) -> float | None:
    """time.time() of the first reply audio the caller got after ``after``: a playback's
    start, or the first loud streamed frame."""
    starts = [p.started_at for p in heard.playbacks[records_before:] if p.started_at > after]
    for run in heard.streams:
        for i, frame in enumerate(run.frames):
            at = run.started_at + (run.ticks[i] - run.first_tick) * len(frame) / run.codec_rate
            if at > after and len(frame) and int(abs(frame.astype("int32")).max()) > 1000:
                starts.append(at)
                break
    return min(starts) if starts else None


def _loop_to_wall(loop_time: float) -> float:
    loop = asyncio.get_running_loop()
    return loop_time + (time.time() - loop.time())


async def fork_call(
    sw: FakeFreeSwitch,
    service: Service,
    owner: str,
    clips: list[Clip],
    *,
    caller: str,
    hold_phrase: str,
    patience: Patience = PATIENCE,
) -> tuple[str, list[Observed]]:
    """One inbound call to the bot: greeting, each clip answered in full, then hang up."""
    uuid = await sw.inbound_call(
        caller=caller,
        destination="5000",
        variables={"callcontrol_action": "bot", "callcontrol_owner": owner},
    )
    heard = sw.captured_audio(uuid)
    session: Any = await eventually(lambda: service.bot.session(uuid), timeout=30)
    await eventually(
        lambda: (
            (any(p.status == "done" for p in heard.playbacks) or heard.streams)
            and session.turns
            and session.machine.state is State.LISTENING
            and not _playing(sw, uuid, session)
        ),
        timeout=60,
    )
    observed: list[Observed] = []
    for clip in clips:
        observed.append(await _ask(sw, session, uuid, clip, hold_phrase, patience))
        if observed[-1].outcome == "hung_up":
            break
    for _ in range(len(clips) - len(observed)):
        observed.append(Observed(outcome="hung_up"))
    await sw.far_end_hangup(uuid)
    await service.controller.wait_finished(uuid, 10)
    return uuid, observed


async def _ask(
    sw: FakeFreeSwitch, session: Any, uuid: str, clip: Clip, hold_phrase: str, patience: Patience
) -> Observed:
    loop = asyncio.get_running_loop()
    turns_before, handoffs_before = len(session.turns), len(session.handoffs)
    heard = sw.captured_audio(uuid)
    records_before = len(heard.playbacks)
    start = sw.caller_says(uuid, Audio(clip.samples, RATE))
    if math.isnan(start):
        raise RuntimeError("the caller's voice has not started (no audio fork?)")
    eos_loop = start + clip.eos_s
    eos_wall = _loop_to_wall(eos_loop)
    snapshot: tuple[int, ...] = ()
    changed = loop.time()
    outcome: str | None = None
    while outcome is None:
        await asyncio.sleep(0.05)
        now = loop.time()
        state = (
            len(session.turns),
            len(session.handoffs),
            len(sw.events_for(uuid, "PLAYBACK_START")),
            len(sw.events_for(uuid, "PLAYBACK_STOP")),
        )
        if state != snapshot:
            snapshot, changed = state, now
        if session.machine.state is State.ENDED or sw.channels.get(uuid) is None:
            outcome = "hung_up"
            break
        outcome = verdict(
            turns=session.turns[turns_before:],
            handoffs=session.handoffs[handoffs_before:],
            hold_phrase=hold_phrase,
            since_eos_s=now - eos_loop,
            quiet_s=now - max(changed, eos_loop),
            playing=_playing(sw, uuid, session),
            patience=patience,
        )
    first = _first_heard(heard, records_before, eos_wall)
    v2v = round((first - eos_wall) * 1000, 1) if first is not None else None
    return Observed(
        list(session.turns[turns_before:]), list(session.handoffs[handoffs_before:]), v2v, outcome
    )
