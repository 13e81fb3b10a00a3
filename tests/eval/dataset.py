"""The evaluation data: knowledge bases (``kb/<name>/*.md``) and spoken calls
(``questions/<name>.yaml``), as written under ``tests/eval/data/``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HANDOFF_KINDS = ("unanswerable", "sensitive", "person")
# What the service reports for each expected kind of hand-off.
HANDOFF_REASONS = {
    "unanswerable": "low_confidence",
    "sensitive": "sensitive",
    "person": "caller_request",
}


@dataclass(frozen=True, slots=True)
class Document:
    title: str  # the file stem
    text: str
    source: str  # the file name


@dataclass(frozen=True, slots=True)
class QTurn:
    say: str
    expect: list[Any]  # str items, or lists of alternatives
    yesno: str | None = None
    handoff: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    kb: str
    owner: str
    id: str
    split: str
    turns: list[QTurn]


@dataclass(frozen=True, slots=True)
class Dataset:
    kbs: dict[str, list[Document]]
    calls: list[Call]

    def kb_text(self, name: str) -> str:
        return "\n\n".join(doc.text for doc in self.kbs.get(name, []))


def _text(value: Any) -> str:
    """YAML turns bare yes/no into booleans and 9 into an int; items are text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _item(value: Any) -> Any:
    if isinstance(value, list):
        return [_text(v) for v in value]
    return _text(value)


def _turn(raw: Any, where: str) -> QTurn:
    if not isinstance(raw, dict) or not isinstance(raw.get("say"), str):
        raise ValueError(f"{where}: a turn needs 'say'")
    expect = raw.get("expect") or []
    if not isinstance(expect, list):
        expect = [expect]
    yesno = raw.get("yesno")
    yesno = None if yesno is None else _text(yesno).lower()
    if yesno not in (None, "yes", "no"):
        raise ValueError(f"{where}: yesno must be yes or no, not {yesno!r}")
    handoff = raw.get("handoff")
    if handoff is not None and handoff not in HANDOFF_KINDS:
        raise ValueError(f"{where}: handoff must be one of {HANDOFF_KINDS}, not {handoff!r}")
    return QTurn(raw["say"], [_item(i) for i in expect], yesno, handoff)


def load_calls(path: Path) -> list[Call]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    kb = path.stem
    owner = str(data.get("owner") or kb)
    split = str(data.get("split") or "eval")
    calls = []
    for n, raw in enumerate(data.get("calls") or []):
        where = f"{path.name} call {raw.get('id', n) if isinstance(raw, dict) else n}"
        if not isinstance(raw, dict) or not raw.get("turns"):
            raise ValueError(f"{where}: a call needs 'turns'")
        turns = [_turn(t, f"{where} turn {i + 1}") for i, t in enumerate(raw["turns"])]
        call_split = str(raw.get("split") or split)
        calls.append(Call(kb, owner, str(raw.get("id") or f"{kb}-{n + 1}"), call_split, turns))
    return calls


def load_kbs(root: Path) -> dict[str, list[Document]]:
    kbs: dict[str, list[Document]] = {}
    for folder in sorted(p for p in (root / "kb").glob("*") if p.is_dir()):
        docs = [
            Document(f.stem, f.read_text(encoding="utf-8"), f.name)
            for f in sorted(folder.glob("*.md"))
        ]
        if docs:
            kbs[folder.name] = docs
    return kbs


def load_dataset(
    root: Path, *, split: str = "eval", kb: str | None = None, limit: int | None = None
) -> Dataset:
    """Every KB, and the calls of ``split`` (eval|dev|all), of one KB if given, first N each."""
    kbs = load_kbs(root)
    calls: list[Call] = []
    for path in sorted((root / "questions").glob("*.yaml")):
        if kb is not None and path.stem != kb:
            continue
        chosen = [c for c in load_calls(path) if split == "all" or c.split == split]
        calls.extend(chosen[:limit] if limit is not None else chosen)
    for owner in sorted({c.owner for c in calls} - set(kbs)):
        print(f"eval: warning: no knowledge base kb/{owner}/ for owner {owner}", file=sys.stderr)
    return Dataset(kbs, calls)
