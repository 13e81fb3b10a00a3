"""Latency of each pipeline stage on the real models (``make bench`` calls this).

    python -m tests.bench.pipeline_stages            # prints the JSON
    from tests.bench.pipeline_stages import measure_pipeline_stages

Every figure is the median (and p90) over ``repeats`` runs in milliseconds, warm
models. The machine's load average is recorded before and after: on 2 shared cores
the figures move ±50 % with whatever else runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import numpy as np

from callcontrol.config import Settings
from callcontrol.pipeline.base import ChatMessage
from callcontrol.pipeline.documents import InMemoryDocumentRepo
from callcontrol.pipeline.e5 import E5Embedder
from callcontrol.pipeline.llamacpp import LlamaCppLLM
from callcontrol.pipeline.models import cache_dir
from callcontrol.pipeline.piper import PiperTTS
from callcontrol.pipeline.prompt import build_messages, select_passages
from callcontrol.pipeline.rag import KnowledgeService
from callcontrol.pipeline.reply import speak
from callcontrol.pipeline.sentences import SentenceSplitter
from callcontrol.pipeline.whisper import WhisperSTT
from tests.integration.pipeline.clips import load_clip

MEETING = "The weekly meeting is on Monday at 10 am in room 3."
FILLER = [
    "Our office is open Monday to Friday from 9 am to 5 pm.",
    "Visitors can park for free in the underground garage on Elm Street.",
    "The cafeteria serves lunch from noon to 2 pm.",
    "Refunds are processed within 14 days after we receive the returned item.",
    "The guest wifi network is called Visitors and the password is at reception.",
]


def _stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return {"p50_ms": round(statistics.median(ms), 1), "p90_ms": round(p90, 1), "n": len(ms)}


async def _timed(fn: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, float]:
    await fn()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return _stats(samples)


async def _llm_timings(
    llm: LlamaCppLLM, messages: list[ChatMessage], first_clause_words: int
) -> tuple[float, float, float, float, int]:
    """Seconds to first token, first phrase, first full sentence, end; token count."""
    splitter = SentenceSplitter(first_clause_words=first_clause_words)
    sentences = SentenceSplitter()
    started = time.perf_counter()
    first = phrase = sentence = None
    count = 0
    async with aclosing(llm.stream(messages, max_tokens=64)) as tokens:
        async for piece in tokens:
            now = time.perf_counter() - started
            count += 1
            first = first if first is not None else now
            if splitter.push(piece) and phrase is None:
                phrase = now
            if sentences.push(piece) and sentence is None:
                sentence = now
    end = time.perf_counter() - started
    assert first is not None
    return first, phrase or end, sentence or end, end, count


async def _measure(settings: Settings, repeats: int) -> dict[str, Any]:
    cache = cache_dir(settings)
    pipeline = settings.pipeline
    result: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        "threads": {
            "stt": settings.models.stt_threads,
            "llm": settings.models.llm_threads,
            "tts": settings.models.tts_threads,
            "embed": settings.models.embed_threads,
        },
    }
    loads: dict[str, float] = {}

    started = time.perf_counter()
    stt = await asyncio.to_thread(
        WhisperSTT, settings.models, pipeline, cache, preload=("en", "multilingual")
    )
    loads["stt_s"] = time.perf_counter() - started
    started = time.perf_counter()
    embedder = await asyncio.to_thread(E5Embedder, settings.models.embed_threads)
    loads["embed_s"] = time.perf_counter() - started
    started = time.perf_counter()
    llm = await asyncio.to_thread(LlamaCppLLM, settings.models, cache)
    loads["llm_s"] = time.perf_counter() - started
    started = time.perf_counter()
    tts = await asyncio.to_thread(PiperTTS, settings.models, cache)
    loads["tts_s"] = time.perf_counter() - started
    result["load"] = {k: round(v, 2) for k, v in loads.items()}

    # STT on a 3 s telephone clip (8 kHz μ-law, resampled to 16 kHz).
    clip = load_clip("question")
    clip = np.concatenate([clip, np.zeros(max(0, 48000 - len(clip)), dtype=np.float32)])
    result["stt_en_ms"] = await _timed(lambda: stt.transcribe(clip, "en"), repeats)
    result["stt_auto_ms"] = await _timed(lambda: stt.transcribe(clip, "auto"), repeats)
    tiny = stt._model("en")
    result["stt_en_30s_window_ms"] = await _timed(
        lambda: asyncio.to_thread(stt._decode_long, tiny, clip, "en"), max(2, repeats // 2)
    )

    # Embedding + search among a small knowledge base.
    kb = KnowledgeService(InMemoryDocumentRepo(), embedder)
    await kb.add("A", "meeting", MEETING)
    for i, text in enumerate(FILLER * 6):
        await kb.add("A", f"filler {i}", f"{text} (note {i})")
    result["embed_search_ms"] = await _timed(
        lambda: kb.search("A", "When is the weekly meeting?", pipeline.top_k), repeats
    )
    passages = await kb.search("A", "When is the weekly meeting?", pipeline.top_k)
    kb.close()
    chosen = select_passages(passages, min_score=pipeline.min_confidence)
    result["retrieval_top_score"] = round(passages[0].score, 3)

    # LLM: cold (whole prompt evaluated) vs warm (system prompt's KV state reused).
    questions = [
        "When is the weekly meeting?",
        "What day is the weekly meeting?",
        "At what time is the weekly meeting?",
        "Which room is the weekly meeting in?",
    ]

    def messages(i: int) -> list[ChatMessage]:
        return build_messages(pipeline.system_prompt, questions[i % len(questions)], chosen)

    cold: list[tuple[float, float, float, float, int]] = []
    warm: list[tuple[float, float, float, float, int]] = []
    for i in range(repeats):
        llm._llm.reset()
        cold.append(await _llm_timings(llm, messages(i), 5))
        await llm.prime(pipeline.system_prompt)
        warm.append(await _llm_timings(llm, messages(i + 1), 5))
    prompt_tokens = len(
        llm._llm.tokenize(
            "".join(m.content for m in messages(0)).encode(), add_bos=False, special=True
        )
    )
    result["llm"] = {
        "prompt_tokens_approx": prompt_tokens,
        "cold_first_token_ms": _stats([c[0] for c in cold]),
        "warm_first_token_ms": _stats([w[0] for w in warm]),
        "cold_first_phrase_ms": _stats([c[1] for c in cold]),
        "warm_first_phrase_ms": _stats([w[1] for w in warm]),
        "warm_first_sentence_ms": _stats([w[2] for w in warm]),
        "warm_total_ms": _stats([w[3] for w in warm]),
        "tokens_per_s": round(
            statistics.median(w[4] / max(1e-6, w[3] - w[0]) for w in warm if w[4] > 1), 1
        ),
    }

    # TTS: first audio of the first phrase, and of a whole sentence, at 8 kHz.
    result["tts_first_phrase_ms"] = await _timed(
        lambda: tts.synthesize("The weekly meeting is on Monday", 8000), repeats
    )
    result["tts_sentence_ms"] = await _timed(lambda: tts.synthesize(MEETING, 8000), repeats)

    # One turn, end of speech → first reply audio ready (endpointing not included).
    async def turn() -> float:
        started = time.perf_counter()
        heard = await stt.transcribe(clip, "en")
        found = await kb_turn.search("A", heard.text, pipeline.top_k)
        msgs = build_messages(
            pipeline.system_prompt,
            heard.text,
            select_passages(found, min_score=pipeline.min_confidence),
        )
        async with aclosing(speak(llm, tts, msgs, sample_rate=8000)) as spoken:
            async for _ in spoken:
                return time.perf_counter() - started
        return time.perf_counter() - started

    kb_turn = KnowledgeService(InMemoryDocumentRepo(), embedder)
    await kb_turn.add("A", "meeting", MEETING)
    for i, text in enumerate(FILLER):
        await kb_turn.add("A", f"filler {i}", text)
    await llm.prime(pipeline.system_prompt)
    await turn()
    samples = [await turn() for _ in range(repeats)]
    kb_turn.close()
    turn_stats = _stats(samples)
    result["turn_to_first_audio_ms"] = turn_stats
    result["endpoint_silence_ms"] = pipeline.endpoint_silence_ms
    result["voice_to_voice_estimate_p50_ms"] = round(
        turn_stats["p50_ms"] + pipeline.endpoint_silence_ms, 1
    )
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]

    stt.close()
    embedder.close()
    llm.close()
    tts.close()
    return result


def measure_pipeline_stages(
    settings: Settings | None = None, *, repeats: int = 5
) -> dict[str, Any]:
    """Load every stage's real model and time it; returns a JSON-ready dict."""
    if settings is None:
        data = Path(tempfile.mkdtemp(prefix="cc-bench-"))
        settings = Settings(data_dir=data)
    return asyncio.run(_measure(settings, repeats))


if __name__ == "__main__":
    import sys

    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    print(json.dumps(measure_pipeline_stages(), indent=2))
