"""One real service with the real models, and one emulator, for the whole module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from callcontrol.app import Service
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import make_settings

AUDIO = Path(__file__).parents[2] / "data" / "audio"
FACT = "The weekly meeting is on Monday at 10 am in room 3."


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Joined/converted model files, shared by every test of the session."""
    return tmp_path_factory.mktemp("model-cache")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def switch(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FakeFreeSwitch]:
    async with FakeFreeSwitch(temp_dir=tmp_path_factory.mktemp("fs-tmp")) as sw:
        yield sw


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bot_service(
    switch: FakeFreeSwitch, tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> AsyncIterator[Service]:
    tmp = tmp_path_factory.mktemp("svc")
    settings = make_settings(
        tmp,
        esl_port=switch.esl_port,
        fork={"port": 0},
        pipeline={"enabled": True, "cache_dir": model_cache, "silence_reprompt_s": 30},
        console={"hitl_timeout_s": 5},
    )
    async with Service(settings) as service:
        assert service.inbound is not None
        await service.inbound.wait_connected(10)
        await service.bot.wait_loaded(300)
        assert service.kb is not None
        await service.kb.add("acme", "meetings", FACT, source="test")
        yield service


class Transcriber:
    """Whisper tiny.en, independent of the service's own STT, to check what was heard."""

    def __init__(self) -> None:
        from faster_whisper import WhisperModel

        from callcontrol.config import ModelsSettings
        from callcontrol.pipeline.models import whisper_en_dir

        self.model = WhisperModel(
            str(whisper_en_dir(ModelsSettings())), device="cpu", compute_type="int8"
        )

    def __call__(self, pcm16: bytes, rate: int) -> str:
        from callcontrol.media.resample import resample

        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.int16)
        audio = resample(samples, rate, 16000).astype(np.float32) / 32768.0
        segments, _info = self.model.transcribe(audio, language="en", beam_size=1)
        return " ".join(s.text.strip() for s in segments)


@pytest.fixture(scope="module")
def transcribe() -> Any:
    return Transcriber()
