"""A live call as the rest of callcontrol sees it: its record, its commands, its events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from callcontrol.calls.model import Call
from callcontrol.errors import CallError, EslCommandError
from callcontrol.esl import commands as cmd
from callcontrol.esl.client import EslCommands
from callcontrol.esl.commands import ApiReply
from callcontrol.esl.protocol import EslEvent

log = structlog.get_logger(__name__)

CallListener = Callable[[EslEvent], None]


def channel_gone(exc: EslCommandError) -> bool:
    """FreeSWITCH's ``-ERR No such channel!`` (mod_commands' uuid_* commands)."""
    return "No such channel" in exc.reply


class CallHandle:
    """Operations on one call, sent down the connection that controls it.

    In inbound mode that is the shared Event Socket connection; in outbound mode
    the call's own socket. Listeners receive the call's events (playback,
    mod_audio_fork CUSTOM events…) on the asyncio loop and must not block.
    """

    def __init__(self, call: Call, commands: EslCommands) -> None:
        self.call = call
        self.commands = commands
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
            except Exception:  # noqa: BLE001 - a listener bug must not break the call
                log.exception("call listener failed", call=self.id, esl_event=event.key)

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply:
        reply = await self.commands.api(command, timeout=timeout)
        return reply.raise_for_error()

    # -- operations -------------------------------------------------------------------
    async def answer(self) -> None:
        await self.api(cmd.answer(self.id))

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        try:
            await self.api(cmd.hangup(self.id, cause))
        except EslCommandError as exc:
            if not channel_gone(exc):
                raise

    async def play(self, path: str) -> None:
        """Queue a file on the caller's leg (``uuid_broadcast … aleg``)."""
        await self.api(cmd.broadcast(self.id, path, "aleg"))

    async def stop_playback(self) -> None:
        """Stop the current and all queued playback (``uuid_break … all``). Nothing
        plays on a channel that is gone: that is the end of the call, not an error."""
        try:
            await self.api(cmd.stop_playback(self.id))
        except EslCommandError as exc:
            if not channel_gone(exc):
                raise

    async def record(self, path: str) -> None:
        await self.api(cmd.record(self.id, "start", path))
        self.call.recording_path = path

    async def stop_recording(self, path: str | None = None) -> None:
        target = path or self.call.recording_path
        if not target:
            raise CallError(f"call {self.id} is not being recorded")
        await self.api(cmd.record(self.id, "stop", target))

    async def send_dtmf(self, digits: str) -> None:
        await self.api(cmd.send_dtmf(self.id, digits))

    async def transfer(self, destination: str, context: str = "default") -> None:
        await self.api(cmd.transfer(self.id, destination, context=context))

    async def bridge(self, other_uuid: str) -> None:
        await self.api(cmd.bridge(self.id, other_uuid))
