"""A gevent hub in its own thread, and the way asyncio talks to it.

greenswitch is built on gevent. Rather than monkey-patching the process, its
hub runs in one dedicated thread. asyncio code submits work with
:meth:`GeventThread.run` (the function runs in a fresh greenlet, its result or
exception comes back as an awaited value); gevent code hands results back with
``loop.call_soon_threadsafe``. Nothing on either side ever blocks the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import gevent
import gevent.event

from callcontrol.errors import EslError, EslTimeoutError
from callcontrol.esl.greenswitch_fix import FixedProtocolMixin, ReplySlot
from callcontrol.esl.protocol import EslMessage

T = TypeVar("T")


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class GeventThread:
    """Owns a thread whose only job is to run a gevent hub."""

    def __init__(self, name: str = "esl-gevent") -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._hub: Any = None
        self._async: Any = None
        self._stop: gevent.event.Event | None = None
        self._ready = threading.Event()
        self._inbox: list[Callable[[], None]] = []
        self._inbox_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise EslError("the gevent thread did not start")

    def _main(self) -> None:
        self._hub = gevent.get_hub()
        self._stop = gevent.event.Event()
        self._async = self._hub.loop.async_()
        self._async.start(self._drain_inbox)
        self._ready.set()
        try:
            self._stop.wait()
        finally:
            self._async.stop()
            self._async.close()
            self._hub.destroy(destroy_loop=True)
            self._hub = None

    def _drain_inbox(self) -> None:
        with self._inbox_lock:
            work, self._inbox = self._inbox, []
        for fn in work:
            gevent.spawn(fn)

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in a new greenlet on the gevent thread (thread-safe, non-blocking)."""
        if not self.running or self._async is None:
            raise EslError("the gevent thread is not running")
        with self._inbox_lock:
            self._inbox.append(fn)
        self._async.send()

    async def run(self, fn: Callable[[], T], *, timeout: float | None = None) -> T:
        """Run blocking-for-gevent ``fn`` in a greenlet and await its result."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()

        def runner() -> None:
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                if isinstance(exc, gevent.Timeout):
                    exc = EslTimeoutError(f"no reply within {timeout}s")
                loop.call_soon_threadsafe(_settle, fut, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, fut, result, None)

        self.submit(runner)
        if timeout is None:
            return await fut
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError as exc:
            raise EslTimeoutError(f"no reply within {timeout}s") from exc

    def stop(self, timeout: float = 5.0) -> None:
        if not self.running:
            return
        stop = self._stop

        def _set() -> None:
            if stop is not None:
                stop.set()

        self.submit(_set)
        assert self._thread is not None
        self._thread.join(timeout)
        self._thread = None


async def send_command(
    thread: GeventThread, client: FixedProtocolMixin, command: str, timeout: float
) -> EslMessage:
    """Send ``command`` on ``client`` (which lives on ``thread``) and await its reply.

    The reply travels to asyncio in wire order with the events (see ReplySlot).
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[EslMessage] = loop.create_future()

    poster = client.poster

    def post(message: EslMessage | None, exc: BaseException | None) -> None:
        if poster is not None:
            poster.post(_settle, fut, message, exc)
        else:
            loop.call_soon_threadsafe(_settle, fut, message, exc)

    slot = ReplySlot(post)
    thread.submit(lambda: client.send_nowait(command, slot))
    try:
        return await asyncio.wait_for(fut, timeout)
    except TimeoutError as exc:
        first = command.split("\n", 1)[0][:80]
        raise EslTimeoutError(f"no reply to {first!r} within {timeout}s") from exc
