"""The calls CLI's exit codes: 75 (try again) when FreeSWITCH cannot be reached, 1 for a
final error — so a script knows whether a retry can help."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from callcontrol.cli import EXIT_TRY_AGAIN, app
from callcontrol.errors import CallArgumentError, EslNotConnectedError, EslTimeoutError


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_freeswitch_exits_with_try_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCONTROL_ESL__HOST", "127.0.0.1")
    monkeypatch.setenv("CALLCONTROL_ESL__PORT", str(closed_port()))
    monkeypatch.setenv("CALLCONTROL_ESL__CONNECT_TIMEOUT", "0.5")
    result = CliRunner().invoke(app, ["calls", "list"])
    assert result.exit_code == EXIT_TRY_AGAIN == 75, result.output
    assert "cannot reach FreeSWITCH" in result.output
    assert "Traceback" not in result.output


def test_retryable_is_what_the_exit_code_follows() -> None:
    assert EslNotConnectedError("x").retryable and EslTimeoutError("x").retryable
    assert not CallArgumentError("bad uuid").retryable
