"""What any HTTP request may carry, checked before a route uses it.

* **Body size** is FastAPI's own ``max_body_size`` (Starlette's body-limit
  middleware: a declared ``Content-Length`` above the limit is refused at once, a
  streamed body as soon as it passes it; 413). Without it, four concurrent
  ``POST /login`` bodies of 200 × 1 MB fields raised a worker's memory by 770 MB
  before authentication. The limits are here; ``create_app`` and the routes use them.
* **NUL characters** are text no caller, operator or document needs, and PostgreSQL
  refuses them in text columns (a 500 deep in a route). :class:`RejectNul` refuses a
  query string, or a JSON / form body, holding one (raw, ``%00`` or ``\\u0000``) with
  422, as the body streams in (nothing is buffered here). Uploaded files are checked
  by the upload route itself.
"""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Bytes a request body may have, by route (FastAPI ``max_body_size``).
DEFAULT_BODY_LIMIT = 64 * 1024
LOGIN_BODY_LIMIT = 16 * 1024
DOCUMENT_BODY_LIMIT = 4 * 1024 * 1024  # 1M characters of JSON-escaped text
UPLOAD_BODY_LIMIT = 256 * 1024 * 1024  # the ceiling; console.max_upload_bytes is the limit
FORM_LIMITS = {"max_fields": 16, "max_files": 0, "max_part_size": 8 * 1024}

NUL_DETAIL = "NUL characters are not accepted"
_NUL = {
    "application/json": re.compile(rb"\x00|(?<!\\)\\u0000", re.IGNORECASE),
    "application/x-www-form-urlencoded": re.compile(rb"\x00|%00"),
}
_CARRY = 6  # longest pattern: a NUL escape split between two chunks is still seen


def nul_pattern(content_type: str) -> re.Pattern[bytes] | None:
    media = content_type.split(";", 1)[0].strip().lower()
    return _NUL.get(media)


class RejectNul:
    """Pure ASGI middleware: NUL in the query or a text body → 422 (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"\x00" in query or b"%00" in query:
            await _refuse(send, 422, NUL_DETAIL)
            return
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        pattern = nul_pattern(content_type.decode("latin-1"))
        if pattern is None:
            await self.app(scope, receive, send)
            return
        tail = b""

        async def checked() -> Message:
            nonlocal tail
            message = await receive()
            if message["type"] == "http.request":
                window = tail + message.get("body", b"")
                if pattern.search(window):
                    # Raised inside the app's body read: FastAPI re-raises HTTPException
                    # from there, and the console's handler answers it.
                    raise HTTPException(422, NUL_DETAIL)
                tail = window[-_CARRY:]
            return message

        await self.app(scope, checked, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
