"""``callcontrol calls …``: call operations by channel UUID, through :class:`CallOps`.

Each command opens its own short-lived inbound connection to FreeSWITCH; errors are
reported by the main CLI (``callcontrol.cli``) as one line and exit status 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from callcontrol.errors import EslNotConnectedError

if TYPE_CHECKING:
    from callcontrol.calls.ops import CallOps
    from callcontrol.config import Settings

calls_app = typer.Typer(help="Operate on live calls through FreeSWITCH's Event Socket.")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    from callcontrol.cli import _run as run  # the CLI's one way to report an error

    return run(coro)


def _settings() -> Settings:
    from callcontrol.cli import _settings as settings

    return settings()


async def _with_ops(fn: Callable[[CallOps], Awaitable[T]], settings: Settings) -> T:
    from callcontrol.calls.ops import CallOps
    from callcontrol.esl.bridge import GeventThread
    from callcontrol.esl.inbound import InboundConnection

    thread = GeventThread()
    conn = InboundConnection(settings.esl, thread, events=(), custom_events=())
    await conn.start()
    try:
        try:
            await conn.wait_connected(settings.esl.connect_timeout + 2)
        except TimeoutError as exc:
            detail = conn.status.last_error or "no answer"
            raise EslNotConnectedError(
                f"cannot reach FreeSWITCH at {conn.status.address}: {detail}"
            ) from exc
        return await fn(CallOps(conn))
    finally:
        await conn.stop()
        thread.stop()


Uuid = Annotated[str, typer.Argument(help="channel UUID")]


def _op(fn: Callable[[CallOps], Awaitable[T]]) -> T:
    return _run(_with_ops(fn, _settings()))


@calls_app.command("list")
def calls_list() -> None:
    """Show FreeSWITCH's channels."""
    rows = _op(lambda ops: ops.channels())
    for row in rows:
        out.print(
            f"{row.get('uuid')}  {row.get('direction'):8} {row.get('cid_num')} -> "
            f"{row.get('dest')}  {row.get('callstate')}  {row.get('application')}"
        )
    if not rows:
        out.print("no channels")


@calls_app.command()
def answer(uuid: Uuid) -> None:
    """Answer a ringing channel."""
    _op(lambda ops: ops.answer(uuid))


@calls_app.command()
def hangup(
    uuid: Uuid, cause: Annotated[str, typer.Option(help="hangup cause")] = "NORMAL_CLEARING"
) -> None:
    """Hang up a channel with a cause."""
    _op(lambda ops: ops.hangup(uuid, cause))


@calls_app.command()
def originate(
    dialstring: Annotated[str, typer.Argument(help="e.g. user/1001 or sofia/gateway/pstn/555")],
    bot: Annotated[bool, typer.Option(help="hand the answered call to the bot")] = False,
    owner: Annotated[str | None, typer.Option(help="knowledge owner for the bot")] = None,
    caller_id: Annotated[str | None, typer.Option(help="caller ID number")] = None,
    timeout: Annotated[int, typer.Option(help="seconds to wait for an answer")] = 60,
    language: Annotated[
        str | None, typer.Option(help="the callee's language for the bot (ko, en, auto…)")
    ] = None,
) -> None:
    """Place a call; prints the new call's UUID once answered."""
    import uuid as uuidlib

    from callcontrol.calls.ops import call_variables

    uuid = str(uuidlib.uuid4())
    variables = call_variables(uuid, bot=bot, owner=owner, caller_id=caller_id, language=language)
    _op(lambda ops: ops.originate(dialstring, uuid=uuid, variables=variables, timeout_s=timeout))
    out.print(uuid)


@calls_app.command()
def transfer(
    uuid: Uuid,
    destination: str,
    context: Annotated[str, typer.Option(help="dialplan context")] = "default",
) -> None:
    """Transfer a channel to an extension or number in the dialplan."""
    _op(lambda ops: ops.transfer(uuid, destination, context))


@calls_app.command()
def bridge(uuid_a: Uuid, uuid_b: Uuid) -> None:
    """Bridge two channels."""
    _op(lambda ops: ops.bridge(uuid_a, uuid_b))


@calls_app.command()
def play(uuid: Uuid, path: str) -> None:
    """Play a file (path on the FreeSWITCH host) to the caller."""
    _op(lambda ops: ops.play(uuid, path))


@calls_app.command("stop-playback")
def stop_playback(uuid: Uuid) -> None:
    """Stop current and queued playback."""
    _op(lambda ops: ops.stop_playback(uuid))


@calls_app.command()
def record(
    uuid: Uuid,
    action: Annotated[str, typer.Argument(help="start or stop")],
    path: Annotated[str, typer.Argument(help="file path on the FreeSWITCH host")],
) -> None:
    """Start or stop recording a channel."""
    if action == "start":
        _op(lambda ops: ops.record_start(uuid, path))
    elif action == "stop":
        _op(lambda ops: ops.record_stop(uuid, path))
    else:
        err.print("action must be start or stop")
        raise typer.Exit(2)


@calls_app.command()
def dtmf(uuid: Uuid, digits: str) -> None:
    """Send DTMF digits to a channel."""
    _op(lambda ops: ops.send_dtmf(uuid, digits))
