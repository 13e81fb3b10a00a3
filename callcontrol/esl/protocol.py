"""Pure ESL wire protocol: bytes in, messages out. No I/O, no asyncio, no gevent.

Framing follows what FreeSWITCH 1.10 puts on the wire (docs/wire-protocols.md):

* a message is a block of ``Name: value`` lines ending with an empty line;
* when the block has ``Content-Length``, exactly that many **bytes** of body follow;
* frame on bytes, decode afterwards (a multi-byte character may straddle two reads).

Event bodies are parsed by :func:`parse_event`: ``text/event-plain`` bodies are a
second header block (URL-encoded values) that may end with its own
``Content-Length`` and body; ``text/event-json`` bodies are a JSON object whose
``_body`` holds the event body.

Malformed input never stops the parser: :meth:`EslParser.next_message` raises
:class:`~callcontrol.errors.EslProtocolError` for the bad block, drops it, and the
next call continues with the bytes after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from callcontrol.errors import EslProtocolError

MAX_HEADER_BYTES = 256 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EslMessage:
    """One framed ESL message: its (decoded) header block and raw body bytes."""

    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def reply_text(self) -> str:
        return self.headers.get("Reply-Text", "")

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced, never raising)."""
        return self.body.decode("utf-8", errors="replace")

    # greenswitch's code reads ``.headers`` and ``.data`` on what it receives.
    @property
    def data(self) -> str:
        if self.content_type == "command/reply":
            return self.reply_text
        return self.text


@dataclass(frozen=True, slots=True)
class EslEvent:
    """A FreeSWITCH event, the same whether it came as plain or JSON."""

    name: str
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    body: str | None = None
    # time.perf_counter() when its bytes were read off the socket (0.0 when unknown).
    received_at: float = field(default=0.0, compare=False)

    @property
    def subclass(self) -> str | None:
        return self.headers.get("Event-Subclass")

    @property
    def unique_id(self) -> str | None:
        return self.headers.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")

    @property
    def key(self) -> str:
        """The name handlers subscribe to: the subclass for CUSTOM events."""
        if self.name == "CUSTOM" and self.subclass:
            return self.subclass
        return self.name

    @property
    def timestamp_us(self) -> int | None:
        raw = self.headers.get("Event-Date-Timestamp")
        if raw is None or not raw.isdigit():
            return None
        return int(raw)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def variable(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(f"variable_{name}", default)


# A header block: "Name: value" lines (name: printable ASCII, no ':' or space).
_HEADER = re.compile(r"([!-9;-~]+):[ ]?([^\r\n]*)\r?\n")
_BLOCK = re.compile(r"(?:[!-9;-~]+:[^\n]*\n)*")


def _parse_header_block(block: bytes, *, url_decoded: bool) -> dict[str, str]:
    # One C-level regex pass over the whole block: events carry ~100 headers and arrive
    # by the thousand per second; per-line Python handling cost ~140 us an event.
    text = block.decode("utf-8", errors="replace")
    if not text.endswith("\n"):
        text += "\n"
    text = text.lstrip("\r\n")
    if _BLOCK.fullmatch(text.replace("\n\n", "\n")) is None:
        _raise_bad_line(text)
    pairs = _HEADER.findall(text)
    if url_decoded:
        return UrlDecodedHeaders(pairs)
    return dict(pairs)


class UrlDecodedHeaders(dict[str, str]):
    """Header values URL-decoded on first read: of an event's ~100 headers a handler
    reads a dozen, and ``unquote`` was a third of the parsing time."""

    __slots__ = ("_raw",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._raw = {k for k, v in pairs if "%" in v}

    def _decoded(self, key: str) -> str:
        value = dict.__getitem__(self, key)
        if key in self._raw:
            # "%00" would put a NUL into a caller ID, and PostgreSQL refuses NUL in
            # text: the call's CDR ended in the dead-letter file. No header needs one.
            value = unquote(value).replace("\x00", "")
            dict.__setitem__(self, key, value)
            self._raw.discard(key)
        return value

    def __getitem__(self, key: str) -> str:
        return self._decoded(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self._decoded(key) if dict.__contains__(self, key) else default

    def values(self) -> Any:
        return [self._decoded(k) for k in self]

    def items(self) -> Any:
        return [(k, self._decoded(k)) for k in self]

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self)

    def copy(self) -> dict[str, str]:
        return dict(self.items())


def _raise_bad_line(text: str) -> None:
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line and _BLOCK.fullmatch(line + "\n") is None:
            raise EslProtocolError(f"malformed ESL header line {line[:80]!r}")
    raise EslProtocolError("malformed ESL header block")


def parse_headers(block: bytes) -> dict[str, str]:
    """Parse a header block whose values are URL-encoded (outer blocks, plain events)."""
    return _parse_header_block(block, url_decoded=True)


def _content_length(headers: Mapping[str, str], *, limit: int) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    raw = raw.strip()
    if not raw.isdigit():
        raise EslProtocolError(f"invalid Content-Length {raw[:40]!r}")
    length = int(raw)
    if length > limit:
        raise EslProtocolError(f"Content-Length {length} exceeds the limit of {limit} bytes")
    return length


class EslParser:
    """Incremental ESL framer (h11 style): ``feed(bytes)``, then ``next_message()``.

    ``next_message`` returns ``None`` when more bytes are needed. On malformed
    input it raises :class:`EslProtocolError` after discarding the bad block, so
    the caller logs and keeps calling.
    """

    def __init__(
        self, *, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._buf = bytearray()
        self._scan_from = 0
        self._pending: dict[str, str] | None = None
        self._pending_length = 0
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buf)

    def next_message(self) -> EslMessage | None:
        if self._pending is None:
            # Skip stray blank lines between messages.
            while self._buf and self._buf[0] in (0x0A, 0x0D):
                del self._buf[:1]
            end = self._buf.find(b"\n\n", max(self._scan_from, 0))
            if end < 0:
                self._scan_from = max(len(self._buf) - 1, 0)
                if len(self._buf) > self._max_header:
                    dropped = len(self._buf)
                    self._buf.clear()
                    self._scan_from = 0
                    raise EslProtocolError(
                        f"no end of ESL header block in {dropped} bytes; dropped"
                    )
                return None
            block = bytes(self._buf[:end])
            del self._buf[: end + 2]
            self._scan_from = 0
            headers = parse_headers(block)  # raises on garbage; the block is already dropped
            self._pending_length = _content_length(headers, limit=self._max_body)
            self._pending = headers
        if len(self._buf) < self._pending_length:
            return None
        body = bytes(self._buf[: self._pending_length])
        del self._buf[: self._pending_length]
        message = EslMessage(MappingProxyType(self._pending), body)
        self._pending = None
        self._pending_length = 0
        return message

    def messages(self) -> Iterator[EslMessage | EslProtocolError]:
        """Every complete message buffered so far; errors are yielded, not raised."""
        while True:
            try:
                message = self.next_message()
            except EslProtocolError as exc:
                yield exc
                continue
            if message is None:
                return
            yield message

    def close(self) -> EslProtocolError | None:
        """The stream ended: report a truncated trailing frame, if any."""
        leftover = len(self._buf)
        meaningful = bool(self._buf.strip())
        pending, expected = self._pending, self._pending_length
        self._buf.clear()
        self._pending = None
        self._pending_length = 0
        self._scan_from = 0
        if pending is not None:
            return EslProtocolError(
                f"connection closed inside a {pending.get('Content-Type', '?')} body "
                f"({leftover} of {expected} bytes)"
            )
        if meaningful:
            return EslProtocolError(f"connection closed inside a header block ({leftover} bytes)")
        return None


def parse_event(message: EslMessage, received_at: float = 0.0) -> EslEvent:
    """Turn a ``text/event-plain`` or ``text/event-json`` message into an :class:`EslEvent`."""
    ctype = message.content_type
    if ctype == "text/event-plain":
        return _parse_plain_event(message.body, received_at)
    if ctype == "text/event-json":
        return _parse_json_event(message.body, received_at)
    raise EslProtocolError(f"not an event: Content-Type {ctype!r}")


def _parse_plain_event(body: bytes, received_at: float = 0.0) -> EslEvent:
    # Stop header parsing at the first blank line: a body may contain header-like text.
    end = body.find(b"\n\n")
    block, rest = (body, b"") if end < 0 else (body[:end], body[end + 2 :])
    headers = parse_headers(block)
    length = _content_length(headers, limit=MAX_BODY_BYTES)
    event_body: str | None = None
    if "Content-Length" in headers:
        if len(rest) < length:
            raise EslProtocolError(
                f"event body shorter than its Content-Length ({len(rest)} < {length})"
            )
        event_body = rest[:length].decode("utf-8", errors="replace")
    name = headers.get("Event-Name")
    if not name:
        raise EslProtocolError("plain event without Event-Name")
    return EslEvent(name, MappingProxyType(headers), event_body, received_at)


def _parse_json_event(body: bytes, received_at: float = 0.0) -> EslEvent:
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EslProtocolError(f"JSON event is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise EslProtocolError("JSON event is not an object")
    raw_body = obj.pop("_body", None)
    headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
    name = headers.get("Event-Name")
    if not name:
        raise EslProtocolError("JSON event without Event-Name")
    event_body = raw_body if isinstance(raw_body, str) else None
    return EslEvent(name, MappingProxyType(headers), event_body, received_at)


def encode_command(command: str, headers: Mapping[str, str] | None = None, body: str = "") -> bytes:
    """Serialise a command (``api …``, ``sendmsg``…) with optional headers and body."""
    if "\n" in command:
        raise ValueError("an ESL command line cannot contain a newline")
    lines = [command]
    payload = body.encode("utf-8")
    for name, value in (headers or {}).items():
        if "\n" in name or "\n" in value:
            raise ValueError(f"ESL header {name!r} cannot contain a newline")
        lines.append(f"{name}: {value}")
    if payload:
        lines.append(f"content-length: {len(payload)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8") + payload
