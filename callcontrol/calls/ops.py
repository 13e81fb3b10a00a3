"""Call operations: the one place that builds, sends and translates call commands.

Every ``uuid_*``/``originate``/``show channels`` command callcontrol sends about a
call goes through :class:`CallOps`: the console, the CLI, the controller and the
actors use it; a :class:`~callcontrol.calls.handle.CallHandle` is a ``CallOps``
bound to one call. It works over any connection that can run ``api`` (and
``bgapi`` for ``originate``): the worker's inbound connection, a call's outbound
socket, or a short-lived connection the CLI opens.

The error contract, the same for every operation:

* a bad argument (a UUID with a space, an unknown hangup cause, a newline in a
  dial string) is refused before anything is sent: :class:`CallArgumentError`,
  which is a :class:`~callcontrol.errors.CallError` and a ``ValueError``;
* FreeSWITCH answering ``-ERR …``: :class:`CallCommandError`, which is a
  ``CallError`` and an :class:`~callcontrol.errors.EslCommandError`, with
  FreeSWITCH's text in ``error`` (``channel_gone`` tells "No such channel");
* no connection, or no reply in time: ``EslNotConnectedError`` /
  ``EslTimeoutError`` (and ``TimeoutError`` while waiting for a ``bgapi`` job)
  pass through untouched: they are retryable, the others are not.

What a caller adds is its own wording (the console says "hangup failed: …") or its
own tolerance (a call's handle takes "No such channel" on hangup as the end of
the call, not a failure).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from callcontrol.calls.model import (
    VAR_ACTION,
    VAR_CALL_ID,
    VAR_LANGUAGE,
    VAR_OWNER,
    language_code,
)
from callcontrol.errors import CallArgumentError, CallCommandError, CallError, EslCommandError
from callcontrol.esl import commands as cmd
from callcontrol.esl.commands import ApiReply, parse_show_json

ORIGINATE_GRACE_S = 15
"""How much longer than its ``originate_timeout`` an originate job is waited for."""


class ApiConnection(Protocol):
    """What :class:`CallOps` needs from a connection to FreeSWITCH."""

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply: ...


@runtime_checkable
class BgapiConnection(ApiConnection, Protocol):
    """A connection that can also run background jobs (``originate`` needs one)."""

    async def bgapi(self, command: str, *, timeout: float | None = None) -> ApiReply: ...


def channel_gone(exc: EslCommandError) -> bool:
    """FreeSWITCH's ``-ERR No such channel!`` (mod_commands' uuid_* commands)."""
    return "No such channel" in exc.reply


def call_variables(
    call_id: str,
    *,
    bot: bool = False,
    owner: str | None = None,
    caller_id: str | None = None,
    language: str | None = None,
) -> dict[str, str]:
    """Channel variables of a call we place: tagged as ours, for the bot or not."""
    variables = {VAR_CALL_ID: call_id}
    if language is not None:
        if language_code(language) is None:
            raise CallArgumentError(f"not a language code: {language!r} (e.g. ko, en-US, auto)")
        variables[VAR_LANGUAGE] = language
    if bot:
        variables[VAR_ACTION] = "bot"
    if owner:
        variables[VAR_OWNER] = owner
    if caller_id:
        variables["origination_caller_id_number"] = caller_id
    return variables


def _checked(build: Callable[[], str]) -> str:
    try:
        return build()
    except ValueError as exc:
        raise CallArgumentError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Originate:
    """A checked ``originate``, ready to send: its arguments were accepted."""

    uuid: str
    dialstring: str
    command: str
    wait_s: float


def prepare_originate(
    dialstring: str,
    *,
    uuid: str | None = None,
    app: str = "&park()",
    variables: Mapping[str, str] | None = None,
    timeout_s: int = 60,
) -> Originate:
    """Check an originate's arguments now (:class:`CallArgumentError`), to send it later
    with :meth:`CallOps.send_originate`; the new channel's UUID is ``uuid`` if given."""
    leg = uuid or str(uuidlib.uuid4())
    command = _checked(
        lambda: cmd.originate(
            dialstring, uuid=leg, app=app, variables=variables, timeout_s=timeout_s
        )
    )
    return Originate(leg, dialstring, command, timeout_s + ORIGINATE_GRACE_S)


class CallOps:
    """Call operations by channel UUID over one ESL connection."""

    def __init__(self, esl: ApiConnection) -> None:
        self.esl = esl

    async def _api(self, build: Callable[[], str], *, timeout: float | None = None) -> ApiReply:
        command = _checked(build)
        reply = await self.esl.api(command, timeout=timeout)
        if not reply.ok:
            raise CallCommandError(
                command, reply.text, f"{command.split(' ', 1)[0]} failed: {reply.error}"
            )
        return reply

    # -- one channel ------------------------------------------------------------------
    async def answer(self, uuid: str) -> None:
        await self._api(lambda: cmd.answer(uuid))

    async def setvar(self, uuid: str, name: str, value: str) -> None:
        await self._api(lambda: cmd.setvar(uuid, name, value))

    async def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        await self._api(lambda: cmd.hangup(uuid, cause))

    async def transfer(self, uuid: str, destination: str, context: str = "default") -> None:
        await self._api(lambda: cmd.transfer(uuid, destination, context=context))

    async def bridge(self, uuid_a: str, uuid_b: str) -> None:
        await self._api(lambda: cmd.bridge(uuid_a, uuid_b))

    async def play(self, uuid: str, path: str) -> None:
        """Queue a file on the channel (``uuid_broadcast … aleg``)."""
        await self._api(lambda: cmd.broadcast(uuid, path, "aleg"))

    async def stop_playback(self, uuid: str) -> None:
        """Stop the current and all queued playback (``uuid_break … all``)."""
        await self._api(lambda: cmd.stop_playback(uuid))

    async def record_start(self, uuid: str, path: str) -> None:
        await self._api(lambda: cmd.record(uuid, "start", path))

    async def record_stop(self, uuid: str, path: str) -> None:
        await self._api(lambda: cmd.record(uuid, "stop", path))

    async def send_dtmf(self, uuid: str, digits: str) -> None:
        await self._api(lambda: cmd.send_dtmf(uuid, digits))

    async def exists(self, uuid: str, *, timeout: float | None = None) -> bool:
        reply = await self._api(lambda: cmd.exists(uuid), timeout=timeout)
        return reply.text.strip() == "true"

    async def dump(self, uuid: str, *, timeout: float | None = None) -> str:
        """The channel's variables and headers as JSON text (``uuid_dump … json``)."""
        return (await self._api(lambda: cmd.dump(uuid), timeout=timeout)).text

    async def getvar(self, uuid: str, name: str, *, timeout: float | None = None) -> str | None:
        """One channel variable, ``None`` when it is not set."""
        reply = await self._api(lambda: cmd.getvar(uuid, name), timeout=timeout)
        value = reply.text.strip()
        return value if value and value != "_undef_" else None

    # -- the switch -------------------------------------------------------------------
    async def channels(self, *, timeout: float | None = None) -> list[dict[str, str]]:
        reply = await self._api(cmd.show_channels, timeout=timeout)
        return parse_show_json(reply.text)

    async def send_originate(self, job: Originate, *, wait_s: float | None = None) -> str:
        """Run a prepared originate; returns the new channel's UUID once it answered."""
        esl = self.esl
        if not isinstance(esl, BgapiConnection):
            raise CallError("originate needs a connection that runs bgapi (the inbound one)")
        try:
            reply = await esl.bgapi(job.command, timeout=job.wait_s if wait_s is None else wait_s)
        except EslCommandError as exc:  # the job itself was refused
            raise CallCommandError(
                job.command, exc.reply, f"originate failed: {exc.reply}"
            ) from exc
        if not reply.ok:
            raise CallCommandError(
                job.command, reply.text, f"originate to {job.dialstring} failed: {reply.error}"
            )
        return job.uuid

    async def originate(
        self,
        dialstring: str,
        *,
        uuid: str | None = None,
        app: str = "&park()",
        variables: Mapping[str, str] | None = None,
        timeout_s: int = 60,
    ) -> str:
        """Call ``dialstring``; returns the new channel's UUID once it is answered."""
        job = prepare_originate(
            dialstring, uuid=uuid, app=app, variables=variables, timeout_s=timeout_s
        )
        return await self.send_originate(job)
