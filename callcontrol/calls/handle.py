"""A live call as the rest of callcontrol sees it: its record, its commands, its events.

A handle is :class:`~callcontrol.calls.ops.CallOps` bound to one call's UUID (and to
the connection that controls the call), plus the call's record and listeners.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from callcontrol.calls.model import Call
from callcontrol.calls.ops import CallOps
from callcontrol.errors import CallCommandError, CallError
from callcontrol.esl.client import EslCommands
from callcontrol.esl.commands import ApiReply
from callcontrol.esl.protocol import EslEvent

log = structlog.get_logger(__name__)

CallListener = Callable[[EslEvent], None]


class CallHandle:
    """Operations on one call, sent down the connection that controls it.

    In inbound mode that is the shared Event Socket connection; in outbound mode
    the call's own socket. Listeners receive the call's events (playback,
    mod_audio_fork CUSTOM events…) on the asyncio loop and must not block.

    Operations follow :mod:`callcontrol.calls.ops`' error contract, with one
    tolerance: hanging up or stopping playback on a channel that is gone is the
    end of the call, not an error. :meth:`api` runs any command and raises
    :class:`~callcontrol.errors.EslCommandError` on ``-ERR``; ``commands.api``
    returns FreeSWITCH's reply as it is.
    """

    def __init__(self, call: Call, commands: EslCommands) -> None:
        self.call = call
        self.commands = commands
        self.ops = CallOps(commands)
        self._listeners: list[CallListener] = []
        self.ended = asyncio.Event()

    @property
    def id(self) -> str:
        return self.call.id

    def listen(self, listener: CallListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def notify(self, event: EslEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("call listener failed", call=self.id, esl_event=event.key)

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply:
        reply = await self.commands.api(command, timeout=timeout)
        return reply.raise_for_error()

    # -- operations -------------------------------------------------------------------
    async def answer(self) -> None:
        await self.ops.answer(self.id)

    async def setvar(self, name: str, value: str) -> None:
        await self.ops.setvar(self.id, name, value)

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        try:
            await self.ops.hangup(self.id, cause)
        except CallCommandError as exc:
            if not exc.channel_gone:
                raise

    async def play(self, path: str) -> None:
        """Queue a file on the caller's leg (``uuid_broadcast … aleg``)."""
        await self.ops.play(self.id, path)

    async def stop_playback(self) -> None:
        """Stop the current and all queued playback (``uuid_break … all``). Nothing
        plays on a channel that is gone: that is the end of the call, not an error."""
        try:
            await self.ops.stop_playback(self.id)
        except CallCommandError as exc:
            if not exc.channel_gone:
                raise

    async def record(self, path: str) -> None:
        await self.ops.record_start(self.id, path)
        self.call.recording_path = path

    async def stop_recording(self, path: str | None = None) -> None:
        target = path or self.call.recording_path
        if not target:
            raise CallError(f"call {self.id} is not being recorded")
        await self.ops.record_stop(self.id, target)

    async def send_dtmf(self, digits: str) -> None:
        await self.ops.send_dtmf(self.id, digits)

    async def transfer(self, destination: str, context: str = "default") -> None:
        await self.ops.transfer(self.id, destination, context)

    async def bridge(self, other_uuid: str) -> None:
        await self.ops.bridge(self.id, other_uuid)
