"""What the language-model vendors share (``llamacpp.py``, ``openai_compat.py``).

:func:`stream_from_thread` turns a blocking generator on a worker thread into an
async stream that stops the worker within one token when the consumer leaves;
:func:`is_looping` catches greedy decoding's loops; :func:`as_dicts` is the chat
message shape both llama-cpp-python and OpenAI-compatible servers take.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import Executor

from callcontrol.errors import PipelineError
from callcontrol.pipeline.base import ChatMessage

_END = object()


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


def as_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
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
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer and raised there
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
