"""Who may talk to the bot over ``/direct``, as which owner, and how many at once.

``/direct`` hears and answers as any owner's bot, so it is never open:

* **The shared direct secret** (``fork.direct_token``; when it is not configured, one
  generated once into ``data_dir/direct-token``, 0600, which ``callcontrol call`` on the
  same machine reads). It may use the owners in ``fork.direct_owners`` (empty: any).
* **A signed, short-lived token** for one owner, minted with that secret
  (:meth:`DirectAuth.mint`, itsdangerous): what the console's talk page gives its
  upstream connection, so a browser never holds the secret and can speak only as the
  owner it was given, for ``ttl`` seconds.

Concurrent sessions are capped per worker (``fork.direct_max_sessions``) and per
credential (``fork.direct_max_per_credential``); a session over a cap is refused with
close code 1013 (try again later).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from callcontrol.config import ForkSettings, Settings

TOKEN_FILE = "direct-token"
SIGNED_TTL_S = 60
_SALT = "callcontrol.direct"


@dataclass(frozen=True, slots=True)
class DirectGrant:
    credential: str  # what the per-credential cap counts: "shared" | "signed:<owner>"
    owners: frozenset[str] | None  # the owners it may use; None: any

    def allows(self, owner: str) -> bool:
        return self.owners is None or owner in self.owners


def direct_secret(settings: Settings) -> str:
    """The configured direct token, or the one kept in ``data_dir`` (made once)."""
    if settings.fork.direct_token is not None:
        return settings.fork.direct_token.get_secret_value()
    path = Path(settings.data_dir) / TOKEN_FILE
    try:
        value = path.read_text("utf-8").strip()
        if len(value) >= 32:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


class DirectAuth:
    """Checks a hello's token and counts sessions (one per worker, on the loop)."""

    def __init__(self, secret: str, settings: ForkSettings) -> None:
        if not secret:
            raise ValueError("the direct secret cannot be empty")
        self._secret = secret
        self._signer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._shared_owners = frozenset(settings.direct_owners) or None
        self.max_sessions = settings.direct_max_sessions
        self.max_per_credential = settings.direct_max_per_credential
        self._open: Counter[str] = Counter()

    @classmethod
    def for_settings(cls, settings: Settings) -> DirectAuth:
        return cls(direct_secret(settings), settings.fork)

    @classmethod
    def unguessable(cls, settings: ForkSettings) -> DirectAuth:
        """No configured secret and no data directory: a random one nobody is told."""
        secret = (
            settings.direct_token.get_secret_value()
            if settings.direct_token is not None
            else secrets.token_urlsafe(32)
        )
        return cls(secret, settings)

    def mint(self, owner: str) -> str:
        """A token that may open sessions as ``owner`` for :data:`SIGNED_TTL_S` seconds."""
        return str(self._signer.dumps({"owner": owner}))

    def check(self, token: str | None) -> DirectGrant | None:
        """The grant ``token`` carries, or None (missing, wrong, forged or expired)."""
        if not token:
            return None
        if hmac.compare_digest(token.encode(), self._secret.encode()):
            return DirectGrant("shared", self._shared_owners)
        try:
            data = self._signer.loads(token, max_age=SIGNED_TTL_S)
        except BadSignature:  # SignatureExpired is one too
            return None
        owner = data.get("owner") if isinstance(data, dict) else None
        if not isinstance(owner, str) or not owner:
            return None
        return DirectGrant(f"signed:{owner}", frozenset({owner}))

    @property
    def open_sessions(self) -> int:
        return sum(self._open.values())

    def acquire(self, credential: str) -> str | None:
        """Count a new session; the reason it is refused, or None when it may open."""
        if self.open_sessions >= self.max_sessions:
            return f"this worker already runs {self.max_sessions} direct sessions"
        if self._open[credential] >= self.max_per_credential:
            return f"this credential already has {self.max_per_credential} direct sessions"
        self._open[credential] += 1
        return None

    def release(self, credential: str) -> None:
        self._open[credential] -= 1
        if self._open[credential] <= 0:
            del self._open[credential]
