"""The factory: vendors by name from settings, a clear error for an unknown one, and
each stage's lifecycle run in order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callcontrol.config import Settings
from callcontrol.errors import ConfigError
from callcontrol.pipeline import factory
from callcontrol.pipeline.base import EmbedderStage, Lifecycle
from callcontrol.pipeline.documents import InMemoryDocumentRepo
from callcontrol.pipeline.rag import open_knowledge_service
from tests.fakes.pipeline import FakeEmbedder


def settings(**kwargs: Any) -> Settings:
    """Settings as given, whatever QDRANT_URL the environment has."""
    return Settings(_env_file=None, **{"qdrant_url": None, **kwargs})


def test_vendors_follow_the_settings() -> None:
    assert factory.Vendors.from_settings(settings()) == factory.Vendors(
        stt="whisper", llm="llamacpp", tts="piper", embedder="e5", vectors=None
    )
    remote = settings(
        models={"llm_server_url": "http://127.0.0.1:9/v1"}, qdrant_url="http://127.0.0.1:6333"
    )
    chosen = factory.Vendors.from_settings(remote)
    assert chosen.llm == "openai_compat" and chosen.vectors == "qdrant"


@pytest.mark.parametrize(
    ("build", "stage"),
    [
        (factory.build_stt, "speech-to-text"),
        (factory.build_llm, "LLM"),
        (factory.build_tts, "text-to-speech"),
        (factory.build_embedder, "embedder"),
    ],
)
def test_an_unknown_vendor_is_a_config_error_naming_the_known_ones(
    build: Callable[..., object], stage: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=rf"unknown {stage} vendor 'nope' \(known: .+\)"):
        build(settings(), tmp_path, vendor="nope")


def test_an_unknown_vector_store_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown vector store vendor 'nope' \(known: qdrant\)"):
        factory.build_vector_store(settings(), 384, vendor="nope")
    assert factory.build_vector_store(settings(), 384) is None  # no QDRANT_URL: in process


def test_a_vendor_that_lacks_its_setting_says_which(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="llm_server_url"):
        factory.build_llm(settings(), tmp_path, vendor="openai_compat")
    with pytest.raises(ConfigError, match="QDRANT_URL"):
        factory.build_vector_store(settings(), 384, vendor="qdrant")


async def test_the_openai_compat_vendor_is_built_from_the_settings(tmp_path: Path) -> None:
    remote = settings(models={"llm_server_url": "http://127.0.0.1:9/v1", "llm_temperature": 0.3})
    async with factory.open_stage(lambda: factory.build_llm(remote, tmp_path)) as llm:
        assert type(llm).__name__ == "OpenAICompatLLM"
        assert isinstance(llm, Lifecycle)


class RecordingStage:
    """A stage that records its lifecycle (and can fail to start)."""

    def __init__(self, log: list[str], fail_start: bool = False) -> None:
        self.log = log
        self.fail_start = fail_start

    async def start(self) -> None:
        self.log.append("start")
        if self.fail_start:
            raise RuntimeError("cannot start")

    async def aclose(self) -> None:
        self.log.append("aclose")


async def test_open_stage_starts_then_closes() -> None:
    log: list[str] = []
    async with factory.open_stage(lambda: RecordingStage(log)) as stage:
        log.append("used")
        assert isinstance(stage, RecordingStage)
    assert log == ["start", "used", "aclose"]


async def test_a_stage_that_fails_to_start_is_closed() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError):
        async with factory.open_stage(lambda: RecordingStage(log, fail_start=True)):
            pass
    assert log == ["start", "aclose"]


class FakeEmbedderStage(FakeEmbedder):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    async def start(self) -> None:
        self.log.append("embedder start")

    async def aclose(self) -> None:
        self.log.append("embedder aclose")


async def test_a_registered_vendor_serves_the_knowledge_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []

    def build(settings: Settings, cache: Path) -> EmbedderStage:
        return FakeEmbedderStage(log)

    monkeypatch.setitem(factory.EMBEDDER_VENDORS, "e5", build)
    repo = InMemoryDocumentRepo()
    async with open_knowledge_service(settings(), repo, watch=False) as kb:
        await kb.add("acme", "hours", "The office opens at 9 am on Monday.")
        hits = await kb.search("acme", "When does the office open?")
        assert hits and "9 am" in hits[0].text
        assert log == ["embedder start"]
    assert log == ["embedder start", "embedder aclose"]
