"""Session-scoped real models for the pipeline integration tests (loaded once)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcontrol.config import Settings
from callcontrol.pipeline.e5 import E5Embedder
from callcontrol.pipeline.llamacpp import LlamaCppLLM
from callcontrol.pipeline.models import cache_dir
from callcontrol.pipeline.piper import PiperTTS
from callcontrol.pipeline.whisper import WhisperSTT


@pytest.fixture(scope="session")
def pipeline_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("pipeline-data")
    return Settings(data_dir=data)


@pytest.fixture(scope="session")
def model_cache(pipeline_settings: Settings) -> Path:
    return cache_dir(pipeline_settings)


@pytest.fixture(scope="session")
def stt(pipeline_settings: Settings, model_cache: Path) -> Iterator[WhisperSTT]:
    engine = WhisperSTT(
        pipeline_settings.models,
        pipeline_settings.pipeline,
        model_cache,
        preload=("en", "multilingual"),
    )
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def embedder(pipeline_settings: Settings) -> Iterator[E5Embedder]:
    engine = E5Embedder(pipeline_settings.models.embed_threads)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def llm(pipeline_settings: Settings, model_cache: Path) -> Iterator[LlamaCppLLM]:
    engine = LlamaCppLLM(pipeline_settings.models, model_cache)
    asyncio.run(engine.prime(pipeline_settings.pipeline.system_prompt))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def tts(pipeline_settings: Settings, model_cache: Path) -> Iterator[PiperTTS]:
    engine = PiperTTS(pipeline_settings.models, model_cache)
    yield engine
    engine.close()
