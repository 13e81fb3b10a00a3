"""Bus topics and their message shapes (JSON objects).

* ``calls`` — a call snapshot (see calls/snapshot.py) whenever its state changes;
  ``state == "hangup"`` means it ended.
* ``call.<id>`` — what happens inside one call, each message has a ``type``:
  ``turn`` {speaker, text, seq, interrupted, timings, language},
  ``partial`` {speaker, text} (speech being recognised),
  ``event`` {name, at, data} (timeline), ``hitl`` {request_id, status}.
* ``hitl`` — a HITL request's row whenever it changes (created, answered, timeout…).
* ``hitl.answer`` — {request_id, answer, operator}: an operator's answer, to whichever
  worker runs that call.
* ``operators`` — {id, username, status} when an operator's status changes.
* ``bot.handover`` — {call_id, owner} when call control hands a call to the bot.
* ``settings`` — {key, value} when an admin changes a setting in the console (value null:
  back to the configured default); the desk and the bot apply their own keys live.
* ``sessions.ended`` — {operator_id, session_id, keep}: console sessions were ended
  (sign-out, password or role change, user removed). Every worker closes the live
  websockets of those sessions at once. Internal: no browser may subscribe to it.
"""

from __future__ import annotations

CALLS = "calls"
HITL = "hitl"
HITL_ANSWER = "hitl.answer"
OPERATORS = "operators"
BOT_HANDOVER = "bot.handover"
SETTINGS = "settings"
SESSIONS_ENDED = "sessions.ended"


def call_topic(call_id: str) -> str:
    return f"call.{call_id}"
