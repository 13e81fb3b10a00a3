"""Hand-off by phone: the caller who asks for a person is put through to one.

When ``pipeline.handoff_by_phone`` is on and the caller asks for a person, the dialog
(``dialog/human.py``) tries this before the text desk:

1. an operator whose status is *available*, whose console is open and who has an
   extension is chosen (the desk's live view);
2. their extension rings as a leg of the caller's call (``callcontrol_role=operator``),
   for ``pipeline.handoff_ring_s``; the caller meanwhile hears the hold phrase and music;
3. when they answer they hear a spoken **briefing** — the caller's number, question and
   what the bot said — played from a WAV file callcontrol writes in the directory it
   shares with FreeSWITCH (``calls.recordings_dir``; without one, no briefing);
4. the two are bridged; the operator is *busy* until the call ends (then back to their
   status, as after a take-over), and the dialog ends on the bridge.

Nobody free, nobody answering, or a command refused: ``None``, and the question goes to
the text desk as before. Nothing here runs on the event loop's critical path but file
writing, which goes to a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import structlog

from callcontrol.calls.model import VAR_CALL_ID, VAR_ROLE
from callcontrol.calls.ops import prepare_originate
from callcontrol.errors import CallControlError, EslError
from callcontrol.hitl.base import HitlQuestion
from callcontrol.live import topics
from callcontrol.media.codecs import wav_bytes
from callcontrol.store.repos import OperatorRepo

if TYPE_CHECKING:
    from callcontrol.app import Service

log = structlog.get_logger(__name__)

BRIEFINGS = "briefings"
_AFTER_BRIEFING_S = 0.3  # FreeSWITCH starts a broadcast a little after it says +OK


class PhoneHandover:
    """:class:`~callcontrol.hitl.base.PhoneHandoff` over the service's ESL connection."""

    def __init__(self, service: Service) -> None:
        self._service = service

    async def hand_off(
        self, question: HitlQuestion, briefing: bytes, sample_rate: int
    ) -> str | None:
        service = self._service
        settings = service.settings
        try:
            reachable = await service.desk.operators_by_status()
        except Exception as exc:  # noqa: BLE001 - no live state: the text desk decides
            log.warning("cannot read operators for a phone hand-off", error=str(exc))
            return None
        candidates = [op for op in reachable.get("available", []) if op.get("extension")]
        if not candidates:
            log.info("no available operator with a phone", call=question.call_id)
            return None
        chosen = candidates[0]
        extension, name = str(chosen["extension"]), str(chosen.get("username"))
        asked_at = datetime.now(UTC)
        try:
            ops = service.controller.ops()
            ring = prepare_originate(
                settings.calls.extension_dialstring.format(extension=extension, number=extension),
                variables={VAR_CALL_ID: question.call_id, VAR_ROLE: "operator"},
                timeout_s=int(settings.pipeline.handoff_ring_s),
            )
        except CallControlError as exc:
            log.warning("cannot ring the operator", operator=name, error=str(exc))
            return None
        # Busy from now: a second caller at the same moment does not ring the same phone;
        # back to their status when the call ends, or at once if it never reaches them.
        try:
            operator = await OperatorRepo(service.sessions).get(str(chosen.get("id")))
            if operator is not None:
                await service.presence.took_over(operator, question.call_id)
        except Exception as exc:  # noqa: BLE001 - the status is bookkeeping; the call goes on
            log.warning("cannot mark the operator busy", operator=name, error=str(exc))
        bridged = False
        path: Path | None = None
        try:
            await self._event(
                question.call_id, "handoff_ringing", operator=name, extension=extension
            )
            try:
                leg = await ops.send_originate(ring)
            except (CallControlError, EslError) as exc:
                log.info("operator did not take the call", operator=name, error=str(exc))
                await self._event(question.call_id, "handoff_no_answer", operator=name)
                return None
            path = await self._write_briefing(question.call_id, briefing, sample_rate)
            if path is not None:
                await ops.play(leg, str(path))
                await asyncio.sleep(len(briefing) / 2 / sample_rate + _AFTER_BRIEFING_S)
            await ops.bridge(question.call_id, leg)
            bridged = True
        except (CallControlError, EslError) as exc:
            log.warning("phone hand-off failed", operator=name, error=str(exc))
            return None
        finally:
            if not bridged:
                # Cancelled (the caller hung up), refused or failed: the operator's phone
                # must not stay up in silence, and they are free again.
                with contextlib.suppress(CallControlError, EslError):
                    await asyncio.shield(ops.hangup(ring.uuid, "NORMAL_CLEARING"))
                with contextlib.suppress(Exception):
                    await asyncio.shield(service.presence.call_ended(question.call_id))
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()
        log.info("caller put through to an operator", call=question.call_id, operator=name)
        await self._event(question.call_id, "handoff_by_phone", operator=name, leg=leg)
        service.controller.emit(
            "call.transferred",
            call_id=question.call_id,
            kind="handoff_by_phone",
            to=extension,
            operator=name,
        )
        try:
            await service.desk.record_phone(
                question, operator=name, operator_id=str(chosen.get("id")), asked_at=asked_at
            )
        except Exception as exc:  # noqa: BLE001 - the caller is with the operator already
            log.warning("cannot record the phone hand-off", call=question.call_id, error=str(exc))
        return name

    # -- CallTransfer: a scripted flow's transfer --------------------------------------
    def _dialstring(self, to: str) -> str:
        """An extension (digits, up to 6) rings like the operators' phones; a longer
        number goes out through the call-back dial string (the PSTN gateway)."""
        calls, console = self._service.settings.calls, self._service.settings.console
        digits = to.lstrip("+")
        if digits.isdigit() and len(digits) <= 6 or not console.callback_dialstring:
            return calls.extension_dialstring.format(extension=to, number=to)
        return console.callback_dialstring.format(number=to, extension=to)

    async def put_through(self, call_id: str, to: str, briefing: bytes, sample_rate: int) -> bool:
        """Ring ``to``; once answered, the briefing (if any), then the bridge."""
        service = self._service
        try:
            ops = service.controller.ops()
            ring = prepare_originate(
                self._dialstring(to),
                variables={VAR_CALL_ID: call_id, VAR_ROLE: "extension"},
                timeout_s=int(service.settings.pipeline.handoff_ring_s),
            )
        except CallControlError as exc:
            log.warning("cannot ring the transfer target", to=to, error=str(exc))
            return False
        bridged = False
        path: Path | None = None
        try:
            try:
                leg = await ops.send_originate(ring)
            except (CallControlError, EslError) as exc:
                log.info("the transfer target did not answer", to=to, error=str(exc))
                return False
            path = await self._write_briefing(call_id, briefing, sample_rate)
            if path is not None:
                await ops.play(leg, str(path))
                await asyncio.sleep(len(briefing) / 2 / sample_rate + _AFTER_BRIEFING_S)
            await ops.bridge(call_id, leg)
            bridged = True
        except (CallControlError, EslError) as exc:
            log.warning("the transfer failed", to=to, error=str(exc))
            return False
        finally:
            if not bridged:
                with contextlib.suppress(CallControlError, EslError):
                    await asyncio.shield(ops.hangup(ring.uuid, "NORMAL_CLEARING"))
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()
        log.info("caller put through by the flow", call=call_id, to=to, warm=bool(briefing))
        await self._event(call_id, "flow_transfer", to=to, warm=bool(briefing), leg=leg)
        service.controller.emit("call.transferred", call_id=call_id, kind="flow", to=to)
        return True

    async def _write_briefing(self, call_id: str, pcm: bytes, sample_rate: int) -> Path | None:
        shared = self._service.settings.calls.recordings_dir
        if shared is None or not pcm:
            return None
        path = shared / BRIEFINGS / f"{call_id}-{uuidlib.uuid4().hex[:8]}.wav"
        data = wav_bytes(np.frombuffer(pcm, dtype="<i2").astype(np.int16), sample_rate)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o644)  # FreeSWITCH reads it, maybe as another user

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            log.warning("cannot write the briefing; putting through without it", error=str(exc))
            return None
        return path

    async def _event(self, call_id: str, name: str, **data: object) -> None:
        try:
            await self._service.bus.publish(
                topics.call_topic(call_id), {"type": "event", "name": name, "data": data}
            )
        except Exception as exc:  # noqa: BLE001 - the live view is best effort
            log.warning("cannot publish hand-off event", error=str(exc))
