"""Transcripts of every recorded call, per channel: caller and the other side apart.

Jobs of kind ``transcribe`` (queued when a recording is ready) are taken by a small pool
(``recording.transcribe_workers``). Each channel of the stereo recording is cut into
speech spans by faster-whisper's own Silero VAD (``get_speech_timestamps``), and each span
is transcribed by the worker's speech-to-text stage — the same loaded Whisper the live
calls use, so no second copy of the model. Live calls come first: before every span a
worker waits until this worker has at most ``recording.busy_calls`` calls in progress
(0 by default), so a call never queues behind a transcript for more than one span
(≤ 15 s of audio, about a second of decoding). Segments are stored with their channel,
speaker (the caller; the bot, or the person once the call was bridged), times and text,
and ``transcript.txt`` is written beside the audio (encrypted like it when there is a key).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sqlalchemy import delete, select

from callcontrol.config import Settings
from callcontrol.media.resample import resample
from callcontrol.pipeline.base import STT_SAMPLE_RATE, SpeechToText
from callcontrol.recording import crypto
from callcontrol.recording.files import TRANSCRIPT, read_audio, read_pcm, write_private
from callcontrol.recording.jobs import Claimed, JobQueue, JobRunner
from callcontrol.store.models import Call, CallEvent, Recording, TranscriptSegment
from callcontrol.store.repos import Sessions, aware

log = structlog.get_logger(__name__)

KIND = "transcribe"
MAX_SPAN_S = 15.0
_BRIDGE_EVENTS = ("CHANNEL_BRIDGE",)


@dataclass(frozen=True, slots=True)
class Segment:
    channel: str  # caller | other
    speaker: str
    start_s: float
    end_s: float
    text: str
    language: str | None


def speech_spans(audio: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample indexes of speech in 16 kHz float32 audio (blocking)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_silence_duration_ms=500, max_speech_duration_s=MAX_SPAN_S, speech_pad_ms=200
    )
    return [(int(s["start"]), int(s["end"])) for s in get_speech_timestamps(audio, options)]


def transcript_text(segments: list[Segment]) -> str:
    lines = []
    for seg in sorted(segments, key=lambda s: s.start_s):
        minutes, seconds = divmod(seg.start_s, 60)
        lines.append(f"[{int(minutes):02d}:{seconds:04.1f}] {seg.speaker}: {seg.text}")
    return "\n".join(lines) + ("\n" if lines else "")


class RecordingTranscriber:
    def __init__(
        self,
        settings: Settings,
        sessions: Sessions,
        queue: JobQueue,
        stt: Callable[[], Awaitable[SpeechToText]],
        busy: Callable[[], int],
        *,
        on_done: Callable[[str], Awaitable[None]] | None = None,
        poll_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self.queue = queue
        self._stt = stt
        self._busy = busy
        self._calm = asyncio.Event()
        self.runner = JobRunner(
            queue,
            KIND,
            self._transcribe_job,
            workers=settings.recording.transcribe_workers,
            quiet=self._quiet,
            on_done=on_done,
            poll_s=poll_s,
        )

    @property
    def completed(self) -> list[str]:
        return self.runner.completed

    def start(self) -> None:
        self.runner.start()

    def wake(self) -> None:
        """A job was queued or a call ended: look again now."""
        self._calm.set()
        self.runner.wake()

    async def stop(self) -> None:
        await self.runner.stop()

    async def _quiet(self) -> None:
        """Wait while live calls need the CPU."""
        while self._busy() > self.settings.recording.busy_calls:
            self._calm.clear()
            try:
                await asyncio.wait_for(self._calm.wait(), 1.0)
            except TimeoutError:
                pass

    async def _transcribe_job(self, job: Claimed) -> None:
        started = asyncio.get_running_loop().time()
        segments = await self.transcribe(job)
        log.info(
            "call transcribed",
            call=job.call_id,
            segments=segments,
            seconds=round(asyncio.get_running_loop().time() - started, 1),
        )

    async def transcribe(self, job: Claimed) -> int:
        root = self.settings.calls.recordings_dir
        if root is None:
            raise RuntimeError("no recordings directory configured")
        async with self._sessions() as s:
            rec = await s.get(Recording, job.call_id)
            call = await s.get(Call, job.call_id)
            bridged_at = (
                await s.execute(
                    select(CallEvent.at)
                    .where(CallEvent.call_id == job.call_id, CallEvent.name.in_(_BRIDGE_EVENTS))
                    .order_by(CallEvent.at)
                    .limit(1)
                )
            ).scalar_one_or_none()
        if rec is None or rec.status != "ready":
            raise RuntimeError(f"no finished recording for {job.call_id}")
        folder = root / rec.directory
        key = self._key()
        frames, rate = await asyncio.to_thread(_load, folder / rec.stereo_file, key)
        start = aware(rec.started_at)
        bridge_s = (
            (aware(bridged_at) - start).total_seconds()  # type: ignore[operator]
            if bridged_at is not None and start is not None
            else None
        )
        wanted = (call.language if call is not None else None) or self.settings.pipeline.language
        language = None if wanted in (None, "auto") else wanted
        channels = ["caller", "other"] if frames.shape[1] >= 2 else ["caller"]
        audio = [await asyncio.to_thread(_to_16k, frames[:, i], rate) for i in range(len(channels))]
        spans = [await asyncio.to_thread(speech_spans, a) for a in audio]
        total = sum(end - begin for chan in spans for begin, end in chan) or 1
        stt = await self._stt()
        done = 0
        segments: list[Segment] = []
        for channel, samples, chan_spans in zip(channels, audio, spans, strict=True):
            for begin, end in chan_spans:
                await self._quiet()
                heard = await stt.transcribe(samples[begin:end], language)
                done += end - begin
                text = heard.text.strip()
                if text:
                    at = begin / STT_SAMPLE_RATE
                    segments.append(
                        Segment(
                            channel,
                            _speaker(channel, at, bridge_s, call),
                            round(at, 2),
                            round(end / STT_SAMPLE_RATE, 2),
                            text,
                            heard.language or language,
                        )
                    )
                await self.queue.progress(job.id, done / total)
        await self._store(job.call_id, segments)
        await asyncio.to_thread(_write_transcript, folder, transcript_text(segments), key)
        return len(segments)

    def _key(self) -> bytes | None:
        secret = self.settings.recording.encryption_key
        return crypto.key_bytes(secret.get_secret_value()) if secret is not None else None

    async def _store(self, call_id: str, segments: list[Segment]) -> None:
        async with self._sessions() as s:
            await s.execute(delete(TranscriptSegment).where(TranscriptSegment.call_id == call_id))
            s.add_all(
                TranscriptSegment(
                    call_id=call_id,
                    channel=seg.channel,
                    speaker=seg.speaker,
                    start_s=seg.start_s,
                    end_s=seg.end_s,
                    text=seg.text,
                    language=seg.language,
                )
                for seg in segments
            )
            await s.commit()


def _speaker(channel: str, at: float, bridge_s: float | None, call: Any) -> str:
    if channel == "caller":
        return "caller"
    handled = getattr(call, "handled_by", None)
    if handled == "human" and bridge_s is None:
        return "agent"
    if bridge_s is not None and at >= bridge_s:
        return "agent"
    return "bot"


def _load(path: Path, key: bytes | None) -> tuple[np.ndarray, int]:
    data = read_audio(path, key)
    buffer = io.BytesIO(data)
    return read_pcm(buffer)


def _to_16k(channel: np.ndarray, rate: int) -> np.ndarray:
    samples: np.ndarray = np.ascontiguousarray(channel, dtype=np.int16)
    if rate != STT_SAMPLE_RATE:
        samples = np.asarray(resample(samples, rate, STT_SAMPLE_RATE))
    return (samples.astype(np.float32) / 32768.0).astype(np.float32)


def _write_transcript(folder: Path, text: str, key: bytes | None) -> None:
    path = folder / TRANSCRIPT
    write_private(path, text)
    if key is not None:
        crypto.encrypt_file(path, key)
