"""The language model over HTTP: an OpenAI-compatible server (llama.cpp server, vLLM).

:class:`OpenAICompatLLM` streams ``/v1/chat/completions`` (server-sent events) from
a llama.cpp server or vLLM when ``ModelsSettings.llm_server_url`` is set.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import ChatMessage
from callcontrol.pipeline.llm import as_dicts


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

    async def start(self) -> None:
        """Nothing to do: the server is up or a turn fails with a ``PipelineError``."""

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 96,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": as_dicts(messages),
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
