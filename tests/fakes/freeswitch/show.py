"""Text FreeSWITCH's ``status`` and ``show channels|calls as json`` produce (as recorded)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from .channel import Channel

VERSION = "1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit"

_CALL_KEYS = (
    "uuid direction created created_epoch name state cid_name cid_num ip_addr dest presence_id "
    "presence_data accountcode callstate callee_name callee_num callee_direction call_uuid "
    "hostname "
    "sent_callee_name sent_callee_num"
).split()
_B_KEYS = (
    "uuid direction created created_epoch name state cid_name cid_num ip_addr dest presence_id "
    "presence_data accountcode callstate callee_name callee_num callee_direction sent_callee_name "
    "sent_callee_num"
).split()


def _json_rows(rows: Sequence[dict[str, str]]) -> str:
    if not rows:
        # the empty answer has a space and a newline; the full one has neither
        return '{"row_count": 0}\n'
    body = json.dumps(
        {"row_count": len(rows), "rows": list(rows)}, ensure_ascii=False, separators=(",", ":")
    )
    return body


def show_channels_json(channels: Sequence[Channel], hostname: str) -> str:
    rows = [
        ch.show_channels_row(hostname) for ch in sorted(channels, key=lambda c: c.created_epoch)
    ]
    return _json_rows(rows)


def show_calls_json(channels: Sequence[Channel], hostname: str) -> str:
    """``basic_calls``: every leg that is not the callee of a bridge; the bridge row has b_*."""
    by_uuid = {ch.uuid: ch for ch in channels}
    rows: list[tuple[str, int, dict[str, str]]] = []
    ordered = sorted(channels, key=lambda c: c.created_epoch)
    for index, ch in enumerate(ordered):
        if ch.bridge_role == "callee":
            continue
        full = ch.show_channels_row(hostname)
        row = {key: full[key] for key in _CALL_KEYS}
        partner = by_uuid.get(ch.partner_uuid or "") if ch.bridge_role == "caller" else None
        if partner is not None:
            pfull = partner.show_channels_row(hostname)
            for key in _B_KEYS:
                row[f"b_{key}"] = pfull[key]
            row["call_created_epoch"] = str(int(ch.call_created_epoch))
        else:
            for key in _B_KEYS:
                row[f"b_{key}"] = ""
            row["call_created_epoch"] = ""
        rows.append((row["call_created_epoch"], index, row))
    rows.sort(key=lambda item: (item[0], item[1]))
    return _json_rows([row for _, _, row in rows])


def status_text(
    *,
    started_at: float,
    sessions_since_startup: int,
    session_count: int,
    peak: int,
    max_sessions: int,
    sps: int,
) -> str:
    up = time.time() - started_at
    total_us = int(up * 1_000_000)
    secs, micro = divmod(total_us, 1_000_000)
    ms, mms = divmod(micro, 1000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    days, hours = divmod(hours, 24)
    years, days = divmod(days, 365)

    def unit(value: int, name: str) -> str:
        return f"{value} {name}{'' if value == 1 else 's'}"

    return (
        f"UP {unit(years, 'year')}, {unit(days, 'day')}, {unit(hours, 'hour')}, "
        f"{unit(mins, 'minute')}, {unit(secs, 'second')}, {unit(ms, 'millisecond')}, "
        f"{unit(mms, 'microsecond')}\n"
        f"FreeSWITCH (Version {VERSION}) is ready\n"
        f"{sessions_since_startup} session(s) since startup\n"
        f"{session_count} session(s) - peak {peak}, last 5min {peak} \n"
        f"0 session(s) per Sec out of max {sps}, peak 0, last 5min 0 \n"
        f"{max_sessions} session(s) max\n"
        "min idle cpu 0.00/99.57\n"
        "Current Stack Size/Max 240K/8192K\n"
    )
