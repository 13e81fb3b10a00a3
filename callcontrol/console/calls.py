"""What an operator can do to a live call: hang up, transfer, take over; and calling a
caller back from a follow-up.

The commands go down this worker's inbound Event Socket connection whichever worker
owns the call (``uuid_*`` commands are global to FreeSWITCH), through
:class:`~callcontrol.calls.ops.CallOps`; this module adds the console's checks
(destination, context), its wording of failures, and the operator events. Taking
over originates the operator's phone as a leg *of this call* (``callcontrol_call_id``
set to the call, role ``operator``) and bridges it to the caller; the dialog notices
the bridge and stops talking.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import structlog

from callcontrol.calls.model import VAR_CALL_ID, VAR_ROLE
from callcontrol.calls.ops import CallOps, prepare_originate
from callcontrol.errors import CallCommandError, CallError, EslError, EslNotConnectedError
from callcontrol.esl.commands import DESTINATION, check_context, check_destination
from callcontrol.live import topics

if TYPE_CHECKING:
    from callcontrol.app import Service

log = structlog.get_logger(__name__)


class CallActions:
    def __init__(self, service: Service, *, takeover_timeout_s: int = 30) -> None:
        self._service = service
        self.takeover_timeout_s = takeover_timeout_s

    def _ops(self) -> CallOps:
        inbound = self._service.inbound
        if inbound is None or not inbound.connected:
            raise EslNotConnectedError("not connected to FreeSWITCH")
        return CallOps(inbound)

    async def _event(self, call_id: str, name: str, **data: object) -> None:
        try:
            await self._service.bus.publish(
                topics.call_topic(call_id), {"type": "event", "name": name, "data": data}
            )
        except Exception as exc:  # noqa: BLE001 - best effort
            log.warning("cannot publish call event", error=str(exc))

    async def hangup(self, call_id: str, *, by: str) -> None:
        try:
            await self._ops().hangup(call_id, "NORMAL_CLEARING")
        except CallCommandError as exc:
            raise CallError(f"hangup failed: {exc.error}") from exc
        log.info("operator hung up a call", call=call_id, operator=by)
        await self._event(call_id, "operator_hangup", operator=by)

    async def transfer(self, call_id: str, destination: str, *, by: str, context: str) -> None:
        destination = check_destination(destination)
        check_context(context)
        try:
            await self._ops().transfer(call_id, destination, context)
        except CallCommandError as exc:
            raise CallError(f"transfer failed: {exc.error}") from exc
        log.info("operator transferred a call", call=call_id, to=destination, operator=by)
        self._service.controller.emit(
            "call.transferred", call_id=call_id, kind="transfer", to=destination, operator=by
        )
        await self._event(call_id, "operator_transfer", operator=by, destination=destination)

    async def take_over(
        self, call_id: str, target: str, *, by: str, caller_number: str | None
    ) -> str:
        """Ring ``target`` (an extension or number); once answered, bridge it to the caller."""
        target = check_destination(target)
        ops = self._ops()
        template = (
            self._service.settings.console.takeover_dialstring
            or self._service.settings.calls.extension_dialstring
        )
        variables = {
            VAR_CALL_ID: call_id,
            VAR_ROLE: "operator",
            "origination_caller_id_name": f"Takeover {by}"[:64].replace(" ", "_"),
        }
        if caller_number and DESTINATION.fullmatch(caller_number):
            variables["origination_caller_id_number"] = caller_number
        await self._event(call_id, "operator_takeover_ringing", operator=by, target=target)
        ring = prepare_originate(
            template.format(extension=target, number=target),
            variables=variables,
            timeout_s=self.takeover_timeout_s,
        )
        try:
            leg = await ops.send_originate(ring)
        except CallCommandError as exc:
            raise CallError(f"could not ring {target}: {exc.error}") from exc
        except EslError as exc:
            raise CallError(f"could not ring {target}: {exc}") from exc
        try:
            await ops.bridge(call_id, leg)
        except CallCommandError as exc:
            try:
                await ops.hangup(leg, "NORMAL_CLEARING")
            except CallCommandError:
                pass  # gone already, or going: the bridge's failure is what to say
            raise CallError(f"could not bridge the call: {exc.error}") from exc
        log.info("operator took over a call", call=call_id, operator=by, leg=leg)
        self._service.controller.emit(
            "call.transferred", call_id=call_id, kind="takeover", to=target, operator=by
        )
        await self._event(call_id, "operator_takeover", operator=by, target=target, leg=leg)
        return leg

    async def call_back(self, number: str, extension: str, *, by: str, followup_id: str) -> str:
        """Ring the operator's ``extension``; once they answer, call ``number`` as a leg
        of that call and bridge the two. Returns the new call's id.

        The operator's leg is a call of its own (CDR, history) tagged with the follow-up
        (``callcontrol_followup``); the caller's leg is dialled with
        ``console.callback_dialstring`` (default: the take-over's, then the extension
        dial string). Either side not answering ends the attempt with an error.
        """
        number = check_destination(number)
        extension = check_destination(extension)
        settings = self._service.settings
        ops = self._ops()
        operator_dial = settings.calls.extension_dialstring.format(
            extension=extension, number=extension
        )
        call_id = await self._service.controller.originate(
            operator_dial,
            timeout_s=self.takeover_timeout_s,
            variables={"callcontrol_followup": followup_id},
        )
        template = (
            settings.console.callback_dialstring
            or settings.console.takeover_dialstring
            or settings.calls.extension_dialstring
        )
        await self._event(call_id, "callback_ringing", operator=by, number=number)
        try:
            ring = prepare_originate(
                template.format(extension=number, number=number),
                variables={VAR_CALL_ID: call_id, VAR_ROLE: "callee"},
                timeout_s=self.takeover_timeout_s,
            )
            leg = await ops.send_originate(ring)
            await ops.bridge(call_id, leg)
        except (CallError, EslError) as exc:  # the operator's phone must not stay up alone
            reason = exc.error if isinstance(exc, CallCommandError) else str(exc)
            with contextlib.suppress(CallCommandError, EslError):
                await ops.hangup(call_id, "NORMAL_CLEARING")
            raise CallError(f"could not reach {number}: {reason}") from exc
        log.info("operator called a caller back", call=call_id, operator=by, number=number)
        await self._event(call_id, "callback", operator=by, number=number, followup=followup_id)
        return call_id
