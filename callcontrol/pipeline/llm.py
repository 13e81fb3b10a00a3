"""The language model: llama.cpp in process, or an OpenAI-compatible server.

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

:class:`OpenAICompatLLM` streams ``/v1/chat/completions`` (server-sent events) from
a llama.cpp server or vLLM when ``ModelsSettings.llm_server_url`` is set.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from callcontrol.errors import PipelineError
from callcontrol.pipeline import models as bundled
from callcontrol.pipeline.base import ChatMessage, LanguageModel

if TYPE_CHECKING:
    from callcontrol.config import ModelsSettings

log = structlog.get_logger(__name__)

_END = object()
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


def is_looping(text: str, n: int = 5) -> bool:
    """Whether the last ``n`` words already appeared earlier (greedy decoding's loop).

    Small models under greedy decoding can fall into "…of the 10th floor of the 10th
    floor…"; a repetition penalty would fight it but also steers the model away from
    copying the facts it was given, so the loop is cut here instead.
    """
    words = text.lower().split()
    if len(words) < 2 * n:
        return False
    tail = words[-n:]
    return any(words[i : i + n] == tail for i in range(len(words) - n))


def _as_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


Produce = Callable[[Callable[[str], None], threading.Event], None]


async def stream_from_thread(executor: Executor, produce: Produce) -> AsyncGenerator[str, None]:
    """Run ``produce(emit, cancel)`` on ``executor``; yield each emitted piece at once.

    The producer must return soon after ``cancel`` is set; it is set when the
    consumer stops iterating, is cancelled, or fails. Errors in the producer are
    raised here as :class:`PipelineError`. With a one-thread executor, streams queue
    behind each other (one generation at a time), and a queued one that is abandoned
    before it starts never runs.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()
    started = threading.Event()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            cancel.set()

    def work() -> None:
        started.set()
        try:
            produce(put, cancel)
        except BaseException as exc:  # handed to the consumer and raised there
            put(exc)
        finally:
            put(_END)

    future = loop.run_in_executor(executor, work)
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise PipelineError(f"LLM generation failed: {item}") from item
            assert isinstance(item, str)
            yield item
    finally:
        cancel.set()
        if not started.is_set():
            future.cancel()
        if not future.cancelled():
            # Wait for the worker to let go of the model (at most one more token).
            await asyncio.shield(future)


class LlamaCppLLM:
    """:class:`~callcontrol.pipeline.base.LanguageModel` on llama-cpp-python."""

    def __init__(self, models: ModelsSettings, cache: Path) -> None:
        """Loads the model (blocking, ~0.2 s; ~1 s the first time for the Q8_0 copy)."""
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
            messages=_as_dicts(messages),  # type: ignore[arg-type]
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

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llm.close()


class OpenAICompatLLM:
    """:class:`~callcontrol.pipeline.base.LanguageModel` over an OpenAI-compatible API."""

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        *,
        temperature: float = 0.0,
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        url = base_url.rstrip("/")
        self._url = url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")
        self._model = model
        self._temperature = temperature
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=3.0))
        self._owns_client = client is None

    async def prime(self, system_prompt: str) -> None:
        """Nothing to do: the server keeps its own prompt cache."""

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 96,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": _as_dicts(messages),
            "max_tokens": max_tokens,
            "temperature": self._temperature,
            "stream": True,
            # llama.cpp server: keep the shared prompt prefix in its KV cache.
            "cache_prompt": True,
        }
        if stop:
            body["stop"] = list(stop)
        try:
            async with self._client.stream("POST", self._url, json=body) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:200]
                    raise PipelineError(f"LLM server answered {response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    text = parse_sse_line(line)
                    if text is _DONE:
                        break
                    if text:
                        assert isinstance(text, str)
                        yield text
        except httpx.HTTPError as exc:
            raise PipelineError(f"LLM server {self._url}: {exc}") from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


_DONE = object()


def parse_sse_line(line: str) -> str | object | None:
    """The content delta of one server-sent-events line; ``_DONE`` at the end."""
    line = line.strip()
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        event = json.loads(data)
        choice = event["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    delta = choice.get("delta") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else None


def build_llm(models: ModelsSettings, cache: Path) -> LanguageModel:
    """The configured backend (blocking when it loads llama.cpp)."""
    if models.llm_server_url:
        return OpenAICompatLLM(
            models.llm_server_url, models.llm_server_model, temperature=models.llm_temperature
        )
    return LlamaCppLLM(models, cache)
