"""Call operations by channel UUID: the Python API behind the CLI and the console.

Works over any connection that can run ``api``/``bgapi`` (the worker's inbound
connection, or a short-lived one the CLI opens). ``originate`` goes through the
:class:`~callcontrol.calls.controller.CallController` when one is running, so
the new call is tracked and gets a CDR.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from callcontrol.errors import CallError, EslCommandError
from callcontrol.esl import commands as cmd
from callcontrol.esl.client import BackgroundCommands
from callcontrol.esl.commands import ApiReply, parse_show_json

if TYPE_CHECKING:
    from callcontrol.calls.controller import CallController


class CallOps:
    def __init__(self, esl: BackgroundCommands, controller: CallController | None = None) -> None:
        self._esl = esl
        self._controller = controller

    async def _api(self, build: Callable[[], str]) -> ApiReply:
        try:
            command = build()
        except ValueError as exc:  # a bad UUID, cause, digit… refused before sending
            raise CallError(str(exc)) from exc
        reply = await self._esl.api(command)
        if not reply.ok:
            raise CallError(f"{command.split(' ', 1)[0]} failed: {reply.error}")
        return reply

    async def answer(self, uuid: str) -> None:
        await self._api(lambda: cmd.answer(uuid))

    async def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        await self._api(lambda: cmd.hangup(uuid, cause))

    async def originate(
        self,
        dialstring: str,
        *,
        bot: bool = False,
        owner: str | None = None,
        caller_id: str | None = None,
        timeout_s: int = 60,
    ) -> str:
        """Call ``dialstring``; returns the new call's UUID once it is answered."""
        if self._controller is not None:
            return await self._controller.originate(
                dialstring, bot=bot, owner=owner, caller_id=caller_id, timeout_s=timeout_s
            )
        uuid = str(uuidlib.uuid4())
        variables = {"callcontrol_call_id": uuid}
        if bot:
            variables["callcontrol_action"] = "bot"
        if owner:
            variables["callcontrol_owner"] = owner
        if caller_id:
            variables["origination_caller_id_number"] = caller_id
        try:
            command = cmd.originate(dialstring, uuid=uuid, variables=variables, timeout_s=timeout_s)
        except ValueError as exc:
            raise CallError(str(exc)) from exc
        try:
            reply = await self._esl.bgapi(command, timeout=timeout_s + 15)
        except EslCommandError as exc:
            raise CallError(f"originate failed: {exc.reply}") from exc
        if not reply.ok:
            raise CallError(f"originate to {dialstring} failed: {reply.error}")
        return uuid

    async def transfer(self, uuid: str, destination: str, context: str = "default") -> None:
        await self._api(lambda: cmd.transfer(uuid, destination, context=context))

    async def bridge(self, uuid_a: str, uuid_b: str) -> None:
        await self._api(lambda: cmd.bridge(uuid_a, uuid_b))

    async def play(self, uuid: str, path: str) -> None:
        await self._api(lambda: cmd.broadcast(uuid, path, "aleg"))

    async def stop_playback(self, uuid: str) -> None:
        await self._api(lambda: cmd.stop_playback(uuid))

    async def record_start(self, uuid: str, path: str) -> None:
        await self._api(lambda: cmd.record(uuid, "start", path))

    async def record_stop(self, uuid: str, path: str) -> None:
        await self._api(lambda: cmd.record(uuid, "stop", path))

    async def send_dtmf(self, uuid: str, digits: str) -> None:
        await self._api(lambda: cmd.send_dtmf(uuid, digits))

    async def channels(self) -> list[dict[str, str]]:
        reply = await self._api(lambda: "show channels as json")
        return parse_show_json(reply.text)
