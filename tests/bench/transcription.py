"""Transcripts of recorded calls: throughput, and what they cost a live call.

1. **Throughput**: stereo recordings of conversations (Piper voices, telephone audio:
   one side left, the other right, with pauses, like a real call) are queued as
   transcription jobs with no call in progress; minutes of call audio transcribed per
   minute of wall time, on this machine's cores, with the bundled Whisper.
2. **Impact on a live call**: the voice-latency calls (direct endpoint, caller-side
   voice-to-voice) are made twice — with nothing queued, then with a backlog of
   transcription jobs queued — and the two p50/p95 are compared (the workers yield to
   calls in progress: ``recording.busy_calls`` 0). How much transcription work went on
   during the calls is reported too.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from callcontrol.app import Service
from callcontrol.logs import configure_logging
from callcontrol.media.codecs import ulaw_decode, ulaw_encode
from callcontrol.media.resample import resample
from callcontrol.recording.files import write_pcm
from callcontrol.recording.manager import TRANSCRIBE
from callcontrol.store.models import Call, Recording
from tests.bench.voice_latency import CALLS, FACTS, OWNER, _one_call, _summary, _telephone_clip
from tests.harness import make_settings

RATE = 8000
CONVERSATION = [
    ("caller", "Hi, I'm calling about my order, it still hasn't arrived."),
    ("agent", "I'm sorry to hear that. Can you give me the order number?"),
    ("caller", "Sure, it's four five seven, two two nine."),
    ("agent", "Thank you. I can see it left our warehouse on Monday."),
    ("caller", "Monday? It should have been here by now."),
    ("agent", "You're right. I'll open a trace with the courier today."),
    ("agent", "Orders are normally delivered within three working days."),
    ("caller", "Okay. Will you let me know what they say?"),
    ("agent", "Yes, I'll email you as soon as I hear back, by Thursday at the latest."),
    ("caller", "Great, thanks for your help."),
    ("agent", "You're welcome. Is there anything else I can do for you?"),
    ("caller", "No, that's all. Goodbye."),
]
RECORDINGS = 6  # ~6 × 45 s of call audio


async def _voice(service: Service, text: str) -> np.ndarray:
    pcm = await service.bot.voice.tts.synthesize(text, 16000)
    samples = resample(np.frombuffer(pcm, dtype=np.int16), 16000, RATE).astype(np.int16)
    return np.asarray(ulaw_decode(ulaw_encode(samples)), dtype=np.int16)


async def _conversation(service: Service) -> np.ndarray:
    """One call as FreeSWITCH records it: caller left, agent right, turns in sequence."""
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    for who, text in CONVERSATION:
        said = await _voice(service, text)
        gap = np.zeros(int(RATE * 0.7), dtype=np.int16)
        silent = np.zeros_like(said)
        left += [said if who == "caller" else silent, gap]
        right += [said if who == "agent" else silent, gap]
    return np.stack([np.concatenate(left), np.concatenate(right)], axis=1)


async def _store(service: Service, root: Path, call_id: str, frames: np.ndarray) -> float:
    folder = root / "2026" / "12" / "03" / call_id
    folder.mkdir(parents=True)
    write_pcm(folder / "call.wav", frames, RATE)
    async with service.sessions() as s:
        s.add(Call(id=call_id, owner=OWNER, handled_by="human"))
        s.add(
            Recording(
                call_id=call_id,
                owner=OWNER,
                directory=f"2026/12/03/{call_id}",
                stereo_file="call.wav",
                status="ready",
                duration_s=len(frames) / RATE,
            )
        )
        await s.commit()
    return len(frames) / RATE


async def _queue_all(service: Service, ids: list[str]) -> None:
    for call_id in ids:
        await service.jobs.enqueue(TRANSCRIBE, call_id)
    assert service.transcriber is not None
    service.transcriber.wake()


async def _wait_done(service: Service, ids: list[str], count: int) -> None:
    assert service.transcriber is not None
    while sum(service.transcriber.completed.count(i) for i in ids) < count * len(ids):
        await asyncio.sleep(0.2)


async def _latency(service: Service, url: str, clips: list[list[np.ndarray]]) -> list[float]:
    heard: list[float] = []
    for call in clips:
        await _one_call(url, call, heard, token=service.direct_auth.mint(OWNER))
    return heard


async def _measure(workdir: Path) -> dict[str, Any]:
    root = workdir / "recordings"
    settings = make_settings(
        workdir,
        esl={"inbound_enabled": False},
        fork={"port": 0},
        calls={"recordings_dir": str(root)},
        pipeline={"enabled": True, "silence_reprompt_s": 60},
        recording={"transcribe": True, "transcribe_workers": 1, "postcall": False},
    )
    async with Service(settings) as service:
        await service.bot.wait_loaded(600)
        for title, text in FACTS.items():
            await service.kb.add(OWNER, title, text, source="bench")
        frames = await _conversation(service)
        ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(RECORDINGS)]
        audio_s = sum([await _store(service, root, i, frames) for i in ids])
        # 1. Throughput, nothing else running.
        started = time.monotonic()
        await _queue_all(service, ids)
        await _wait_done(service, ids, 1)
        elapsed = time.monotonic() - started

        # 2. Live calls, with and without a transcription backlog.
        url = f"ws://127.0.0.1:{service.fork_server.port}/direct"
        clips = [[await _telephone_clip(service, q) for q in call[:4]] for call in CALLS[:3]]
        await _one_call(url, [clips[0][0]], token=service.direct_auth.mint(OWNER))  # warm-up
        # Alternated, so warm-up and drift fall on both sides alike.
        quiet: list[float] = []
        busy: list[float] = []
        during = 0
        for round_ in range(2):
            quiet += await _latency(service, url, clips)
            await _queue_all(service, ids)  # the same recordings again: a backlog
            await asyncio.sleep(2.0)  # a job is under way when the first call starts
            before = len(service.transcriber.completed) if service.transcriber else 0
            busy += await _latency(service, url, clips)
            during += (len(service.transcriber.completed) if service.transcriber else 0) - before
            await _wait_done(service, ids, 2 + round_)
    q, b = _summary(quiet), _summary(busy)
    return {
        "recordings": RECORDINGS,
        "audio_minutes": round(audio_s / 60, 2),
        "elapsed_minutes": round(elapsed / 60, 2),
        "audio_minutes_per_minute": round(audio_s / elapsed, 2),
        "voice_to_voice_ms_no_transcripts": q,
        "voice_to_voice_ms_with_backlog": b,
        "p50_change_pct": round(100 * (b["p50"] - q["p50"]) / q["p50"], 1)
        if q["p50"] and b["p50"]
        else None,
        "p95_change_pct": round(100 * (b["p95"] - q["p95"]) / q["p95"], 1)
        if q["p95"] and b["p95"]
        else None,
        "jobs_finished_during_calls": during,
        "order": "quiet, backlog, quiet, backlog (12 turns each)",
        "busy_calls": settings.recording.busy_calls,
        "target": {"p50_change_pct_max": 10},
    }


def run() -> dict[str, Any]:
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="cc-bench-transcripts-") as tmp:
        return asyncio.run(_measure(Path(tmp)))
