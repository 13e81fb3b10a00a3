"""Voice-to-voice through a real FreeSWITCH, as the caller hears it, per playback path.

Needs a FreeSWITCH 1.10 with mod_audio_fork running this repository's configuration
(``CALLCONTROL_TEST_ESL=host:port:password``, as the contract suite); ``stream`` also needs
jambonz's module. A worker runs in process on the bundled models. Each call is a loopback
call to the bot number: its ``a`` leg is the caller, parked under this script's control,
and the bot answers the ``b`` leg. The caller speaks by ``uuid_broadcast`` of a question on
its own leg. The bot's leg is recorded in stereo (``RECORD_STEREO``): one channel is the
caller's voice as it reaches FreeSWITCH, the other the audio FreeSWITCH sends toward the
caller. Voice-to-voice is read off that one recording — from the end of the question's
speech to the first reply audio leaving FreeSWITCH toward the caller — so both ends are on
FreeSWITCH's own clock, everything in between included (the fork, the bot, ``playAudio`` →
temp file → ``uuid_broadcast``, or the streamed frames), and the loopback channel that
stands in for the caller's phone is not (``CALLCONTROL_BENCH_LEG=caller`` records on
that leg instead, loopback included). Both legs write silence while idle, so the
recording's two channels stay aligned.

    CALLCONTROL_TEST_ESL=127.0.0.1:8021:ClueCon python -m tests.bench.real_fs_latency stream
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

import numpy as np

from callcontrol.app import Service
from callcontrol.logs import configure_logging
from callcontrol.media.codecs import read_wav, write_wav
from callcontrol.media.resample import resample
from tests.bench.voice_latency import CALLS, FACTS, _pct, _summary
from tests.eval.speech import end_of_speech
from tests.harness import eventually, make_settings

RATE = 8000
BOT = os.environ.get("CALLCONTROL_TEST_BOT_NUMBER", "9000")
LEG = os.environ.get("CALLCONTROL_BENCH_LEG", "bot")  # where the recording is made
LOUD = 500  # |sample| above this is speech or the bot's voice, not line noise


def _first_loud(samples: np.ndarray, start: int, window: int = 80) -> int | None:
    """Index of the first 10 ms window at or after ``start`` whose peak is loud."""
    for i in range(start, len(samples) - window, window):
        if np.abs(samples[i : i + window]).max() > LOUD:
            return i
    return None


def measure_recording(path: Path, question: np.ndarray) -> float | None:
    """ms from the end of the question's speech to the first reply audio, on the caller."""
    audio = read_wav(path)
    if audio.samples.ndim != 2:
        raise RuntimeError(f"{path} is not a stereo recording (RECORD_STEREO)")
    channels = audio.samples.T.astype(np.int32)
    # The channel that carries the question is the one the caller said it on.
    said, heard = (0, 1) if np.abs(channels[0]).sum() < np.abs(channels[1]).sum() else (1, 0)
    spoke = _first_loud(channels[said], 0)
    if spoke is None:
        return None
    eos = spoke + int(end_of_speech(question, RATE) * audio.sample_rate / RATE)
    eos -= _first_loud(question.astype(np.int32), 0) or 0
    reply = _first_loud(channels[heard], eos)
    if reply is None:
        return None
    return (reply - eos) * 1000 / audio.sample_rate


async def _call(
    service: Service, clip_path: Path, question: np.ndarray, tmp: Path
) -> tuple[float | None, float | None]:
    inbound = service.inbound
    assert inbound is not None
    caller = str(uuidlib.uuid4())
    # Both legs write silence while idle (the bot's leg gets it through loopback_export,
    # before it is answered), so a stereo recording's two channels stay aligned in time.
    variables = (
        f"origination_uuid={caller},RECORD_STEREO=true,send_silence_when_idle=-1,"
        "loopback_export=send_silence_when_idle"
    )
    made = await inbound.bgapi(
        f"originate {{{variables}}}loopback/{BOT}/default &park()", timeout=30
    )
    if not made.ok:
        raise RuntimeError(f"originate failed: {made.text}")

    def bot_leg() -> Any:
        calls = service.controller.calls.values()
        return next((c for c in calls if c.action == "bot" and not c.ended), None)

    call = await eventually(bot_leg, timeout=15)
    session = await eventually(lambda: service.bot.session(call.id), timeout=30)
    await eventually(lambda: session.turns and session.machine.state.value == "listening", 60)
    # On the bot's leg (default): the caller's voice as it reaches FreeSWITCH and the audio
    # leaving FreeSWITCH toward the caller — what a phone's RTP would carry. On the caller's
    # leg: the loopback channel between the two is counted too.
    leg = call.id if LEG == "bot" else caller
    recording = tmp / f"{caller}.wav"
    await inbound.api(f"uuid_setvar {leg} RECORD_STEREO true")
    await inbound.api(f"uuid_record {leg} start {recording}")
    await asyncio.sleep(0.3)
    turns = len(session.turns)
    await inbound.api(f"uuid_broadcast {caller} {clip_path} aleg")
    await eventually(
        lambda: (
            any(t["speaker"] == "bot" for t in session.turns[turns:])
            and session.machine.state.value == "listening"
        ),
        timeout=60,
    )
    answer = next(t for t in session.turns[turns:] if t["speaker"] == "bot")
    service_ms = answer.get("voice_to_voice_ms")
    await inbound.api(f"uuid_record {leg} stop {recording}")
    await inbound.api(f"uuid_kill {caller}")
    await service.controller.wait_finished(call.id, 15)
    await eventually(lambda: recording.exists() and recording.stat().st_size > 0, timeout=10)
    return measure_recording(recording, question), service_ms


async def _measure(playback: str, workdir: Path, limit: int) -> dict[str, Any]:
    target = os.environ["CALLCONTROL_TEST_ESL"]
    host, port, password = target.split(":", 2)
    settings = make_settings(
        workdir,
        esl_port=int(port),
        esl={"host": host, "password": password},
        fork={
            "port": 0,
            "sample_rate": 8000,
            "playback": playback,
            "stream_marks": True,
        },
        pipeline={"enabled": True, "silence_reprompt_s": 60},
    )
    async with Service(settings) as service:
        await service.bot.wait_loaded(600)
        assert service.kb is not None
        for title, text in FACTS.items():  # the bot number's calls: its knowledge
            await service.kb.add(BOT, title, text, source="bench")
        questions = [q for call in CALLS for q in call][:limit]
        heard: list[float] = []
        service_side: list[float] = []
        started = time.monotonic()
        for n, text in enumerate(questions):
            pcm = await service.bot.voice.tts.synthesize(text, 16000)
            clip = resample(np.frombuffer(pcm, dtype=np.int16), 16000, RATE).astype(np.int16)
            clip = np.concatenate([np.zeros(RATE // 5, dtype=np.int16), clip])
            path = workdir / f"q{n}.wav"
            write_wav(path, clip, RATE)
            ms, service_ms = await _call(service, path, clip, workdir)
            if n == 0:
                continue  # the first call warms up
            if ms is not None:
                heard.append(ms)
            if service_ms is not None:
                service_side.append(float(service_ms))
        elapsed = time.monotonic() - started
    return {
        "playback": playback,
        "questions": len(questions) - 1,
        "voice_to_voice_ms": _summary(heard),  # on the caller's leg, FreeSWITCH's clock
        "service_voice_to_voice_ms": _summary(service_side),
        "p50_ms": round(_pct(heard, 50), 1) if heard else None,
        "elapsed_s": round(elapsed, 1),
        "freeswitch": target.rsplit(":", 1)[0],
        "recorded_on": f"the {LEG}'s leg",
    }


def run(playback: str = "stream", limit: int = 13) -> dict[str, Any]:
    configure_logging("WARNING")
    keep = os.environ.get("CALLCONTROL_BENCH_KEEP")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return asyncio.run(_measure(playback, Path(keep), limit))
    with tempfile.TemporaryDirectory(prefix="cc-bench-realfs-") as tmp:
        return asyncio.run(_measure(playback, Path(tmp), limit))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stream"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 13
    result = run(mode, count)
    out = Path("bench-results") / f"real_fs_latency_{mode}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
