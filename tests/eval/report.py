"""The results: JSON in ``bench-results/`` and a table per path on stdout."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.eval.records import TurnRecord
from tests.eval.scoring import TARGETS, aggregate


def build(
    path: str,
    records: Sequence[TurnRecord],
    *,
    settings: dict[str, Any],
    options: dict[str, Any],
    started: datetime,
) -> dict[str, Any]:
    voices = sorted({r.voice for r in records}, key=[r.voice for r in records].index)
    return {
        "path": path,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "options": options,
        "settings": settings,
        "targets": TARGETS,
        "overall": aggregate(records),
        "per_voice": {v: aggregate([r for r in records if r.voice == v]) for v in voices},
        "per_kb": {
            kb: aggregate([r for r in records if r.kb == kb])
            for kb in sorted({r.kb for r in records})
        },
        "records": [r.to_dict() for r in records],
    }


def write(
    out: Path, result: dict[str, Any], started: datetime
) -> tuple[Path, dict[str, Any] | None]:
    """Write ``eval-<path>-<UTC>.json`` and ``-latest.json``; returns the file and the
    previous latest's overall figures (None when there was none)."""
    out.mkdir(parents=True, exist_ok=True)
    latest = out / f"eval-{result['path']}-latest.json"
    previous = None
    if latest.exists():
        try:
            previous = json.loads(latest.read_text()).get("overall")
        except (OSError, ValueError):
            previous = None
    stamped = out / f"eval-{result['path']}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    stamped.write_text(json.dumps(result, indent=2, default=str) + "\n")
    shutil.copyfile(stamped, latest)
    return stamped, previous


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _frac(value: Any, n: Any, of: Any) -> str:
    return "-" if value is None else f"{100 * value:.0f}% ({n}/{of})"


def _ms(stats: dict[str, Any]) -> str:
    if not stats or stats.get("p50") is None:
        return "-"
    return f"{stats['p50'] / 1000:.2f} / {stats['p95'] / 1000:.2f} s"


def _get(agg: dict[str, Any], *keys: str) -> Any:
    value: Any = agg
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


Row = tuple[str, Callable[[dict[str, Any]], str], str]
ROWS: list[Row] = [
    ("turns", lambda a: str(a["turns"]), ""),
    ("STT WER", lambda a: _pct(a["stt_wer"]), "lower"),
    ("retrieval hit@1/@3 (heard)", lambda a: _hits(a, "transcript"), ""),
    ("retrieval hit@1/@3 (text)", lambda a: _hits(a, "clean"), ""),
    (
        "answerable correct",
        lambda a: _frac(a["answer_correct"], a["answer_correct_n"], a["answerable"]),
        ">= 90%",
    ),
    ("yes/no polarity", lambda a: f"{_pct(a['yesno_accuracy'])} of {a['yesno_n']}", ""),
    ("unsupported facts", lambda a: str(a["unsupported_facts"]), "0"),
    (
        "hand-off precision/recall",
        lambda a: f"{_pct(_get(a, 'handoff', 'precision'))} / {_pct(_get(a, 'handoff', 'recall'))}",
        "",
    ),
    (
        "unanswerable handed off",
        lambda a: _pct(_get(a, "handoff", "unanswerable_handed_off")),
        ">= 90%",
    ),
    ("answerable handed off", lambda a: _pct(_get(a, "handoff", "answerable_handed_off")), ""),
    ("caller v2v p50/p95", lambda a: _ms(a["caller_v2v_ms"]), "<= 1.00 / 1.50 s"),
    ("  answered only", lambda a: _ms(a["caller_v2v_answered_ms"]), ""),
    ("service v2v p50/p95", lambda a: _ms(a["service_v2v_ms"]), ""),
    ("not ok (outcome)", lambda a: _outcomes(a), ""),
]


def _hits(agg: dict[str, Any], source: str) -> str:
    r = agg["retrieval"][source]
    return f"{_pct(r['hit@1'])} / {_pct(r['hit@3'])}" if r["n"] else "-"


def _outcomes(agg: dict[str, Any]) -> str:
    bad = {k: v for k, v in agg.get("outcomes", {}).items() if k != "ok" and v}
    return ", ".join(f"{k} {v}" for k, v in sorted(bad.items())) or "0"


def _cell(fn: Callable[[dict[str, Any]], str], agg: dict[str, Any] | None) -> str:
    if agg is None:
        return "-"
    try:
        return fn(agg)
    except (KeyError, TypeError):
        return "?"


def table(result: dict[str, Any], previous: dict[str, Any] | None) -> str:
    columns: list[tuple[str, dict[str, Any] | None]] = list(result["per_voice"].items())
    columns.append(("overall", result["overall"]))
    if previous is not None:
        columns.append(("previous", previous))
    header = ["", *[name for name, _ in columns], "target"]
    rows = [header]
    for label, fn, target in ROWS:
        rows.append([label, *[_cell(fn, agg) for _, agg in columns], target])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"eval — path {result['path']}"]
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
