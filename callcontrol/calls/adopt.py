"""What FreeSWITCH tells about a live channel callcontrol did not see start.

After a (re)connection, ``show channels`` lists channels whose events were missed.
:func:`channel_event` turns one row, plus the channel's dialplan variables, into the
``CHANNEL_DATA`` event an actor adopts the channel from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import structlog

from callcontrol.calls.model import (
    VAR_ACTION,
    VAR_CALL_ID,
    VAR_CAMPAIGN,
    VAR_CONTACT,
    VAR_EXTENSION,
    VAR_FLOW,
    VAR_LANGUAGE,
    VAR_OWNER,
    VAR_RING_SECONDS,
)
from callcontrol.calls.ops import CallOps
from callcontrol.errors import CallCommandError, EslError
from callcontrol.esl.protocol import EslEvent

log = structlog.get_logger(__name__)

ADOPT_VARIABLES = (
    VAR_CAMPAIGN,
    VAR_CONTACT,
    VAR_FLOW,
    VAR_CALL_ID,
    VAR_ACTION,
    VAR_EXTENSION,
    VAR_OWNER,
    VAR_RING_SECONDS,
    VAR_LANGUAGE,
)


async def channel_event(ops: CallOps, uuid: str, row: dict[str, str]) -> EslEvent:
    """A ``show channels`` row and the channel's variables, as one event."""
    headers: dict[str, str] = {
        "Unique-ID": uuid,
        "Caller-Caller-ID-Number": row.get("cid_num", ""),
        "Caller-Caller-ID-Name": row.get("cid_name", ""),
        "Caller-Destination-Number": row.get("dest", ""),
        "Call-Direction": row.get("direction", "inbound"),
        "Channel-Name": row.get("name", ""),
        "Answer-State": "answered" if row.get("callstate") == "ACTIVE" else "ringing",
    }
    headers.update(await channel_variables(ops, uuid))
    return EslEvent("CHANNEL_DATA", headers)


def created_at(row: dict[str, str]) -> datetime:
    created = row.get("created_epoch", "")
    return datetime.fromtimestamp(int(created), UTC) if created.isdigit() else datetime.now(UTC)


async def channel_variables(ops: CallOps, uuid: str) -> dict[str, str]:
    """Our dialplan variables of a live channel: ``uuid_dump``, else ``uuid_getvar``."""
    try:
        headers = _json_headers(await ops.dump(uuid, timeout=5))
        if headers:
            return headers
    except CallCommandError:
        pass  # refused: ask variable by variable
    except EslError as exc:
        log.info("uuid_dump failed; asking variable by variable", error=str(exc))
    found: dict[str, str] = {}
    for name in ADOPT_VARIABLES:
        try:
            value = await ops.getvar(uuid, name, timeout=5)
        except EslError:
            continue
        if value is not None:
            found[f"variable_{name}"] = value
    return found


def _json_headers(text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}
