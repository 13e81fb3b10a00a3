"""Pure builders for the FreeSWITCH API commands callcontrol sends, and their replies.

Arguments are validated here so a bad value (a space in a UUID, a newline in a
dial string) is refused before anything reaches FreeSWITCH, which splits its
arguments on spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from callcontrol.errors import EslCommandError

# The one call-id/channel-UUID shape callcontrol accepts, wherever an id comes in (ESL
# commands, console URLs, live topics): FreeSWITCH's UUIDs and our own uuid4s fit it.
CALL_ID_CHARS = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
CALL_ID_PATTERN = rf"^{CALL_ID_CHARS}$"
_UUID = re.compile(CALL_ID_PATTERN)
_CAUSE = re.compile(r"^[A-Z_]{2,40}$")
_DTMF = re.compile(r"^[0-9A-Da-d*#wW]{1,64}(@\d{1,5})?$")
# A dial plan destination or phone number: nothing FreeSWITCH would split or expand.
DESTINATION = re.compile(r"^[A-Za-z0-9+*#_.\-]{1,64}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_uuid(value: str) -> str:
    """A channel UUID or call id; raises ``ValueError`` for anything else."""
    if not _UUID.fullmatch(value):
        raise ValueError(f"not a channel UUID: {value!r}")
    return value


def check_destination(value: str) -> str:
    """A dial plan destination or number (surrounding blanks dropped)."""
    value = value.strip()
    if not DESTINATION.fullmatch(value):
        raise ValueError("use digits, letters, + * # _ . - only (at most 64)")
    return value


def check_context(value: str) -> str:
    if not _CONTEXT.fullmatch(value):
        raise ValueError("bad dialplan context")
    return value


def _check_arg(value: str, what: str) -> str:
    if not value or any(c in value for c in " \n\r\t"):
        raise ValueError(f"{what} must be non-empty and contain no whitespace: {value!r}")
    return value


def check_cause(cause: str) -> str:
    if not _CAUSE.fullmatch(cause):
        raise ValueError(f"not a hangup cause: {cause!r}")
    return cause


def channel_vars(variables: Mapping[str, str]) -> str:
    """``{a=1,b=2}`` prefix for a dial string; values must not contain ``,`` or ``}``."""
    if not variables:
        return ""
    parts = []
    for name, value in variables.items():
        if not _VARIABLE.fullmatch(name):
            raise ValueError(f"bad channel variable name {name!r}")
        if any(c in value for c in ",}\n\r"):
            raise ValueError(f"channel variable {name} has a character FreeSWITCH splits on")
        parts.append(f"{name}={value}" if " " not in value else f"{name}='{value}'")
    return "{" + ",".join(parts) + "}"


def answer(uuid: str) -> str:
    return f"uuid_answer {check_uuid(uuid)}"


def setvar(uuid: str, name: str, value: str) -> str:
    """``uuid_setvar <uuid> <name> <value>`` (a value without spaces or line breaks)."""
    if not _VARIABLE.fullmatch(name):
        raise ValueError(f"bad channel variable name {name!r}")
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"channel variable {name}: value must be one word")
    return f"uuid_setvar {check_uuid(uuid)} {name} {value}"


def hangup(uuid: str, cause: str = "NORMAL_CLEARING") -> str:
    return f"uuid_kill {check_uuid(uuid)} {check_cause(cause)}"


def originate(
    dialstring: str,
    *,
    uuid: str,
    app: str = "&park()",
    variables: Mapping[str, str] | None = None,
    timeout_s: int | None = None,
) -> str:
    """``originate {origination_uuid=…}<dialstring> <app>`` — the caller picks the UUID."""
    _check_arg(dialstring, "dial string")
    all_vars = {"origination_uuid": check_uuid(uuid)}
    if timeout_s is not None:
        all_vars["originate_timeout"] = str(int(timeout_s))
    all_vars.update(variables or {})
    if not app.startswith("&") or "\n" in app:
        raise ValueError(f"originate application must look like '&park()': {app!r}")
    return f"originate {channel_vars(all_vars)}{dialstring} {app}"


def transfer(uuid: str, destination: str, dialplan: str = "XML", context: str = "default") -> str:
    _check_arg(destination, "destination")
    return f"uuid_transfer {check_uuid(uuid)} {destination} {dialplan} {context}"


def bridge(uuid_a: str, uuid_b: str) -> str:
    return f"uuid_bridge {check_uuid(uuid_a)} {check_uuid(uuid_b)}"


def broadcast(uuid: str, path: str, leg: str = "aleg") -> str:
    _check_arg(path, "file")
    if leg not in ("aleg", "bleg", "both"):
        raise ValueError(f"leg must be aleg, bleg or both: {leg!r}")
    return f"uuid_broadcast {check_uuid(uuid)} {path} {leg}"


def stop_playback(uuid: str) -> str:
    return f"uuid_break {check_uuid(uuid)} all"


def record(uuid: str, action: str, path: str) -> str:
    if action not in ("start", "stop"):
        raise ValueError("record action must be start or stop")
    _check_arg(path, "recording path")
    return f"uuid_record {check_uuid(uuid)} {action} {path}"


def send_dtmf(uuid: str, digits: str) -> str:
    if not _DTMF.fullmatch(digits):
        raise ValueError(f"not a DTMF string: {digits!r}")
    return f"uuid_send_dtmf {check_uuid(uuid)} {digits}"


def exists(uuid: str) -> str:
    return f"uuid_exists {check_uuid(uuid)}"


def dump(uuid: str) -> str:
    """All of a channel's variables and headers, as one JSON object."""
    return f"uuid_dump {check_uuid(uuid)} json"


def getvar(uuid: str, name: str) -> str:
    if not _VARIABLE.fullmatch(name):
        raise ValueError(f"bad channel variable name {name!r}")
    return f"uuid_getvar {check_uuid(uuid)} {name}"


def show_channels() -> str:
    return "show channels as json"


@dataclass(frozen=True, slots=True)
class ApiReply:
    """The text FreeSWITCH answered to an ``api``/``bgapi`` command."""

    command: str
    text: str

    @property
    def ok(self) -> bool:
        return not self.text.startswith("-")

    @property
    def value(self) -> str:
        """The reply without ``+OK `` and the trailing newline."""
        text = self.text.strip()
        if text.startswith("+OK"):
            return text[3:].strip()
        return text

    @property
    def error(self) -> str:
        """``NO_ANSWER`` for ``-ERR NO_ANSWER``; the whole text otherwise."""
        text = self.text.strip()
        return text[4:].strip() if text.startswith("-ERR") else text

    def raise_for_error(self) -> ApiReply:
        if not self.ok:
            raise EslCommandError(self.command, self.text.strip())
        return self


def parse_show_json(text: str) -> list[dict[str, str]]:
    """Rows of ``show channels as json`` / ``show calls as json``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EslCommandError("show … as json", f"not JSON: {text[:120]!r}") from exc
    if not isinstance(data, dict):
        raise EslCommandError("show … as json", "not a JSON object")
    rows = data.get("rows") or []
    return [{str(k): str(v) for k, v in row.items()} for row in rows if isinstance(row, dict)]
