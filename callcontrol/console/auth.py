"""Passwords, session tokens, the cookie secret and sign-in rate limiting. No web framework.

* Passwords: argon2id (argon2-cffi defaults), verified in a thread (it is meant to be slow).
* Sessions: the cookie carries a random token signed with itsdangerous (so a forged or
  truncated cookie is refused before the database is asked); the database keeps only
  the token's SHA-256 as the session id, with the session's CSRF token and expiry.
* The signing secret: ``ConsoleSettings.secret_key``, else one generated once and kept
  in ``<data_dir>/console-secret`` (mode 0600).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from callcontrol.config import Settings

log = structlog.get_logger(__name__)

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
SECRET_FILE = "console-secret"

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (``password_hash`` None)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def load_secret_key(settings: Settings) -> str:
    """The configured secret, or one generated once and kept under ``data_dir``."""
    if settings.console.secret_key is not None:
        value = settings.console.secret_key.get_secret_value()
        if len(value) < 16:
            raise ValueError("console.secret_key must have at least 16 characters")
        return value
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        value = path.read_text("utf-8").strip()
        if len(value) >= 32:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)
    log.warning(
        "no console secret_key configured; generated one",
        file=str(path),
        hint="set CALLCONTROL_CONSOLE__SECRET_KEY to share sessions across workers",
    )
    return value


def token_id(token: str) -> str:
    """The database id of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionTokens:
    """Signed cookie values around random session tokens."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="callcontrol.console.session")
        self._login = URLSafeTimedSerializer(secret, salt="callcontrol.console.login")
        self.max_age_s = max_age_s

    def issue(self) -> tuple[str, str]:
        """A new session: ``(cookie value, session id)``."""
        token = secrets.token_urlsafe(32)
        return self._serializer.dumps(token), token_id(token)

    def session_id(self, cookie: str | None) -> str | None:
        """The session id a cookie stands for, or None if it is not one of ours (or too old)."""
        if not cookie or len(cookie) > 512:
            return None
        try:
            token = self._serializer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        return token_id(token) if isinstance(token, str) else None

    def login_token(self) -> str:
        """A token for the sign-in form (double-submitted: cookie and form field)."""
        return self._login.dumps(secrets.token_urlsafe(16))

    def login_token_ok(self, cookie: str | None, field: str | None) -> bool:
        if not cookie or not field or not secrets.compare_digest(cookie, field):
            return False
        try:
            self._login.loads(cookie, max_age=3600)
        except BadSignature:
            return False
        return True


@dataclass(slots=True)
class _Window:
    failures: deque[float]


class LoginLimiter:
    """At most ``max_failures`` failed sign-ins per key within ``window_s`` (per worker)."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._windows: dict[str, _Window] = {}

    def _prune(self, key: str, now: float) -> _Window | None:
        window = self._windows.get(key)
        if window is None:
            return None
        while window.failures and now - window.failures[0] > self.window_s:
            window.failures.popleft()
        if not window.failures:
            del self._windows[key]
            return None
        return window

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may try again; 0 if it may now."""
        now = time.monotonic() if now is None else now
        window = self._prune(key, now)
        if window is None or len(window.failures) < self.max_failures:
            return 0.0
        return max(0.0, self.window_s - (now - window.failures[0]))

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        window = self._prune(key, now) or self._windows.setdefault(key, _Window(deque()))
        window.failures.append(now)
        if len(self._windows) > 10_000:  # bound memory under a spray of usernames
            for stale in list(self._windows)[:1000]:
                self._prune(stale, now)

    def succeeded(self, key: str) -> None:
        self._windows.pop(key, None)
