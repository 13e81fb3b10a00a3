from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing

import httpx
import pytest

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import ChatMessage, LanguageModel
from callcontrol.pipeline.llm import stream_from_thread
from callcontrol.pipeline.openai_compat import OpenAICompatLLM, parse_sse_line
from tests.fakes.pipeline import FakeLLM


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=True)


def counting_producer(
    n: int, delay: float, produced: list[int]
) -> Callable[[Callable[[str], None], threading.Event], None]:
    def produce(emit: Callable[[str], None], cancel: threading.Event) -> None:
        for i in range(n):
            if cancel.is_set():
                return
            time.sleep(delay)
            produced.append(i)
            emit(f"t{i} ")

    return produce


async def test_tokens_arrive_while_the_thread_still_produces(executor: ThreadPoolExecutor) -> None:
    produced: list[int] = []
    seen_while_running = []
    async for piece in stream_from_thread(executor, counting_producer(5, 0.02, produced)):
        seen_while_running.append(len(produced) < 5)
        assert piece.startswith("t")
    assert produced == [0, 1, 2, 3, 4]
    assert seen_while_running[0] is True  # the first token came before generation ended


async def test_closing_the_stream_stops_generation_promptly(executor: ThreadPoolExecutor) -> None:
    produced: list[int] = []
    async with aclosing(stream_from_thread(executor, counting_producer(500, 0.01, produced))) as it:
        async for _ in it:
            if len(produced) >= 3:
                break
    assert len(produced) <= 5  # closed within a token or two, not 500


async def test_cancelling_the_consumer_stops_generation(executor: ThreadPoolExecutor) -> None:
    produced: list[int] = []

    async def consume() -> None:
        async for _ in stream_from_thread(executor, counting_producer(500, 0.01, produced)):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.2
    count = len(produced)
    await asyncio.sleep(0.05)
    assert len(produced) == count  # the worker really stopped


async def test_generation_errors_become_pipeline_errors(executor: ThreadPoolExecutor) -> None:
    def broken(emit: Callable[[str], None], cancel: threading.Event) -> None:
        emit("partial ")
        raise RuntimeError("decode failed")

    got = []
    with pytest.raises(PipelineError, match="decode failed"):
        async for piece in stream_from_thread(executor, broken):
            got.append(piece)
    assert got == ["partial "]


async def test_streams_are_serialized_and_an_abandoned_queued_one_never_runs(
    executor: ThreadPoolExecutor,
) -> None:
    first: list[int] = []
    second: list[int] = []
    slow = stream_from_thread(executor, counting_producer(5, 0.03, first))
    queued = stream_from_thread(executor, counting_producer(5, 0.0, second))
    assert await anext(slow) == "t0 "
    next_queued = asyncio.ensure_future(anext(queued))
    await asyncio.sleep(0.01)
    assert not next_queued.done()  # waits for the model
    next_queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await next_queued
    async for _ in slow:
        pass
    await asyncio.sleep(0.05)
    assert first == [0, 1, 2, 3, 4]
    assert second == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('data: {"choices":[{"delta":{"content":"Hi"}}]}', "Hi"),
        ('data: {"choices":[{"delta":{"role":"assistant"}}]}', None),
        ("data: [DONE]", "DONE"),
        (": keep-alive", None),
        ("", None),
        ("data: not json", None),
    ],
)
def test_parse_sse_line(line: str, expected: str | None) -> None:
    got = parse_sse_line(line)
    if expected == "DONE":
        assert got is not None and not isinstance(got, str)
    else:
        assert got == expected


def sse(*pieces: str) -> bytes:
    events = [
        "data: " + json.dumps({"choices": [{"delta": {"content": p}}]}) + "\n\n" for p in pieces
    ]
    return ("".join(events) + "data: [DONE]\n\n").encode()


async def test_openai_compatible_server_streaming() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.url.path == "/v1/chat/completions"
        return httpx.Response(
            200, content=sse("It is ", "on Monday."), headers={"content-type": "text/event-stream"}
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    llm = OpenAICompatLLM("http://llm:8080/v1/", "smol", client=client)
    assert isinstance(llm, LanguageModel)
    msgs = [ChatMessage("system", "Be brief."), ChatMessage("user", "When?")]
    pieces = [p async for p in llm.stream(msgs, max_tokens=20, stop=["\n\n"])]
    assert "".join(pieces) == "It is on Monday."
    body = seen[0]
    assert body["stream"] is True and body["max_tokens"] == 20 and body["model"] == "smol"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "When?"},
    ]
    assert body["stop"] == ["\n\n"]
    await client.aclose()


async def test_openai_compatible_server_error() -> None:
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(503, text="loading model"))
    )
    llm = OpenAICompatLLM("http://llm:8080", client=client)
    with pytest.raises(PipelineError, match="503"):
        async for _ in llm.stream([ChatMessage("user", "hi")]):
            pass
    await client.aclose()


async def test_openai_compatible_server_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    llm = OpenAICompatLLM("http://llm:8080", client=client)
    with pytest.raises(PipelineError, match="refused"):
        async for _ in llm.stream([ChatMessage("user", "hi")]):
            pass
    await client.aclose()


async def test_fake_llm_counts_barge_in() -> None:
    llm = FakeLLM(replies=[["a ", "b ", "c "]], token_delay=0.01)
    async with aclosing(llm.stream([ChatMessage("user", "q")])) as it:
        async for piece in it:
            assert piece == "a "
            break
    assert llm.cancelled == 1


@pytest.mark.parametrize(
    ("text", "looping"),
    [
        ("The meeting is held at the 3rd floor of the 10th floor of the 10th floor of the", True),
        ("The weekly meeting is on Monday at 10 am in room 3.", False),
        ("Yes. Yes. Yes.", False),  # too short to call it a loop
    ],
)
def test_is_looping(text: str, looping: bool) -> None:
    from callcontrol.pipeline.llm import is_looping

    assert is_looping(text) is looping
