"""Just enough cJSON 1.7.12 (FreeSWITCH's copy) to re-serialise JSON the way mod_audio_fork does.

Objects keep duplicate keys and their order; ``get``/``detach`` match keys case-insensitively
like ``cJSON_GetObjectItem``; numbers print with ``%1.15g`` (``%1.17g`` if that loses
precision), so ``1.0`` becomes ``1``; strings keep non-ASCII raw. Pure.
"""

from __future__ import annotations

import json
from typing import Any


class JsonObject(list[tuple[str, Any]]):
    """An ordered list of (key, value) pairs standing in for a cJSON object."""

    def get(self, key: str) -> Any:
        lkey = key.lower()
        for k, v in self:
            if k.lower() == lkey:
                return v
        return None

    def detach(self, key: str) -> Any:
        lkey = key.lower()
        for i, (k, v) in enumerate(self):
            if k.lower() == lkey:
                del self[i]
                return v
        return None


def parse(text: str) -> Any:
    """cJSON_Parse; raises ValueError on invalid JSON."""
    return json.loads(text, object_pairs_hook=JsonObject)


def _number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return "null"
    text = f"{value:1.15g}"
    if float(text) != value:
        text = f"{value:1.17g}"
    return text


def dumps(value: Any) -> str:
    """cJSON_PrintUnformatted."""
    if isinstance(value, JsonObject):
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{dumps(v)}" for k, v in value)
            + "}"
        )
    if isinstance(value, dict):
        return dumps(JsonObject(value.items()))
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return _number(float(value))
    return json.dumps(str(value), ensure_ascii=False)
