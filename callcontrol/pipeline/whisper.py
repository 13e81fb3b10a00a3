"""Speech to text with faster-whisper's CTranslate2 models, tuned for short turns.

* English turns use Whisper base by default (``PipelineSettings.stt_english_model``;
  tiny.en is the faster, less accurate choice), every other language Whisper base;
  ``"auto"`` detects the language on the same encoder pass (the caller keeps the
  language the first turn detected). Models stay loaded; calls run one at a time on
  a dedicated thread, never on the event loop.
* **Chosen by measurement** on the 8 kHz speech of ``make eval``'s development
  questions (3 espeak-ng voices, 246 clips; docs/answer-quality.md): word error rate
  tiny.en greedy 36.7 %, beam 4 32.0 %; base greedy 33.5 %, beam 4 28.0 %, beam 4
  with the owner's glossary as prompt 25.8 % — at ~0.1 s vs ~0.25–0.4 s a question,
  most of it hidden by speculative recognition during the endpointing pause. Stock
  faster-whisper (30 s window) on tiny.en: greedy 40.4 %, beam 5 33.6 %, ~0.44 s.
* **The owner's glossary** (:func:`~callcontrol.pipeline.lexical.glossary`: names and
  long words of their knowledge) is given as Whisper's previous text, biasing
  recognition toward "periodontist" or "Westside" that telephone audio leaves
  ambiguous. When Whisper writes the glossary out instead of the speech
  (:func:`copies_glossary`), the turn is decoded again without it.
* **Short encoder window.** Whisper is trained on 30 s windows and faster-whisper
  always pads to 30 s, so a 2 s question costs as much as a 30 s one (tiny.en
  ~0.33 s, base ~0.9 s here). CTranslate2 accepts a shorter mel input, so a turn is
  encoded in a window of ``max(10 s, its length + 1 s)``: tiny.en ~0.08 s, base
  ~0.2 s for a 3 s question, same words. Below ~10 s of window Whisper starts to
  repeat itself, so 10 s is the floor; the token budget also grows with the audio
  length, decoding never repeats a three-token run, and repeats are collapsed as a
  last guard. Turns longer than ~28 s fall
  back to faster-whisper's own 30 s sliding transcription.
* **Gate.** What Whisper invents for silence and noise is dropped by the
  vendor-neutral gate of ``stt.py`` (:func:`~callcontrol.pipeline.stt.gate_audio`
  before decoding, :func:`~callcontrol.pipeline.stt.gate_text` after).
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import structlog

from callcontrol.config import ModelsSettings, PipelineSettings
from callcontrol.errors import PipelineError
from callcontrol.language import ENGLISH, LanguagePack
from callcontrol.pipeline import models as bundled
from callcontrol.pipeline.base import STT_SAMPLE_RATE, AudioF32, Transcript
from callcontrol.pipeline.stt import (
    GateSettings,
    collapse_repeats,
    estimate_speech_ms,
    gate_audio,
    gate_text,
    strip_annotations,
)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = structlog.get_logger(__name__)

ModelKey = Literal["en", "multilingual"]

_MIN_WINDOW_FRAMES = 1000  # 10 s of mel frames: shorter windows make Whisper repeat itself
_MAX_SHORT_SECONDS = 28.0
# No three-token run twice in one turn: on hard 8 kHz audio beam search can fall into
# "no, no, no, no, …" or "4,000,000,000,…" loops. On the development clips this
# changed 4 of 246 transcripts, all such loops, all for the better (WER 26.6 → 25.3 %;
# a repetition penalty of 1.1 gave 25.4 %, beam 8 25.5 % and was slower).
_NO_REPEAT_NGRAM = 3


@functools.cache
def _whisper_languages() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


def copies_glossary(text: str, glossary: str) -> bool:
    """Whether Whisper wrote out its prompt instead of the speech.

    Given a glossary as previous text, Whisper sometimes continues the list on audio
    it cannot make out ("New Year's Day, American Express," for "Do you take American
    Express?"). A caller does not speak in comma-separated glossary terms: two or more
    of the transcript's comma-separated parts being glossary terms means a copy.
    """
    terms = {t.strip().lower() for t in glossary.rstrip(".").split(",") if t.strip()}
    parts = [p.strip().lower() for p in re.split(r"[,.;!?]", text) if p.strip()]
    return sum(1 for p in parts if p in terms) >= 2


def choose_model(
    language: str | None, default: str, english: str = "tiny.en"
) -> tuple[ModelKey, str | None]:
    """Which model and fixed language (None = detect) a turn uses."""
    lang = (language or default or "auto").lower()
    if lang == "auto":
        return "multilingual", None
    base = lang.split("-")[0]
    if base == "en":
        return ("en", "en") if english == "tiny.en" else ("multilingual", "en")
    return "multilingual", base


class WhisperSTT:
    """:class:`~callcontrol.pipeline.base.SpeechToText` on faster-whisper models."""

    def __init__(
        self,
        models: ModelsSettings,
        pipeline: PipelineSettings,
        cache: Path,
        *,
        preload: Iterable[ModelKey] | None = None,
        language: LanguagePack = ENGLISH,
    ) -> None:
        """Loads the models (blocking, ~0.3 s each): call it from a thread or at startup.

        ``preload`` defaults to what ``pipeline.language`` needs: tiny.en for
        ``"en"``, base otherwise (and tiny.en too, for the English turns).
        ``language``: the pack whose silence hallucinations the gate drops.
        """
        self._models_settings = models
        self._default_language = pipeline.language
        self._english = pipeline.stt_english_model
        self._beam = pipeline.stt_beam_size
        self._detect_languages = tuple(pipeline.detect_languages)
        self._gate = GateSettings.from_settings(pipeline, language)
        self._cache = cache
        self._models: dict[ModelKey, WhisperModel] = {}
        first, _ = choose_model(None, pipeline.language, self._english)
        english, _ = choose_model("en", "en", self._english)
        needed = tuple(dict.fromkeys((first, english)))
        for key in needed if preload is None else preload:
            self._model(key)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stt")

    def _model(self, key: ModelKey) -> WhisperModel:
        model = self._models.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            if key == "en":
                path = bundled.whisper_en_dir(self._models_settings)
            else:
                path = bundled.whisper_multilingual_dir(self._models_settings, self._cache)
            try:
                model = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self._models_settings.stt_threads,
                    num_workers=1,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise PipelineError(f"cannot load Whisper from {path}: {exc}") from exc
            log.info("whisper loaded", model=key, path=str(path))
            self._models[key] = model
        return model

    async def transcribe(
        self,
        audio: AudioF32,
        language: str | None = None,
        *,
        speech_ms: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._transcribe_sync, audio, language, speech_ms, prompt
        )

    def _transcribe_sync(
        self,
        audio: AudioF32,
        language: str | None,
        speech_ms: float | None,
        prompt: str | None = None,
    ) -> Transcript:
        duration = len(audio) / STT_SAMPLE_RATE
        key, fixed = choose_model(language, self._default_language, self._english)
        if fixed is not None and fixed not in _whisper_languages():
            # A dialplan's language Whisper does not know: detect instead of failing
            # every turn of the call.
            log.warning("whisper does not know this language; detecting it", language=fixed)
            key, fixed = choose_model("auto", "auto", self._english)
        fallback_language = fixed or "en"
        reason = gate_audio(audio, speech_ms, self._gate)
        if reason is not None:
            return Transcript("", fallback_language, 1.0, 0.0, duration, dropped=reason)
        model = self._model(key)
        try:
            text, lang, no_speech, logprob = self._decode(model, audio, fixed, prompt)
            if prompt and copies_glossary(text, prompt):
                log.info("stt copied its glossary; decoding again without it", text=text)
                text, lang, no_speech, logprob = self._decode(model, audio, fixed, None)
        except (RuntimeError, ValueError) as exc:
            raise PipelineError(f"speech recognition failed: {exc}") from exc
        text = collapse_repeats(strip_annotations(text))
        measured = speech_ms if speech_ms is not None else estimate_speech_ms(audio)
        reason = gate_text(text, no_speech, logprob, measured, self._gate)
        if reason is not None:
            log.debug("stt dropped", reason=reason, text=text, no_speech_prob=no_speech)
            return Transcript("", lang, no_speech, logprob, duration, dropped=reason)
        return Transcript(text, lang, no_speech, logprob, duration)

    def _decode(
        self, model: WhisperModel, audio: AudioF32, language: str | None, prompt: str | None
    ) -> tuple[str, str, float, float]:
        if len(audio) / STT_SAMPLE_RATE <= _MAX_SHORT_SECONDS:
            return self._decode_short(model, audio, language, prompt, self._beam)
        return self._decode_long(model, audio, language, prompt)

    def _detect(self, model: WhisperModel, encoded: Any) -> str:
        ranked = model.model.detect_language(encoded)[0]  # [(token "<|xx|>", prob), …]
        allowed = self._detect_languages
        for token, _prob in ranked:
            code = str(token)[2:-2]
            if not allowed or code in allowed:
                return code
        return str(ranked[0][0])[2:-2]

    def _decode_short(
        self,
        model: WhisperModel,
        audio: AudioF32,
        language: str | None,
        prompt: str | None = None,
        beam_size: int = 1,
    ) -> tuple[str, str, float, float]:
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        features = model.feature_extractor(audio)
        frames = features.shape[-1]
        window = min(3000, max(_MIN_WINDOW_FRAMES, math.ceil((frames + 100) / 100) * 100))
        padded = np.zeros((1, features.shape[0], window), dtype=np.float32)
        padded[0, :, : min(frames, window)] = features[:, :window]
        encoded = model.model.encode(ctranslate2.StorageView.from_array(padded), to_cpu=False)
        multilingual = bool(model.model.is_multilingual)
        if not multilingual:
            language = "en"
        elif language is None:
            language = self._detect(model, encoded)
        tokenizer = Tokenizer(
            model.hf_tokenizer, multilingual, task="transcribe", language=language
        )
        previous: list[int] = []
        if prompt:
            previous = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-200:]]
        tokens_in = [*previous, *tokenizer.sot_sequence, tokenizer.no_timestamps]
        budget = int(16 + 10 * len(audio) / STT_SAMPLE_RATE)
        result = model.model.generate(
            encoded,
            [tokens_in],
            beam_size=beam_size,
            no_repeat_ngram_size=_NO_REPEAT_NGRAM,
            max_length=min(448, len(tokens_in) + budget),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
        )[0]
        tokens = result.sequences_ids[0]
        avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
        text = tokenizer.decode(tokens)
        return text, language, float(result.no_speech_prob), avg_logprob

    def _decode_long(
        self, model: WhisperModel, audio: AudioF32, language: str | None, prompt: str | None = None
    ) -> tuple[str, str, float, float]:
        segments, info = model.transcribe(
            audio,
            language=language,
            initial_prompt=prompt or None,
            beam_size=self._beam,
            best_of=1,
            temperature=0.0,
            condition_on_previous_text=False,
            no_repeat_ngram_size=_NO_REPEAT_NGRAM,
            without_timestamps=True,
            vad_filter=False,
        )
        parts = list(segments)
        if not parts:
            return "", info.language, 1.0, 0.0
        text = " ".join(s.text.strip() for s in parts)
        no_speech = min(s.no_speech_prob for s in parts)
        logprob = sum(s.avg_logprob for s in parts) / len(parts)
        return text, info.language, no_speech, logprob

    async def start(self) -> None:
        """Nothing to do: the constructor loaded the models."""

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._models.clear()
