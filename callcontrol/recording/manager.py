"""Every answered call recorded: started by the call's actor, finished after it ends.

:meth:`CallRecordings.plan` decides, from the owner's settings (``recording.enabled``),
whether and where a call is recorded; the actor then sets ``RECORD_STEREO`` and starts
``uuid_record`` on the caller's channel — so a bridge to a person, a take-over or a
transfer stays in the same file — and tells :meth:`started`. When the call's CDR is
written, :meth:`call_ended` finishes the file in a task this object owns (waits for
FreeSWITCH to close it, mixes, writes metadata, encrypts), links it to the call, and
queues its transcription (``jobs``). A worker that stops mid-way finishes the rows it
left in ``recording`` at its next start (:meth:`recover`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select

from callcontrol.aio import TaskOwner
from callcontrol.config import RecordingSettings, Settings
from callcontrol.recording import crypto
from callcontrol.recording.files import (
    STEREO,
    Finished,
    RecordingMissing,
    call_directory,
    finish,
)
from callcontrol.store.models import Cdr, Recording
from callcontrol.store.writer import Write

if TYPE_CHECKING:
    from callcontrol.calls.cdr import CdrRecord
    from callcontrol.calls.model import Call
    from callcontrol.store.repos import Sessions

log = structlog.get_logger(__name__)

TRANSCRIBE = "transcribe"
_STABLE_CHECKS = 3  # the file's size unchanged this many times in a row: FreeSWITCH is done
_CHECK_S = 0.2
_WAIT_FILE_S = 10.0
_RECOVER_AFTER = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class RecordingPlan:
    call_id: str
    directory: PurePosixPath  # relative to calls.recordings_dir
    path: Path  # the stereo file FreeSWITCH writes
    notice: str | None


def call_metadata(call: Call, cdr: CdrRecord | None) -> dict[str, Any]:
    """What metadata.json says about the call and who took part."""
    parties = [
        {
            "leg": leg.id,
            "role": leg.role,
            "number": leg.number,
            "answered_at": leg.answered_at,
            "ended_at": leg.ended_at,
            "hangup_cause": leg.hangup_cause,
        }
        for leg in call.legs.values()
    ]
    data: dict[str, Any] = {
        "call_id": call.id,
        "direction": call.direction,
        "caller": call.caller_number,
        "caller_name": call.caller_name,
        "callee": call.callee_number,
        "owner": call.owner,
        "language": call.language,
        "created_at": call.created_at,
        "parties": parties,
    }
    if cdr is not None:
        data.update(
            answered_at=cdr.answer_at,
            ended_at=cdr.end_at,
            duration_s=cdr.duration_s,
            billsec_s=cdr.billsec_s,
            hangup_cause=cdr.hangup_cause,
            handled_by=cdr.handled_by,
            outcome=cdr.outcome,
        )
    return data


class CallRecordings:
    def __init__(
        self,
        settings: Settings,
        submit: Callable[[Write], None],
        sessions: Sessions,
        *,
        per_owner: Callable[[str | None], RecordingSettings] | None = None,
        on_ready: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self._submit = submit
        self._sessions = sessions
        self._per_owner = per_owner or (lambda _owner: settings.recording)
        self._on_ready = on_ready
        self._tasks = TaskOwner("recordings")
        self._warned = False
        self.finished: dict[str, str] = {}  # call id → status, the last few (tests, logs)

    @property
    def root(self) -> Path | None:
        return self.settings.calls.recordings_dir

    def key(self) -> bytes | None:
        secret = self.settings.recording.encryption_key
        return crypto.key_bytes(secret.get_secret_value()) if secret is not None else None

    # -- the call's side --------------------------------------------------------------
    def plan(self, call: Call) -> RecordingPlan | None:
        """Where ``call`` is recorded, or None (off for its owner, or nowhere to write)."""
        wanted = self._per_owner(call.owner)
        if not wanted.enabled:
            return None
        root = self.root
        if root is None:
            if not self._warned:
                self._warned = True
                log.warning(
                    "calls are not recorded: no recordings directory",
                    hint="set CALLCONTROL_CALLS__RECORDINGS_DIR (shared with FreeSWITCH)",
                )
            return None
        directory = call_directory(call.id, call.created_at.astimezone(UTC))
        return RecordingPlan(call.id, directory, root / directory / STEREO, wanted.notice)

    def notice_for(self, call: Call) -> str | None:
        """What ``call``'s caller hears before being recorded: its owner's notice, when
        the call will be recorded (without a notice, or unrecorded: None)."""
        wanted = self._per_owner(call.owner)
        if not wanted.enabled or not wanted.notice or self.root is None:
            return None
        return wanted.notice

    def started(self, call: Call, plan: RecordingPlan) -> None:
        self._submit(
            Write.upsert(
                "recordings",
                call_id=call.id,
                owner=call.owner,
                directory=str(plan.directory),
                stereo_file=STEREO,
                status="recording",
                started_at=datetime.now(UTC),
            )
        )

    def call_ended(self, call: Call, cdr: CdrRecord, plan: RecordingPlan) -> None:
        """Finish the recording in the background (the actor does not wait)."""
        metadata = call_metadata(call, cdr)
        self._tasks.spawn(self._finish(plan.call_id, plan.directory, metadata), f"rec-{call.id}")

    # -- finishing --------------------------------------------------------------------
    async def _finish(
        self, call_id: str, directory: PurePosixPath, metadata: dict[str, Any]
    ) -> None:
        root = self.root
        if root is None:
            return
        await _wait_closed(root / directory / STEREO)
        status, error, done = "ready", None, None
        try:
            done = await asyncio.to_thread(finish, root, directory, metadata, key=self.key())
        except RecordingMissing as exc:
            status, error = "missing", str(exc)
        except Exception as exc:  # noqa: BLE001 - the call is over; the row says what failed
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        self._record(call_id, status, error, done)
        if status == "ready":
            log.info(
                "recording ready",
                call=call_id,
                seconds=done.duration_s if done else None,
                encrypted=done.encrypted if done else None,
            )
            if self._on_ready is not None:
                try:
                    await self._on_ready(call_id)
                except Exception as exc:  # noqa: BLE001 - the recording itself is kept
                    log.warning("cannot queue the recording's transcription", error=str(exc))
        else:
            log.warning("recording not finished", call=call_id, status=status, error=error)

    def _record(self, call_id: str, status: str, error: str | None, done: Finished | None) -> None:
        now = datetime.now(UTC)
        columns: dict[str, Any] = {"status": status, "error": error, "finished_at": now}
        if done is not None:
            columns.update(
                stereo_file=done.stereo_file,
                mixed_file=done.mixed_file,
                sample_rate=done.sample_rate,
                duration_s=done.duration_s,
                sha256=done.sha256,
                encrypted=done.encrypted,
            )
        self._submit(Write.patch("recordings", call_id=call_id, **columns))
        self.finished[call_id] = status
        while len(self.finished) > 1000:
            self.finished.pop(next(iter(self.finished)))

    async def recover(self) -> int:
        """Finish recordings a stopped worker left unfinished (their call has a CDR)."""
        cutoff = datetime.now(UTC) - _RECOVER_AFTER
        async with self._sessions() as s:
            rows = (
                await s.execute(
                    select(Recording, Cdr)
                    .join(Cdr, Cdr.call_id == Recording.call_id)
                    .where(Recording.status == "recording", Recording.started_at < cutoff)
                    .limit(500)
                )
            ).all()
        for rec, cdr in rows:
            metadata = {
                "call_id": rec.call_id,
                "owner": rec.owner,
                "caller": cdr.caller,
                "callee": cdr.callee,
                "answered_at": cdr.answer_at,
                "ended_at": cdr.end_at,
                "hangup_cause": cdr.hangup_cause,
                "handled_by": cdr.handled_by,
                "recovered": True,
            }
            self._tasks.spawn(
                self._finish(rec.call_id, PurePosixPath(rec.directory), metadata),
                f"rec-recover-{rec.call_id}",
            )
        if rows:
            log.info("finishing recordings left by a stopped worker", count=len(rows))
        return len(rows)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for the recordings being finished (tests; a clean stop)."""
        return await self._tasks.join(timeout)

    async def stop(self) -> None:
        if not await self._tasks.join(_WAIT_FILE_S + 5):
            log.warning("stopping with recordings unfinished; the next start finishes them")
        await self._tasks.aclose()


async def _wait_closed(path: Path) -> None:
    """FreeSWITCH closes the file when the channel's media bug closes, around the
    hang-up: wait until it exists and its size stops changing (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _WAIT_FILE_S
    last, stable = -1, 0
    while loop.time() < deadline:
        size = await asyncio.to_thread(_size, path)
        if size >= 0 and size == last:
            stable += 1
            if stable >= _STABLE_CHECKS:
                return
        else:
            stable = 0
        last = size
        await asyncio.sleep(_CHECK_S)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1
