"""Barge-in on the streaming path: how soon the caller stops hearing the bot.

The FreeSWITCH emulator runs jambonz's mod_audio_fork (streamed playback, its 20 ms write
ticks, killAudio clearing at the next tick); the worker runs the bundled models with
``fork.playback=stream``. Each call asks a question, and once the answer is playing the
caller talks over it. Measured per call: from the worker's barge-in decision (the session
sees the caller's speech over the bot) to the last streamed frame with the bot's voice that
reached the caller — the silence target is 100 ms.

    python -m tests.bench stream_barge_in
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from callcontrol.app import Service
from callcontrol.dialog.machine import State
from callcontrol.logs import configure_logging
from tests.bench.voice_latency import _summary
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import eventually, make_settings

AUDIO = Path(__file__).parents[1] / "data" / "audio"
FACT = (
    "The weekly meeting is on Monday at 10 am in room 3, and the minutes are sent by "
    "email on Tuesday morning to everyone who was invited."
)
LOUD = 1000


def last_voice_before(audio: Any, until: float) -> float | None:
    """time.time() at the end of the last loud streamed frame that started before ``until``
    plus one second (what the caller heard of the bot around the barge-in)."""
    last = None
    for run in audio.streams:
        for i, frame in enumerate(run.frames):
            period = len(frame) / run.codec_rate
            at = run.started_at + (run.ticks[i] - run.first_tick) * period
            if at < until + 1.0 and len(frame) and int(np.abs(frame.astype(np.int32)).max()) > LOUD:
                last = at + period
    return last


async def _one(sw: FakeFreeSwitch, service: Service, n: int) -> float | None:
    uuid = await sw.inbound_call(
        caller=f"+1555020{n:02d}",
        destination="5000",
        variables={"callcontrol_action": "bot", "callcontrol_owner": "acme"},
    )
    session: Any = await eventually(lambda: service.bot.session(uuid), timeout=30)
    await eventually(lambda: session.turns and session.machine.state is State.LISTENING, 60)
    sw.caller_says(uuid, AUDIO / "dialog_question.wav")
    await eventually(lambda: session.machine.state is State.SPEAKING, timeout=60)
    await eventually(lambda: session.output.playing, timeout=10)
    await asyncio.sleep(0.4)  # the caller hears part of the answer, then talks
    sw.caller_says(uuid, AUDIO / "dialog_interrupt.wav")
    await eventually(lambda: len(session.barge_ins) >= 2, timeout=20)
    decided = session.barge_ins[0]
    await asyncio.sleep(1.0)  # whatever still plays after the decision, plays now
    last = last_voice_before(sw.captured_audio(uuid), decided)
    await sw.far_end_hangup(uuid)
    await service.controller.wait_finished(uuid, 15)
    return None if last is None else max(0.0, (last - decided) * 1000)


async def _measure(workdir: Path, calls: int) -> dict[str, Any]:
    async with FakeFreeSwitch(temp_dir=workdir / "fs", audio_fork="jambonz") as sw:
        settings = make_settings(
            workdir,
            esl_port=sw.esl_port,
            fork={"port": 0, "sample_rate": 8000, "playback": "stream"},
            pipeline={"enabled": True, "silence_reprompt_s": 60},
        )
        async with Service(settings) as service:
            assert service.inbound is not None
            await service.inbound.wait_connected(10)
            await service.bot.wait_loaded(600)
            assert service.kb is not None
            await service.kb.add("acme", "meetings", FACT, source="bench")
            silenced: list[float] = []
            for n in range(calls + 1):
                ms = await _one(sw, service, n)
                if n > 0 and ms is not None:  # the first call warms up
                    silenced.append(ms)
    return {
        "calls": calls,
        "bot_voice_after_barge_in_ms": _summary(silenced),
        "target_ms": 100,
        "how": "barge-in decision → end of the last streamed frame with the bot's voice "
        "the caller got (emulated jambonz module, 20 ms write ticks)",
    }


def run(calls: int = 8) -> dict[str, Any]:
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="cc-bench-barge-") as tmp:
        (Path(tmp) / "fs").mkdir()
        return asyncio.run(_measure(Path(tmp), calls))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
