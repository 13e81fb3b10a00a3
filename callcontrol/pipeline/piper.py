"""Text to speech with Piper, resampled to the call's rate (``tts.resample_int16``).

One resident :class:`piper.PiperVoice` per language (bundled en_US-joe-medium for
English, any Piper voice from ``ModelsSettings.piper_voices``). Synthesis runs on a
dedicated thread; onnxruntime gets ``tts_threads`` threads with spinning off, so a
sentence being synthesized while the LLM generates the next one does not steal the
LLM's core in busy-wait loops. Piper renders 22.05 kHz; ``soxr`` resamples each
sentence to 8 or 16 kHz.

Fixed phrases (greeting, reprompt, hold, goodbye…) go through :meth:`PiperTTS.phrase`:
rendered once, kept in memory, and stored under ``<cache>/tts/`` keyed by a hash of
voice, rate and text, so a restart does not render them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from callcontrol.errors import ConfigError, PipelineError
from callcontrol.pipeline import models as bundled
from callcontrol.pipeline.sentences import clean_for_speech
from callcontrol.pipeline.tts import CALL_RATES, resample_int16

if TYPE_CHECKING:
    from callcontrol.config import ModelsSettings

log = structlog.get_logger(__name__)

RECENT = 256  # synthesized texts kept in memory (~50 kB each at 8 kHz)

T = TypeVar("T")


class _Voice:
    def __init__(self, files: bundled.PiperVoiceFiles, threads: int) -> None:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            config = json.loads(files.config.read_text(encoding="utf-8"))
            session = onnxruntime.InferenceSession(
                str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise PipelineError(f"cannot load the Piper voice {files.model}: {exc}") from exc
        self.voice = PiperVoice(config=PiperConfig.from_dict(config), session=session)
        self.rate = int(self.voice.config.sample_rate)
        stat = files.model.stat()
        self.key = f"{files.model.name}:{stat.st_size}"

    def sentences(self, text: str) -> Iterable[bytes]:
        for chunk in self.voice.synthesize(text):
            yield chunk.audio_int16_bytes


class PiperTTS:
    """:class:`~callcontrol.pipeline.base.TextToSpeech` on Piper voices."""

    def __init__(
        self,
        models: ModelsSettings,
        cache: Path,
        *,
        languages: Iterable[str] = ("en",),
        warm_phrases: Sequence[str] = (),
    ) -> None:
        """Loads a voice per language (blocking, ~1–4 s each): at startup, in a thread.

        ``warm_phrases``: the fixed phrases :meth:`start` renders ahead of the first call.
        """
        self._models = models
        self._warm_phrases = tuple(warm_phrases)
        self._cache = cache / "tts"
        self._voices: dict[str, _Voice] = {}
        self._phrases: dict[str, bytes] = {}
        self._recent: dict[str, bytes] = {}  # least recently used first
        for language in languages:
            self._voice(language)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")

    def _voice(self, language: str) -> _Voice:
        base = language.split("-")[0].lower()
        voice = self._voices.get(base)
        if voice is None:
            try:
                files = bundled.piper_voice_files(self._models, base)
            except ConfigError:
                if base == "en":
                    raise
                # No voice for this language: speak with the English one rather than not at all.
                log.warning("no piper voice for language, using English", language=base)
                voice = self._voices[base] = self._voice("en")
                return voice
            voice = _Voice(files, self._models.tts_threads)
            log.info("piper voice loaded", language=base, model=str(files.model))
            self._voices[base] = voice
        return voice

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _synthesize_sync(self, text: str, sample_rate: int, language: str) -> bytes:
        voice = self._voice(language)
        try:
            pcm = b"".join(voice.sentences(text))
        except (RuntimeError, ValueError) as exc:
            raise PipelineError(f"speech synthesis failed: {exc}") from exc
        return resample_int16(pcm, voice.rate, sample_rate)

    async def synthesize(self, text: str, sample_rate: int, language: str = "en") -> bytes:
        """Audio of ``text``; the last ``RECENT`` results are kept in memory, because
        answers are facts of the knowledge, and callers ask the same few often."""
        text = clean_for_speech(text)
        if not text:
            return b""
        key = f"{language}\n{sample_rate}\n{text}"
        pcm = self._recent.pop(key, None)
        if pcm is None:
            pcm = await self._run(lambda: self._synthesize_sync(text, sample_rate, language))
        self._recent[key] = pcm
        while len(self._recent) > RECENT:
            self._recent.pop(next(iter(self._recent)))
        return pcm

    async def stream(
        self, text: str, sample_rate: int, language: str = "en"
    ) -> AsyncIterator[bytes]:
        """Audio of ``text`` sentence by sentence (Piper splits sentences itself)."""
        text = clean_for_speech(text)
        if not text:
            return
        voice = await self._run(lambda: self._voice(language))
        chunks = iter(voice.sentences(text))
        done = object()

        def next_chunk() -> Any:
            return next(chunks, done)

        while (pcm := await self._run(next_chunk)) is not done:
            assert isinstance(pcm, bytes)
            yield resample_int16(pcm, voice.rate, sample_rate)

    def _phrase_path(self, voice: _Voice, text: str, sample_rate: int) -> Path:
        digest = hashlib.sha256(f"{voice.key}\n{sample_rate}\n{text}".encode()).hexdigest()
        return self._cache / f"{digest[:32]}.pcm"

    def _phrase_sync(self, text: str, sample_rate: int, language: str) -> bytes:
        voice = self._voice(language)
        path = self._phrase_path(voice, text, sample_rate)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        pcm = self._synthesize_sync(text, sample_rate, language)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(pcm)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return pcm

    async def phrase(self, text: str, sample_rate: int, language: str = "en") -> bytes:
        text = clean_for_speech(text)
        if not text:
            return b""
        key = f"{language}\n{sample_rate}\n{text}"
        pcm = self._phrases.get(key)
        if pcm is None:
            pcm = await self._run(lambda: self._phrase_sync(text, sample_rate, language))
            self._phrases[key] = pcm
        return pcm

    async def warm(
        self,
        phrases: Iterable[str],
        sample_rates: Iterable[int] = CALL_RATES,
        language: str = "en",
    ) -> None:
        """Render (or load from disk) the fixed phrases ahead of the first call."""
        for rate in sample_rates:
            for text in phrases:
                await self.phrase(text, rate, language)

    async def start(self) -> None:
        await self.warm(self._warm_phrases)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._voices.clear()
