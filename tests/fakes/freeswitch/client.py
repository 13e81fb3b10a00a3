"""A raw ESL client and outbound-socket server for driving the emulator from tests.

Deliberately dumb (no retries, no parsing beyond framing) so tests can see exactly what
the emulator wrote: ``raw`` keeps every byte received.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType
from urllib.parse import unquote

from .wire import Message, MessageReader

EVENT_TYPES = ("text/event-plain", "text/event-json")


class EslTestClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.raw = bytearray()
        self._framer = MessageReader()
        self._replies: deque[Message] = deque()
        self.events: deque[Message] = deque()
        self.all_messages: list[Message] = []
        self.eof = False

    @classmethod
    async def connect(
        cls, port: int, *, host: str = "127.0.0.1", password: str | None = "ClueCon"
    ) -> EslTestClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        if password is not None:
            greeting = await client.next_reply()
            assert greeting.content_type == "auth/request", greeting
            reply = await client.command(f"auth {password}")
            assert reply.get("Reply-Text") == "+OK accepted", reply
        return client

    async def __aenter__(self) -> EslTestClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    # ------------------------------------------------------------------ receiving
    async def _read_more(self, timeout: float) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        if not data:
            self.eof = True
            raise EOFError("ESL connection closed")
        self.raw += data
        self._framer.feed(data)
        while (msg := self._framer.next_message()) is not None:
            self.all_messages.append(msg)
            if msg.content_type in EVENT_TYPES:
                self.events.append(msg)
            else:
                self._replies.append(msg)

    async def next_reply(self, timeout: float = 5.0) -> Message:
        """The next non-event message (command/reply, api/response, notices)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._replies:
            await self._read_more(max(0.001, deadline - loop.time()))
        return self._replies.popleft()

    async def next_event(self, name: str | None = None, timeout: float = 5.0) -> Message:
        """The next event (optionally the next one named ``name`` or CUSTOM ``subclass``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self.events:
                msg = self.events.popleft()
                if name is None or name in event_names(msg):
                    return msg
            await self._read_more(max(0.001, deadline - loop.time()))

    async def read_until_eof(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(EOFError):
            while True:
                await self._read_more(timeout)

    # ------------------------------------------------------------------ sending
    async def send(self, data: str | bytes) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def command(self, text: str, timeout: float = 5.0) -> Message:
        await self.send(text.rstrip("\n") + "\n\n")
        return await self.next_reply(timeout)

    async def api(self, text: str, timeout: float = 10.0) -> str:
        reply = await self.command(f"api {text}", timeout)
        assert reply.content_type == "api/response", reply
        return reply.body.decode()

    async def sendmsg(
        self, uuid: str | None, app: str, arg: str = "", *, lock: bool = False
    ) -> Message:
        lines = [
            f"sendmsg {uuid}" if uuid else "sendmsg",
            "call-command: execute",
            f"execute-app-name: {app}",
        ]
        if arg:
            lines.append(f"execute-app-arg: {arg}")
        if lock:
            lines.append("event-lock: true")
        return await self.command("\n".join(lines))


def event_headers(msg: Message) -> dict[str, str]:
    """Decoded headers of an event message (plain or json); first value wins."""
    import json

    if msg.content_type == "text/event-json":
        return dict(json.loads(msg.body))
    head = msg.body.split(b"\n\n", 1)[0].decode()
    out: dict[str, str] = {}
    for line in head.split("\n"):
        name, _, value = line.partition(": ")
        out.setdefault(name, unquote(value))
    return out


def event_names(msg: Message) -> tuple[str, str]:
    headers = event_headers(msg)
    return headers.get("Event-Name", ""), headers.get("Event-Subclass", "")


class OutboundTestServer:
    """Listens like the service's outbound-socket server; ``accept()`` gives a client per call."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._accepted: asyncio.Queue[EslTestClient] = asyncio.Queue()
        self.port = 0
        self.clients: list[EslTestClient] = []

    async def __aenter__(self) -> OutboundTestServer:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = EslTestClient(reader, writer)
        self.clients.append(client)
        self._accepted.put_nowait(client)

    async def accept(self, timeout: float = 5.0) -> EslTestClient:
        return await asyncio.wait_for(self._accepted.get(), timeout)
