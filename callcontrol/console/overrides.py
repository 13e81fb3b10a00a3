"""Settings an admin may change from the console, validated like the configuration.

Stored in ``app_settings`` (``{"value": …}`` under the dotted key; every owner) or in
``owner_settings`` (one owner's value over it, for the ``per_owner`` ones) and announced
on the bus topic ``settings`` as ``{"key": …, "value": …, "owner": …}`` (``value`` null:
back to the configured — or, for an owner, the global — value). Who applies them: the
HITL desk (``console.hitl_timeout_s``); the dialog the ``pipeline.*`` ones
(live/overrides.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from callcontrol.config import Settings
from callcontrol.hitl.desk import SETTINGS_TOPIC

__all__ = ["BY_KEY", "EDITABLE", "SETTINGS_TOPIC", "Editable", "current", "validate"]


@dataclass(frozen=True, slots=True)
class Editable:
    key: str
    kind: str  # number | text | list | bool
    label: str
    per_owner: bool = True  # an owner (DID or tenant) may have its own value
    optional: bool = False  # empty means none (e.g. no recording notice)


EDITABLE: tuple[Editable, ...] = (
    Editable("console.hitl_timeout_s", "number", "Seconds a caller waits for an operator", False),
    Editable("pipeline.min_confidence", "number", "Retrieval confidence the bot answers from"),
    Editable("pipeline.sensitive_topics", "list", "Topics always handed to a person"),
    Editable("pipeline.greeting", "text", "Greeting"),
    Editable("pipeline.hold_phrase", "text", "Hold phrase (asking a colleague)"),
    Editable("pipeline.reassurance", "text", "Reassurance while waiting"),
    Editable("pipeline.follow_up", "text", "Said when the wait for a person timed out"),
    Editable("pipeline.away_message", "text", "Said when nobody is at the desk (away message)"),
    Editable("pipeline.voicemail", "bool", "Take a message when nobody can answer"),
    Editable("pipeline.voicemail_prompt", "text", "Voicemail: said before the tone"),
    Editable("pipeline.handoff_by_phone", "bool", "Put a caller who asks for a person through"),
    Editable("pipeline.hold_music", "text", "Hold music: builtin, off, or a WAV file's path"),
    Editable("recording.enabled", "bool", "Record every answered call"),
    Editable("recording.notice", "text", "Said before recording (empty: no notice)", optional=True),
)
BY_KEY = {e.key: e for e in EDITABLE}


def current(settings: Settings, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(settings, section), name)


def validate(settings: Settings, key: str, value: Any) -> Any:
    """The value as the configuration would hold it; raises ValueError if it cannot be."""
    if key not in BY_KEY:
        raise ValueError(f"{key} cannot be changed from the console")
    section, name = key.split(".", 1)
    model: BaseModel = getattr(settings, section)
    if BY_KEY[key].optional and (value is None or (isinstance(value, str) and not value.strip())):
        return ""  # stored as "": none (null is "reset to the value it falls back to")
    if BY_KEY[key].kind == "list" and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    try:
        checked = type(model).model_validate({**model.model_dump(), name: value})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{key}: {first['msg']}") from exc
    return getattr(checked, name)
