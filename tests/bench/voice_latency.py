"""Voice-to-voice latency over many turns, on the default (bundled) models.

Voice-to-voice is measured **on the caller's side**: from the moment the caller's last
speech frame has been sent (real time) to the arrival of the first reply audio at the
caller. The service's own figure (end of speech → playback start, stored with each bot
turn in ``turns.voice_to_voice_ms``, with its stage waterfall) is reported beside it.

A caller connects to the worker's direct endpoint (the same media path minus
FreeSWITCH), asks a question at real time, waits for the bot's answer to finish, then
asks the next. 24 different questions over 8 facts, spread over 4 calls (so history
grows within a call and no turn repeats an earlier turn's whole prompt); only the
system prompt's KV state is reused. The questions are spoken by Piper at bench time,
then turned into 8 kHz telephone audio (G.711 μ-law round trip).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from websockets.asyncio.client import connect

from callcontrol.app import Service
from callcontrol.logs import configure_logging
from callcontrol.media.codecs import pcm_bytes, ulaw_decode, ulaw_encode
from callcontrol.media.direct_wire import DirectHello, parse_direct_event
from callcontrol.media.resample import resample
from callcontrol.store.models import Turn
from tests.eval.speech import end_of_speech
from tests.harness import make_settings

OWNER = "bench"
FACTS = {
    "meetings": "The weekly meeting is on Monday at 10 am in room 3.",
    "hours": "The office is open from 8 am to 6 pm on weekdays. On Saturday it opens at 9 am.",
    "parking": "Visitors can park for free in the garage behind the building.",
    "invoices": "Invoices are sent by email on the first day of each month.",
    "support": "Technical support can be reached at extension 4 from 7 am to 9 pm.",
    "delivery": "Orders placed before 2 pm are delivered the next working day.",
    "returns": "Products can be returned within 30 days with the receipt.",
    "wifi": "The guest wifi network is called Lobby and the password is on the front desk.",
}
CALLS = [
    [
        "When is the weekly meeting?",
        "Which room is the meeting in?",
        "What time does the office open?",
        "Are you open on Saturday?",
        "Where can visitors park?",
        "Is parking free?",
    ],
    [
        "When do you send invoices?",
        "How do I get my invoice?",
        "How can I reach technical support?",
        "Until when is support available?",
        "When will my order arrive?",
        "What is the delivery cutoff time?",
    ],
    [
        "Can I return a product?",
        "How many days do I have to return something?",
        "What is the guest wifi called?",
        "Where is the wifi password?",
        "What day is the weekly meeting?",
        "When does the office close?",
    ],
    [
        "Where should I park my car?",
        "What extension is technical support?",
        "Do I need a receipt to return an item?",
        "Is the office open on weekdays?",
        "When are orders delivered?",
        "How are invoices sent?",
    ],
]
RATE = 8000
FRAME_MS = 20


async def _telephone_clip(service: Service, text: str) -> np.ndarray:
    voice = service.bot.voice
    pcm = await voice.tts.synthesize(text, 16000)
    samples = resample(np.frombuffer(pcm, dtype=np.int16), 16000, RATE).astype(np.int16)
    lead = np.zeros(RATE // 5, dtype=np.int16)
    return np.concatenate([lead, ulaw_decode(ulaw_encode(samples))])


async def _one_call(
    url: str, clips: list[np.ndarray], heard: list[float] | None = None, token: str | None = None
) -> list[dict[str, Any]]:
    """Ask each clip in turn; after each, stream silence until the bot has answered.

    ``heard`` gets, per clip, the caller-side voice-to-voice in ms (last speech frame
    sent → first reply audio received)."""
    events: list[dict[str, Any]] = []
    first_audio_after: list[float | None] = [None]
    speech_end = [float("inf")]
    step = RATE * FRAME_MS // 1000
    silence = pcm_bytes(np.zeros(step, dtype=np.int16))
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(DirectHello(owner=OWNER, sample_rate=RATE, token=token).to_json())
        bot_turns = 0

        last_audio = [time.monotonic()]

        async def receive_all() -> None:
            nonlocal bot_turns
            async for message in ws:
                if isinstance(message, bytes):
                    now = last_audio[0] = time.monotonic()
                    if first_audio_after[0] is None and now >= speech_end[0]:
                        first_audio_after[0] = now
                    continue
                event = parse_direct_event(message)
                events.append(event)
                if event.get("type") == "turn" and event.get("speaker") == "bot":
                    bot_turns += 1

        receiver = asyncio.create_task(receive_all())
        start = time.monotonic()
        sent = 0

        async def frame(data: bytes) -> None:
            nonlocal sent
            await ws.send(data)
            sent += 1
            delay = start + sent * FRAME_MS / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

        # The greeting first (one bot turn), then each question.
        while bot_turns < 1:
            await frame(silence)
        for clip in clips:
            expected = bot_turns + 1
            data = pcm_bytes(clip)
            eos_byte = end_of_speech(clip, RATE) * 2
            first_audio_after[0], speech_end[0] = None, float("inf")
            for offset in range(0, len(data), step * 2):
                await frame(data[offset : offset + step * 2].ljust(step * 2, b"\0"))
                if offset < eos_byte <= offset + step * 2:
                    speech_end[0] = time.monotonic()
            deadline = time.monotonic() + 45
            # Until the bot has answered and its audio has been quiet for a second.
            while time.monotonic() < deadline and (
                bot_turns < expected or time.monotonic() - last_audio[0] < 1.0
            ):
                await frame(silence)
            if heard is not None and first_audio_after[0] is not None:
                heard.append((first_audio_after[0] - speech_end[0]) * 1000)
        await ws.close()
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
    return events


def _exchanges(rows: list[Turn]) -> list[dict[str, Any]]:
    """Each caller turn with what the bot said until the caller spoke again."""
    out: list[dict[str, Any]] = []
    call = None
    for row in sorted(rows, key=lambda r: (r.call_id, r.seq)):
        if row.call_id != call:
            call = row.call_id
            out.append({"caller": None, "bot": None, "v2v_ms": None})  # a call boundary
        if row.speaker == "caller":
            out.append({"caller": row.text, "bot": [], "v2v_ms": None})
        elif out and out[-1]["bot"] is not None and row.speaker == "bot":
            out[-1]["bot"].append(row.text)
            if out[-1]["v2v_ms"] is None and row.voice_to_voice_ms is not None:
                out[-1]["v2v_ms"] = row.voice_to_voice_ms
    exchanges = [item for item in out if item["caller"] is not None]
    for item in exchanges:
        item["bot"] = " / ".join(item["bot"])
    return exchanges


def _summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": round(_pct(values, 50), 1) if values else None,
        "p95": round(_pct(values, 95), 1) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
        "max": round(max(values), 1) if values else None,
        "n": len(values),
    }


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _measure(workdir: Path) -> dict[str, Any]:
    settings = make_settings(
        workdir,
        esl={"inbound_enabled": False},
        fork={"port": 0},
        pipeline={"enabled": True, "silence_reprompt_s": 60},
    )
    async with Service(settings) as service:
        await service.bot.wait_loaded(600)
        kb = service.kb
        for title, text in FACTS.items():
            await kb.add(OWNER, title, text, source="bench")
        url = f"ws://127.0.0.1:{service.fork_server.port}/direct"
        clips = [[await _telephone_clip(service, q) for q in call] for call in CALLS]
        # One warm-up call (first-run costs are not what a caller sees in steady state).
        token = service.direct_auth.mint(OWNER)
        await _one_call(url, [clips[0][0]], token=token)
        await service.flush()
        async with service.sessions() as db:
            warm_ids = {r.call_id for r in (await db.execute(select(Turn))).scalars()}
        started = time.monotonic()
        heard: list[float] = []
        for call in clips:
            await _one_call(url, call, heard, token=service.direct_auth.mint(OWNER))
        elapsed = time.monotonic() - started
        await service.flush()
        async with service.sessions() as db:
            rows = [
                r
                for r in (await db.execute(select(Turn).order_by(Turn.started_at))).scalars()
                if r.call_id not in warm_ids
            ]
    answered = [r for r in rows if r.speaker == "bot" and r.voice_to_voice_ms is not None]
    questions = [r.text for r in rows if r.speaker == "caller"]
    v2v = [float(r.voice_to_voice_ms) for r in answered if r.voice_to_voice_ms is not None]
    stages: dict[str, list[float]] = {}
    for row in answered:
        for stage, value in (row.timings or {}).items():
            stages.setdefault(stage, []).append(float(value) * 1000)
    return {
        "turns_asked": sum(len(c) for c in CALLS),
        "turns_answered": len(answered),
        "distinct_prompts": len(set(questions)),
        "voice_to_voice_ms": _summary(heard),  # as the caller hears it
        "service_voice_to_voice_ms": _summary(v2v),  # the service's own clock
        "waterfall_p50_ms": {k: round(_pct(v, 50), 1) for k, v in sorted(stages.items())},
        "waterfall_p95_ms": {k: round(_pct(v, 95), 1) for k, v in sorted(stages.items())},
        "handed_to_person": len([r for r in rows if r.speaker == "bot" and "colleague" in r.text]),
        "transcripts": _exchanges(rows),
        "elapsed_s": round(elapsed, 1),
        "endpoint_silence_ms": settings.pipeline.endpoint_silence_ms,
        "target": {"p50_ms": 1000, "p95_ms": 1500},
        "baseline_pipecat_1_14": {"p50_ms": 1840, "p95_ms": 2110},
    }


def run() -> dict[str, Any]:
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="cc-bench-voice-") as tmp:
        return asyncio.run(_measure(Path(tmp)))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
