"""The language model in process: llama.cpp (llama-cpp-python), one resident model.

:class:`LlamaCppLLM` keeps one model loaded and generates one turn at a time on a
dedicated thread (2 cores: concurrent calls queue). Tokens cross into asyncio
through a queue as they are sampled; leaving the iteration (``aclose()``, or the
consuming task being cancelled — barge-in) sets a flag the worker checks after
every token, so generation stops within one token (~15 ms).

KV reuse: llama-cpp-python keeps the previous turn's tokens evaluated and, for the
next prompt, re-evaluates only what follows the longest common token prefix.
:func:`~callcontrol.pipeline.prompt.build_messages` keeps the system prompt first
and identical, so it is evaluated once (:meth:`LlamaCppLLM.prime` at startup) and
reused by every turn of every call; within a call the earlier turns are reused too.
Measured (bench, load ~3.5): first token 430 ms with the whole prompt evaluated,
190 ms with the system prompt reused. ``ModelsSettings.llm_state_cache_mb`` adds
llama-cpp-python's RAM state cache, which also restores a call's own history after
another call's turn ran in between: with two calls alternating (2-turn histories)
first token 585 → 212 ms, but a lone call pays ~65 ms a turn for saving the state,
so it is off by default; turn it on when calls often overlap.

One thread (``llm_threads=1``) by default: llama.cpp's threads spin on barriers, and
with two of them on two cores, anything else running (Piper synthesizing the previous
phrase, another call's STT) made the first audio 485 ms → 2.3 s (p50) here.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from callcontrol.errors import PipelineError
from callcontrol.pipeline import models as bundled
from callcontrol.pipeline.base import ChatMessage
from callcontrol.pipeline.llm import as_dicts, is_looping, stream_from_thread

if TYPE_CHECKING:
    from callcontrol.config import ModelsSettings

log = structlog.get_logger(__name__)

_PARAMS_LOCK = threading.Lock()


@contextmanager
def _model_params(use_extra_buffers: bool) -> Iterator[None]:
    """Load with ggml's extra buffer types on or off.

    llama-cpp-python does not expose ``use_extra_bufts``; with it on (llama.cpp's
    default) ggml repacks Q4/Q8 weights for AMX when the CPU reports AMX, and
    decoding then segfaults on VMs whose CPUID shows AMX that the kernel has not
    enabled (this machine). So the default params are patched for the load only.
    """
    # The module llama.py calls through (``import llama_cpp.llama_cpp as llama_cpp``).
    low_level: Any = importlib.import_module("llama_cpp.llama_cpp")
    original = low_level.llama_model_default_params

    def patched() -> Any:
        params = original()
        params.use_extra_bufts = use_extra_buffers
        return params

    with _PARAMS_LOCK:
        low_level.llama_model_default_params = patched
        try:
            yield
        finally:
            low_level.llama_model_default_params = original


class LlamaCppLLM:
    """:class:`~callcontrol.pipeline.base.LanguageModel` on llama-cpp-python."""

    def __init__(
        self, models: ModelsSettings, cache: Path, *, system_prompt: str | None = None
    ) -> None:
        """Loads the model (blocking, ~0.2 s; ~1 s the first time for the Q8_0 copy).

        ``system_prompt``: evaluated by :meth:`start`, so every turn reuses it.
        """
        from llama_cpp import Llama
        from llama_cpp.llama_cache import LlamaRAMCache

        path = bundled.llm_gguf_path(models)
        if models.llm_gguf is None and models.llm_q8_bundled:
            path = bundled.llm_q8_path(path, cache)
        self._models = models
        try:
            with _model_params(models.llm_extra_buffers):
                self._llm = Llama(
                    model_path=str(path),
                    n_ctx=models.llm_context,
                    n_threads=models.llm_threads,
                    # Prompt evaluation happens while nothing else computes (STT is done,
                    # TTS has not started): it can have both cores; generation overlaps TTS.
                    n_threads_batch=models.llm_batch_threads,
                    n_batch=512,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise PipelineError(f"cannot load the LLM {path}: {exc}") from exc
        if models.llm_state_cache_mb > 0:
            self._llm.set_cache(LlamaRAMCache(capacity_bytes=models.llm_state_cache_mb << 20))
        self.path = path
        self._system_prompt = system_prompt
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
        log.info("llm loaded", path=str(path), n_ctx=models.llm_context)

    def _generate(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        stop: Sequence[str],
        emit: Callable[[str], None],
        cancel: threading.Event,
    ) -> None:
        if cancel.is_set():
            return
        chunks: Any = self._llm.create_chat_completion(
            messages=as_dicts(messages),  # type: ignore[arg-type]
            stream=True,
            max_tokens=max_tokens,
            stop=list(stop),
            temperature=self._models.llm_temperature,
            repeat_penalty=self._models.llm_repeat_penalty,
        )
        reply = ""
        try:
            for chunk in chunks:
                if cancel.is_set():
                    break
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    emit(text)
                    reply += text
                    if is_looping(reply):
                        log.info("llm reply stopped: it repeats itself", reply=reply)
                        break
        finally:
            chunks.close()

    async def prime(self, system_prompt: str) -> None:
        """Evaluate the system prompt now, so the first turn only pays for its question."""
        messages = [ChatMessage("system", system_prompt), ChatMessage("user", "Hello")]
        async for _ in self.stream(messages, max_tokens=1):
            pass

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 96,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        def produce(emit: Callable[[str], None], cancel: threading.Event) -> None:
            self._generate(messages, max_tokens, stop, emit, cancel)

        return stream_from_thread(self._executor, produce)

    async def start(self) -> None:
        if self._system_prompt is not None:
            await self.prime(self._system_prompt)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llm.close()
