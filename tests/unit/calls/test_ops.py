"""CallOps and CallHandle against a fake ESL connection: commands and the error contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from callcontrol.calls.handle import CallHandle
from callcontrol.calls.model import VAR_LANGUAGE, Call, language_code
from callcontrol.calls.ops import (
    ApiConnection,
    BgapiConnection,
    CallOps,
    call_variables,
    prepare_originate,
)
from callcontrol.errors import (
    CallArgumentError,
    CallCommandError,
    CallError,
    EslCommandError,
    EslError,
    EslNotConnectedError,
    EslTimeoutError,
)
from callcontrol.esl.client import EslCommands
from callcontrol.esl.commands import ApiReply
from callcontrol.esl.protocol import EslEvent

UUID = "7f4de4bc-5e2a-4a1c-9a0e-1f0f1f0f1f0f"
OTHER = "0b7e3c2a-1111-4222-8333-444455556666"


class FakeEsl:
    """Answers every command with the next scripted reply (``+OK`` when none is left),
    or raises the scripted exception; remembers what was sent."""

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[str, str, float | None]] = []

    def _next(self, command: str) -> ApiReply:
        reply = self.replies.pop(0) if self.replies else "+OK\n"
        if isinstance(reply, Exception):
            raise reply
        return ApiReply(command, reply)

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply:
        self.sent.append(("api", command, timeout))
        return self._next(command)

    async def bgapi(self, command: str, *, timeout: float | None = None) -> ApiReply:
        self.sent.append(("bgapi", command, timeout))
        return self._next(command)

    async def sendmsg(
        self, uuid: str, app: str, arg: str = "", *, event_lock: bool = False
    ) -> None:
        self.sent.append(("sendmsg", f"{uuid} {app} {arg}", None))


class ApiOnly:
    """A connection without bgapi (an outbound socket's)."""

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply:
        return ApiReply(command, "+OK\n")


def test_the_fakes_are_connections() -> None:
    # Checked by mypy: the fakes satisfy the protocols CallOps and CallHandle use.
    full: BgapiConnection = FakeEsl()
    channel: EslCommands = FakeEsl()
    plain: ApiConnection = ApiOnly()
    assert isinstance(full, BgapiConnection) and not isinstance(plain, BgapiConnection)
    assert channel is not None


async def test_each_operation_sends_its_command() -> None:
    esl = FakeEsl()
    ops = CallOps(esl)
    await ops.answer(UUID)
    await ops.hangup(UUID)
    await ops.hangup(UUID, "USER_BUSY")
    await ops.transfer(UUID, "1002")
    await ops.transfer(UUID, "1002", "sales")
    await ops.bridge(UUID, OTHER)
    await ops.play(UUID, "/tmp/hello.wav")
    await ops.stop_playback(UUID)
    await ops.record_start(UUID, "/tmp/r.wav")
    await ops.record_stop(UUID, "/tmp/r.wav")
    await ops.send_dtmf(UUID, "12#")
    assert [command for _, command, _ in esl.sent] == [
        f"uuid_answer {UUID}",
        f"uuid_kill {UUID} NORMAL_CLEARING",
        f"uuid_kill {UUID} USER_BUSY",
        f"uuid_transfer {UUID} 1002 XML default",
        f"uuid_transfer {UUID} 1002 XML sales",
        f"uuid_bridge {UUID} {OTHER}",
        f"uuid_broadcast {UUID} /tmp/hello.wav aleg",
        f"uuid_break {UUID} all",
        f"uuid_record {UUID} start /tmp/r.wav",
        f"uuid_record {UUID} stop /tmp/r.wav",
        f"uuid_send_dtmf {UUID} 12#",
    ]


async def test_queries_read_their_replies() -> None:
    rows = f'{{"row_count":1,"rows":[{{"uuid":"{UUID}","callstate":"ACTIVE"}}]}}'
    esl = FakeEsl("true\n", "false\n", '{"a": "1"}', "1001\n", "_undef_\n", rows)
    ops = CallOps(esl)
    assert await ops.exists(UUID, timeout=3) is True
    assert await ops.exists(UUID) is False
    assert await ops.dump(UUID, timeout=5) == '{"a": "1"}'
    assert await ops.getvar(UUID, "callcontrol_extension") == "1001"
    assert await ops.getvar(UUID, "callcontrol_owner") is None
    assert await ops.channels(timeout=10) == [{"uuid": UUID, "callstate": "ACTIVE"}]
    assert [(command, timeout) for _, command, timeout in esl.sent] == [
        (f"uuid_exists {UUID}", 3),
        (f"uuid_exists {UUID}", None),
        (f"uuid_dump {UUID} json", 5),
        (f"uuid_getvar {UUID} callcontrol_extension", None),
        (f"uuid_getvar {UUID} callcontrol_owner", None),
        ("show channels as json", 10),
    ]


async def test_a_refused_command_is_a_call_command_error_with_freeswitchs_text() -> None:
    ops = CallOps(FakeEsl("-ERR No such channel!\n"))
    with pytest.raises(CallCommandError) as caught:
        await ops.hangup(UUID)
    exc = caught.value
    assert isinstance(exc, CallError) and isinstance(exc, EslCommandError)
    assert str(exc) == "uuid_kill failed: No such channel!"
    assert exc.error == "No such channel!" and exc.reply == "-ERR No such channel!"
    assert exc.command == f"uuid_kill {UUID} NORMAL_CLEARING"
    assert exc.channel_gone


async def test_other_refusals_are_not_a_gone_channel() -> None:
    ops = CallOps(FakeEsl("-ERR invalid uuid\n"))
    with pytest.raises(CallCommandError, match="uuid_broadcast failed: invalid uuid") as caught:
        await ops.play(UUID, "/tmp/x.wav")
    assert not caught.value.channel_gone


@pytest.mark.parametrize(
    "call",
    [
        lambda ops: ops.hangup("not a uuid"),
        lambda ops: ops.hangup(UUID, "no such cause"),
        lambda ops: ops.send_dtmf(UUID, "12x"),
        lambda ops: ops.play(UUID, "two words.wav"),
        lambda ops: ops.transfer(UUID, "1002 XML default"),
        lambda ops: ops.bridge(UUID, "-x"),
        lambda ops: ops.getvar(UUID, "bad-name"),
        lambda ops: ops.originate("user/1001 &bridge()"),
        lambda ops: ops.originate("user/1001", variables={"a": "x,y"}),
    ],
)
async def test_a_bad_argument_is_refused_before_sending(
    call: Callable[[CallOps], Awaitable[object]],
) -> None:
    esl = FakeEsl()
    with pytest.raises(CallArgumentError) as caught:
        await call(CallOps(esl))
    assert isinstance(caught.value, CallError) and isinstance(caught.value, ValueError)
    assert esl.sent == []


@pytest.mark.parametrize(
    "error", [EslTimeoutError("no reply"), EslNotConnectedError("not connected"), TimeoutError()]
)
async def test_connection_troubles_pass_through(error: Exception) -> None:
    with pytest.raises(type(error)) as caught:
        await CallOps(FakeEsl(error)).answer(UUID)
    assert caught.value is error
    with pytest.raises(type(error)) as caught:
        await CallOps(FakeEsl(error)).originate("user/1001")
    assert caught.value is error


async def test_originate_returns_the_uuid_it_chose() -> None:
    esl = FakeEsl("+OK " + UUID + "\n")
    ops = CallOps(esl)
    variables = call_variables(UUID, bot=True, owner="acme", caller_id="+1555")
    assert await ops.originate("user/1001", uuid=UUID, variables=variables, timeout_s=10) == UUID
    ((kind, command, timeout),) = esl.sent
    assert (kind, timeout) == ("bgapi", 25)
    assert command == (
        f"originate {{origination_uuid={UUID},originate_timeout=10,callcontrol_call_id={UUID},"
        "callcontrol_action=bot,callcontrol_owner=acme,origination_caller_id_number=+1555}"
        "user/1001 &park()"
    )


async def test_a_prepared_originate_is_checked_now_and_sent_later() -> None:
    with pytest.raises(CallArgumentError):
        prepare_originate("user/1001", uuid="no spaces allowed")
    ring = prepare_originate("user/1001", app="&park()", timeout_s=20)
    assert ring.command.startswith(f"originate {{origination_uuid={ring.uuid},")
    assert ring.wait_s == 35
    esl = FakeEsl()
    assert await CallOps(esl).send_originate(ring, wait_s=50) == ring.uuid
    assert esl.sent == [("bgapi", ring.command, 50)]


async def test_a_failed_originate_says_why() -> None:
    with pytest.raises(CallCommandError, match="originate to user/1001 failed: USER_BUSY") as c:
        await CallOps(FakeEsl("-ERR USER_BUSY\n")).originate("user/1001")
    assert c.value.error == "USER_BUSY"
    refused = EslCommandError("originate …", "-ERR no more jobs")
    with pytest.raises(CallCommandError, match="originate failed: -ERR no more jobs"):
        await CallOps(FakeEsl(refused)).originate("user/1001")


async def test_originate_needs_a_connection_that_runs_bgapi() -> None:
    with pytest.raises(CallError, match="bgapi"):
        await CallOps(ApiOnly()).originate("user/1001")


# -- a handle: CallOps bound to one call ------------------------------------------------
def handle(esl: FakeEsl) -> CallHandle:
    return CallHandle(Call(id=UUID), esl)


async def test_a_handle_operates_on_its_own_call() -> None:
    esl = FakeEsl()
    h = handle(esl)
    await h.answer()
    await h.play("/tmp/a.wav")
    await h.record("/tmp/r.wav")
    await h.stop_recording()
    await h.send_dtmf("1")
    await h.transfer("1002")
    await h.bridge(OTHER)
    await h.stop_playback()
    await h.hangup()
    assert [command.split(" ", 2)[:2] for _, command, _ in esl.sent] == [
        ["uuid_answer", UUID],
        ["uuid_broadcast", UUID],
        ["uuid_record", UUID],
        ["uuid_record", UUID],
        ["uuid_send_dtmf", UUID],
        ["uuid_transfer", UUID],
        ["uuid_bridge", UUID],
        ["uuid_break", UUID],
        ["uuid_kill", UUID],
    ]
    assert h.call.recording_path == "/tmp/r.wav"


async def test_a_handle_takes_a_gone_channel_as_the_end_of_the_call() -> None:
    gone = "-ERR No such channel!\n"
    h = handle(FakeEsl(gone, gone, "-ERR invalid uuid\n", "-ERR Operation Failed\n"))
    await h.hangup()
    await h.stop_playback()
    with pytest.raises(EslCommandError, match="invalid uuid"):
        await h.play("/tmp/a.wav")  # a real failure still raises
    with pytest.raises(EslCommandError, match="Operation Failed"):
        await h.hangup()


async def test_a_handle_runs_raw_commands_both_ways() -> None:
    h = handle(FakeEsl("-ERR nope\n", "-ERR nope\n"))
    with pytest.raises(EslCommandError) as caught:
        await h.api("uuid_audio_fork x stop")
    assert not isinstance(caught.value, CallError)  # as before: ESL's error, raw command
    assert (await h.commands.api("uuid_audio_fork x stop")).text == "-ERR nope\n"


async def test_stop_recording_needs_a_recording() -> None:
    with pytest.raises(CallError, match="not being recorded"):
        await handle(FakeEsl()).stop_recording()


async def test_call_errors_are_esl_errors_only_when_freeswitch_said_so() -> None:
    assert issubclass(CallCommandError, EslError)
    assert not issubclass(CallArgumentError, EslError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ko", "ko"), ("en-US", "en-US"), (" auto ", "auto"), ("fil", "fil")],
)
def test_a_language_from_the_dialplan(value: str, expected: str) -> None:
    assert language_code(value) == expected
    call = Call(id=UUID)
    call.learn(EslEvent("CHANNEL_PARK", {"Unique-ID": UUID, f"variable_{VAR_LANGUAGE}": value}))
    assert call.language == expected


@pytest.mark.parametrize("value", ["", "korean", "ko,en", "en us", "ko}", None])
def test_anything_else_is_not_a_language(value: str | None) -> None:
    assert language_code(value) is None


def test_an_originate_carries_the_language_and_refuses_a_bad_one() -> None:
    variables = call_variables(UUID, bot=True, language="ko")
    assert variables[VAR_LANGUAGE] == "ko"
    with pytest.raises(CallArgumentError, match="not a language code"):
        call_variables(UUID, bot=True, language="ko}&park()")
