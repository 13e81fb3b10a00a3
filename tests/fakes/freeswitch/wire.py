"""ESL framing as FreeSWITCH 1.10.12 puts it on the wire. Pure: bytes in, bytes out, no I/O.

Written from mod_event_socket.c / switch_event.c / switch_utils.c of v1.10.12 and checked
against the recordings in tests/data/recordings (see the README next to this file).
Deliberately independent of ``callcontrol`` so the emulator stays an oracle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
RUDE_REJECTION = "Access Denied, go away.\n"

_HEX_UPPER = frozenset(b"0123456789ABCDEF")
# SWITCH_URL_UNSAFE from switch_utils.h
_URL_UNSAFE = frozenset(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_MAX_PACKET = 10 * 1024 * 1024  # read_packet's max_len


def url_encode(value: str) -> str:
    """``switch_url_encode`` (double_encode off): what plain event header values look like.

    Bytes below 0x20, above 0x7e and the unsafe set become ``%XX`` (upper-case hex); a ``%``
    already followed by two *upper-case* hex digits is left alone, so ``%41`` stays ``%41``
    while ``100%`` becomes ``100%25``. ``,`` ``/`` ``(`` are not encoded.
    """
    raw = value.encode("utf-8")
    n = len(raw)
    out: list[str] = []
    for i, byte in enumerate(raw):
        if byte == 0x25 and i + 2 < n and raw[i + 1] in _HEX_UPPER and raw[i + 2] in _HEX_UPPER:
            out.append("%")
        elif byte < 0x20 or byte > 0x7E or byte in _URL_UNSAFE:
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


# --------------------------------------------------------------------------- client -> server


@dataclass(frozen=True, slots=True)
class Command:
    """One command a client sent (``read_packet``): the first line plus optional headers/body."""

    line: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @classmethod
    def parse(cls, block: bytes, body: bytes = b"") -> Command:
        """Parse a header block (without its terminating blank line). Raises ValueError."""
        text = block.decode("utf-8", errors="replace")
        lines = [ln.rstrip("\r") for ln in text.replace("\r\n", "\n").split("\n")]
        lines = [ln for ln in lines if ln]
        if not lines:
            raise ValueError("empty ESL command")
        headers: list[tuple[str, str]] = []
        for ln in lines[1:]:
            name, sep, value = ln.partition(":")
            if not sep:
                continue  # FreeSWITCH ignores header lines without a colon
            headers.append((name, value.lstrip(" ")))
        return cls(lines[0], tuple(headers), body)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def verb(self) -> str:
        return self.line.split(" ", 1)[0].lower()


class CommandReader:
    """Incremental framer for what a client sends (h11 style: ``feed`` then ``next_command``).

    Like mod_event_socket's ``read_packet``: CR/LF before a command is skipped, a command ends
    at two LF (CR ignored), a ``Content-Length`` header pulls that many body bytes.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > 2 * _MAX_PACKET:
            raise ValueError("ESL client sent more than 20 MB without a complete command")

    def next_command(self) -> Command | None:
        while bytes(self._buf[:1]) in (b"\r", b"\n"):
            del self._buf[0]
        end = _packet_end(self._buf)
        if end is None:
            return None
        command = Command.parse(bytes(self._buf[:end]))
        length_text = command.header("content-length")
        length = int(length_text) if length_text and length_text.strip().isdigit() else 0
        if len(self._buf) - end < length:
            return None
        body = bytes(self._buf[end : end + length])
        del self._buf[: end + length]
        return Command(command.line, command.headers, body)


def _packet_end(buf: bytearray) -> int | None:
    """Index just past the second LF of a run (CR does not break a run), as read_packet does."""
    lf_run = 0
    for i, byte in enumerate(buf):
        if byte == 0x0A:
            lf_run += 1
            if lf_run == 2:
                return i + 1
        elif byte != 0x0D:
            lf_run = 0
    return None


# --------------------------------------------------------------------------- server -> client


def auth_request() -> bytes:
    return b"Content-Type: auth/request\n\n"


def command_reply(reply_text: str) -> bytes:
    return f"Content-Type: command/reply\nReply-Text: {reply_text}\n\n".encode()


def command_reply_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """A ``~``-style reply: FreeSWITCH writes the header lines itself (bgapi, userauth)."""
    lines = "".join(f"{k}: {v}\n" for k, v in headers)
    return f"Content-Type: command/reply\n{lines}\n".encode()


def api_response(body: str) -> bytes:
    data = body.encode("utf-8")
    if not data:
        data = b"-ERR no reply\n"
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


def disconnect_notice(session_uuid: str | None = None, message: str = GOODBYE) -> bytes:
    data = message.encode()
    if session_uuid:
        head = (
            "Content-Type: text/disconnect-notice\n"
            f"Controlled-Session-UUID: {session_uuid}\n"
            "Content-Disposition: disconnect\n"
            f"Content-Length: {len(data)}\n\n"
        )
    else:
        head = f"Content-Type: text/disconnect-notice\nContent-Length: {len(data)}\n\n"
    return head.encode() + data


def linger_notice(session_uuid: str, channel_name: str, linger_time: int) -> bytes:
    return (
        "Content-Type: text/disconnect-notice\n"
        f"Controlled-Session-UUID: {session_uuid}\n"
        "Content-Disposition: linger\n"
        f"Channel-Name: {channel_name}\n"
        f"Linger-Time: {linger_time}\n"
        "Content-Length: 0\n\n"
    ).encode()


def rude_rejection() -> bytes:
    data = RUDE_REJECTION.encode()
    return b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n" % len(data) + data


def event_message(payload: bytes, fmt: str) -> bytes:
    """Outer framing of an event: Content-Length first, then Content-Type (as recorded)."""
    return (
        b"Content-Length: %d\nContent-Type: text/event-%s\n\n" % (len(payload), fmt.encode())
        + payload
    )


# --------------------------------------------------------------------------- reading replies


@dataclass(frozen=True, slots=True)
class Message:
    """One framed message as a client receives it: raw header lines (in order) and body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    raw: bytes = b""

    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def content_type(self) -> str:
        return self.get("Content-Type") or ""

    @property
    def header_names(self) -> list[str]:
        return [k for k, _ in self.headers]


class MessageReader:
    """Server→client framer used by the emulator's own tests (and test helpers)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> Message | None:
        end = self._buf.find(b"\n\n")
        if end < 0:
            return None
        block = bytes(self._buf[:end])
        headers: list[tuple[str, str]] = []
        for line in block.decode("utf-8", errors="replace").split("\n"):
            name, sep, value = line.partition(": ")
            if not sep:
                raise ValueError(f"malformed header line {line!r}")
            headers.append((name, value))
        length = 0
        for name, value in headers:
            if name == "Content-Length":
                length = int(value)
        total = end + 2 + length
        if len(self._buf) < total:
            return None
        raw = bytes(self._buf[:total])
        body = bytes(self._buf[end + 2 : total])
        del self._buf[:total]
        return Message(tuple(headers), body, raw)
