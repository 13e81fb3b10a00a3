"""JSON views of a call for live state and the console. Pure."""

from __future__ import annotations

from typing import Any

from callcontrol.calls.model import Call


def call_snapshot(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "direction": call.direction,
        "caller": call.caller_number,
        "caller_name": call.caller_name,
        "callee": call.callee_number,
        "owner": call.owner,
        "state": call.state.value,
        "handled_by": call.handled_by,
        "worker": call.worker_id,
        "created_at": call.created_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "hangup_cause": call.hangup_cause,
        "legs": {
            leg.id: {"role": leg.role, "state": leg.state.value, "number": leg.number}
            for leg in call.legs.values()
        },
    }
