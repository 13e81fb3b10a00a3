"""The command builders refuse what FreeSWITCH would split, expand or read as a header."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from callcontrol.esl import commands as cmd

UUID = "7f4de4bc-5e2a-4a1c-9a0e-1f0f1f0f1f0f"


@pytest.mark.parametrize(
    "build",
    [
        lambda: cmd.hangup(UUID + "\n"),
        lambda: cmd.hangup(UUID, "USER_BUSY\n"),
        lambda: cmd.send_dtmf(UUID, "12\n"),
        lambda: cmd.getvar(UUID, "callcontrol_owner\n"),
        lambda: cmd.channel_vars({"callcontrol_owner\n": "x"}),
        lambda: cmd.answer("a b"),
        lambda: cmd.answer("-leading-dash"),
        lambda: cmd.answer("x" * 129),
        lambda: cmd.check_destination("1002 XML default"),
        lambda: cmd.check_context("default\n"),
    ],
)
def test_a_trailing_newline_or_a_space_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


def test_the_one_call_id_shape() -> None:
    for good in (UUID, "abc", "a.b_c:d-e", "x" * 128):
        assert cmd.check_uuid(good) == good
    assert cmd.check_destination(" 1002 ") == "1002"
    assert cmd.check_context("sales-2") == "sales-2"


def test_setvar_is_one_line_of_one_word() -> None:
    from callcontrol.esl import commands as cmd

    uuid = "6f1c2a54-0000-4000-8000-000000000001"
    assert cmd.setvar(uuid, "send_silence_when_idle", "-1") == (
        f"uuid_setvar {uuid} send_silence_when_idle -1"
    )
    for name, value in [("a b", "1"), ("x", "two words"), ("x", "1\n"), ("x", "")]:
        with pytest.raises(ValueError):
            cmd.setvar(uuid, name, value)
