"""The one reader of the FreeSWITCH 1.10.12 recordings (tests/data/recordings/freeswitch-1.10.12,
copied from real captures; their README says how each was made): the emulator, the ESL
parser and the fork wire tests are all held against them."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent / "data" / "recordings" / "freeswitch-1.10.12"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Row:
    t_ms: float
    dir: str
    text: str
    ctype: str | None = None
    event: str | None = None
    subclass: str | None = None

    @property
    def data(self) -> bytes:
        return self.text.encode()


@cache
def rows(name: str) -> tuple[Row, ...]:
    out = []
    for line in (ROOT / name).read_text().splitlines():
        r = json.loads(line)
        out.append(
            Row(
                r["t_ms"],
                r["dir"],
                r.get("text", ""),
                r.get("ctype"),
                r.get("event"),
                r.get("subclass"),
            )
        )
    return tuple(out)


def jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ROOT / name).read_text().splitlines()]


def received(name: str) -> list[Row]:
    return [r for r in rows(name) if r.dir == "recv"]


def sent(name: str) -> list[Row]:
    return [r for r in rows(name) if r.dir == "send"]


def reply_after(name: str, command: str, nth: int = 0) -> Row:
    """The first non-event message FreeSWITCH sent after the nth time ``command`` was sent."""
    seen = -1
    all_rows = rows(name)
    for i, r in enumerate(all_rows):
        if r.dir == "send" and r.text.rstrip("\n") == command:
            seen += 1
            if seen == nth:
                for later in all_rows[i + 1 :]:
                    if later.dir == "recv" and not (later.ctype or "").startswith("text/event"):
                        return later
    raise LookupError(command)


def split_message(data: bytes) -> tuple[list[tuple[str, str]], bytes]:
    head, _, body = data.partition(b"\n\n")
    headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\n")]
    return [(k, v) for k, v in headers], body


def event_header_list(data: bytes) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs of a framed event (plain or json), duplicates kept."""
    outer, body = split_message(data)
    ctype = dict(outer)["Content-Type"]
    if ctype == "text/event-json":
        return [(k, v) for k, v in json.loads(body, object_pairs_hook=list)]
    head = body.split(b"\n\n", 1)[0].decode()
    return [(k, unquote(v)) for k, v in (line.split(": ", 1) for line in head.split("\n"))]


def normalise(text: str) -> str:
    """Replace what differs between runs: UUIDs, numbers, dates."""
    text = UUID_RE.sub("<uuid>", text)
    return re.sub(r"\d+", "<n>", text)


def recv_bytes(name: str) -> bytes:
    """Every byte FreeSWITCH sent in capture ``name``: the ``recv`` rows of its ``.jsonl``
    concatenated (the same bytes as the capture's ``.recv.bin``)."""
    rows = [json.loads(line) for line in (ROOT / f"{name}.jsonl").read_text().splitlines()]
    return b"".join(
        base64.b64decode(r["b64"]) if "b64" in r else r["text"].encode("utf-8")
        for r in rows
        if r["dir"] == "recv"
    )


def esl_captures() -> list[str]:
    """Names of the ESL captures (those with a transcript of both directions)."""
    return sorted(
        p.name.removesuffix(".jsonl") for p in ROOT.glob("*.jsonl") if "frames" not in p.name
    )
