"""A call's recording in the console: play, download, waveform, its per-channel
transcript and transcription job; every listen and download audited; the job queue.

Files are read only inside ``calls.recordings_dir`` (the row's directory is checked
against it) and decrypted in memory when they were encrypted at rest.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select

from callcontrol.console.deps import AdminUser, ConsoleDep, CurrentUser
from callcontrol.console.render import render
from callcontrol.esl.commands import CALL_ID_PATTERN
from callcontrol.recording import crypto
from callcontrol.recording.files import read_audio, read_pcm
from callcontrol.recording.jobs import STATUSES, job_view
from callcontrol.recording.manager import TRANSCRIBE
from callcontrol.store.models import AuditEntry, Recording, TranscriptSegment

log = structlog.get_logger(__name__)
router = APIRouter()

CallId = Annotated[str, PathParam(max_length=64, pattern=CALL_ID_PATTERN)]
Track = Literal["mixed", "stereo"]
PEAKS = 600  # points of the waveform, per channel


async def audit(console: ConsoleDep, user: Any, action: str, call_id: str, **detail: Any) -> None:
    """Written before the audio leaves: an access that cannot be audited is refused."""
    async with console.service.sessions() as s:
        s.add(
            AuditEntry(
                operator_id=user.operator.id,
                username=user.username,
                action=action,
                call_id=call_id,
                detail=detail,
            )
        )
        await s.commit()
    log.info("recording accessed", action=action, call=call_id, by=user.username, **detail)


async def _recording(console: ConsoleDep, call_id: str) -> Recording:
    async with console.service.sessions() as s:
        rec = await s.get(Recording, call_id)
    if rec is None:
        raise HTTPException(404, "this call was not recorded")
    return rec


def _file(console: ConsoleDep, rec: Recording, track: Track) -> Path:
    """The track's file, only if it lies inside the recordings directory."""
    root = console.settings.calls.recordings_dir
    name = rec.stereo_file if track == "stereo" else rec.mixed_file
    if root is None or not name or rec.status != "ready":
        raise HTTPException(404, f"no {track} recording for this call ({rec.status})")
    base = Path(root).resolve()
    try:
        path = (base / rec.directory / name).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise HTTPException(404, "the recording's file is missing") from exc
    if not path.is_relative_to(base) or not path.is_file():
        raise HTTPException(404, "the recording's file is missing")
    return path


def _key(console: ConsoleDep) -> bytes | None:
    secret = console.settings.recording.encryption_key
    return crypto.key_bytes(secret.get_secret_value()) if secret is not None else None


@router.get("/calls/{call_id}/recording", response_model=None)
async def recording_audio(
    request: Request,
    call_id: CallId,
    user: CurrentUser,
    console: ConsoleDep,
    track: Track = "mixed",
    download: bool = False,
) -> Response | FileResponse:
    """The recording as WAV: ``track=mixed`` (one channel) or ``stereo`` (caller left);
    ``download=1`` as an attachment. A listen is audited once (not each range request
    a player makes while seeking)."""
    rec = await _recording(console, call_id)
    path = _file(console, rec, track)
    name = f"{call_id}-{track}.wav"
    ranged = request.headers.get("range", "")
    if download or not ranged or ranged.startswith("bytes=0-"):
        await audit(console, user, "download" if download else "listen", call_id, track=track)
    disposition = "attachment" if download else "inline"
    if not rec.encrypted:
        return FileResponse(
            path, media_type="audio/wav", filename=name, content_disposition_type=disposition
        )
    try:
        data = await asyncio.to_thread(read_audio, path, _key(console))
    except crypto.DecryptionError as exc:
        log.error("cannot decrypt a recording", call=call_id, error=str(exc))
        raise HTTPException(409, f"the recording cannot be decrypted: {exc}") from exc
    return Response(
        data,
        media_type="audio/wav",
        headers={"Content-Disposition": f'{disposition}; filename="{name}"'},
    )


def _peaks(path: Path, key: bytes | None) -> list[list[float]]:
    import io

    frames, _rate = read_pcm(io.BytesIO(read_audio(path, key)))
    if not len(frames):
        return [[] for _ in range(frames.shape[1])]
    buckets = np.array_split(np.abs(frames.astype(np.int32)), min(PEAKS, len(frames)))
    channels = range(frames.shape[1])
    return [[round(float(b[:, ch].max()) / 32768.0, 3) for b in buckets] for ch in channels]


@router.get("/api/calls/{call_id}/recording")
async def recording_info(call_id: CallId, console: ConsoleDep) -> dict[str, Any]:
    """The recording's facts, its waveform (peaks per channel), its per-channel
    transcript and how its transcription is going."""
    rec = await _recording(console, call_id)
    peaks: list[list[float]] = []
    if rec.status == "ready":
        try:
            peaks = await asyncio.to_thread(_peaks, _file(console, rec, "stereo"), _key(console))
        except (HTTPException, crypto.DecryptionError, OSError, ValueError) as exc:
            log.warning("no waveform for a recording", call=call_id, error=str(exc))
    async with console.service.sessions() as s:
        segments = list(
            (
                await s.execute(
                    select(TranscriptSegment)
                    .where(TranscriptSegment.call_id == call_id)
                    .order_by(TranscriptSegment.start_s)
                )
            ).scalars()
        )
    job = await console.service.jobs.get(TRANSCRIBE, call_id)
    return {
        "call_id": rec.call_id,
        "status": rec.status,
        "error": rec.error,
        "duration_s": rec.duration_s,
        "sample_rate": rec.sample_rate,
        "encrypted": rec.encrypted,
        "keep": rec.keep,
        "sha256": rec.sha256,
        "directory": rec.directory,
        "layout": {"left": "caller", "right": "other side (bot or person)"},
        "peaks": peaks,
        "segments": [
            {
                "id": seg.id,
                "channel": seg.channel,
                "speaker": seg.speaker,
                "start_s": seg.start_s,
                "end_s": seg.end_s,
                "text": seg.text,
                "language": seg.language,
            }
            for seg in segments
        ],
        "transcription": job_view(job) if job is not None else None,
    }


@router.post("/api/calls/{call_id}/recording/keep")
async def keep_recording(
    call_id: CallId, user: AdminUser, console: ConsoleDep, keep: bool = True
) -> dict[str, Any]:
    """An explicit hold: a kept recording is never purged."""
    async with console.service.sessions() as s:
        rec = await s.get(Recording, call_id)
        if rec is None:
            raise HTTPException(404, "this call was not recorded")
        rec.keep = keep
        await s.commit()
    await audit(console, user, "keep" if keep else "release", call_id)
    return {"call_id": call_id, "keep": keep}


@router.get("/api/audit")
async def audit_log(
    _user: AdminUser,
    console: ConsoleDep,
    call_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    async with console.service.sessions() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.at.desc()).limit(limit)
        if call_id:
            stmt = stmt.where(AuditEntry.call_id == call_id)
        rows = list((await s.execute(stmt)).scalars())
    return [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "username": r.username,
            "action": r.action,
            "call_id": r.call_id,
            "detail": r.detail,
        }
        for r in rows
    ]


# -- the job queue -----------------------------------------------------------------------
@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, user: CurrentUser, console: ConsoleDep) -> HTMLResponse:
    return render(
        request,
        console,
        "jobs.html",
        user,
        nav="jobs",
        jobs=[job_view(j) for j in await console.service.jobs.list()],
        counts=await console.service.jobs.counts(),
    )


@router.get("/api/jobs")
async def list_jobs(
    console: ConsoleDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    if status and status not in STATUSES:
        raise HTTPException(422, f"status must be one of {', '.join(STATUSES)}")
    jobs = await console.service.jobs.list([status] if status else None)
    return {"counts": await console.service.jobs.counts(), "jobs": [job_view(j) for j in jobs]}


@router.post("/api/jobs/{call_id}/retry")
async def retry_job(call_id: CallId, user: AdminUser, console: ConsoleDep) -> dict[str, Any]:
    """Queue a finished or failed transcription again."""
    await console.service.jobs.enqueue(TRANSCRIBE, call_id)
    if console.service.transcriber is not None:
        console.service.transcriber.wake()
    log.info("transcription queued again", call=call_id, by=user.username)
    job = await console.service.jobs.get(TRANSCRIBE, call_id)
    return job_view(job) if job is not None else {}
