"""The FreeSWITCH 1.10.12 recordings (tests/data/recordings/freeswitch-1.10.12, copied from
the project's shared recordings; their README says how each was made)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

REC = Path(__file__).parent / "data" / "recordings" / "freeswitch-1.10.12"


def recv_bytes(name: str) -> bytes:
    """Every byte FreeSWITCH sent in capture ``name``: the ``recv`` rows of its ``.jsonl``
    concatenated (the same bytes as the capture's ``.recv.bin``)."""
    rows = [json.loads(line) for line in (REC / f"{name}.jsonl").read_text().splitlines()]
    return b"".join(
        base64.b64decode(r["b64"]) if "b64" in r else r["text"].encode("utf-8")
        for r in rows
        if r["dir"] == "recv"
    )


def esl_captures() -> list[str]:
    """Names of the ESL captures (those with a transcript of both directions)."""
    return sorted(
        p.name.removesuffix(".jsonl") for p in REC.glob("*.jsonl") if "frames" not in p.name
    )
