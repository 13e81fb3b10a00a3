"""``uuid_record`` / ``record_session``: RECORD_START/STOP and a WAV of the call (8 kHz).

Mono: what the caller said and heard, mixed. With the channel variable ``RECORD_STEREO``
true (read when the recording starts, as FreeSWITCH does): the channel's read audio —
the caller's voice — on the left, its write audio — playbacks, and the voice of whoever
it is bridged to — on the right (checked on a real FreeSWITCH 1.10.12: the contract
suite's recording test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .media import wav_bytes

if TYPE_CHECKING:
    from .channel import Channel
    from .switch import FakeFreeSwitch

RECORD_RATE = 8000


@dataclass
class Recording:
    path: str
    started: float  # loop time
    limit: int
    stereo: bool = False
    partners: set[str] = field(default_factory=set)  # channels bridged to it meanwhile


class Recorder:
    def __init__(self, switch: FakeFreeSwitch) -> None:
        self.sw = switch
        self.active_recordings: dict[str, list[Recording]] = {}
        self.written: list[Path] = []

    def start(self, ch: Channel, path: str, limit: int = 0) -> bool:
        if ch.down:
            return False
        stereo = ch.variables.get("RECORD_STEREO", "").lower() == "true"
        recording = Recording(path, self.sw.now(), limit, stereo)
        if ch.partner_uuid:
            recording.partners.add(ch.partner_uuid)
        self.active_recordings.setdefault(ch.uuid, []).append(recording)
        self.sw.channel_event(ch, "RECORD_START", after=[("Record-File-Path", path)])
        return True

    def bridged(self, a: Channel, b: Channel) -> None:
        """Whoever is bridged to a recorded channel is heard on its write side."""
        for one, other in ((a, b), (b, a)):
            for rec in self.active_recordings.get(one.uuid, []):
                rec.partners.add(other.uuid)

    def active(self, ch: Channel, path: str) -> bool:
        return any(r.path == path for r in self.active_recordings.get(ch.uuid, []))

    def stop(self, ch: Channel, path: str) -> bool:
        recordings = self.active_recordings.get(ch.uuid, [])
        chosen = [r for r in recordings if path == "all" or r.path == path]
        if not chosen:
            return False
        for rec in chosen:
            recordings.remove(rec)
            self._finish(ch, rec)
        return True

    def channel_closed(self, ch: Channel) -> None:
        for rec in list(self.active_recordings.pop(ch.uuid, [])):
            self._finish(ch, rec)

    def _finish(self, ch: Channel, rec: Recording) -> None:
        media = self.sw.media_of(ch)
        seconds = max(0.0, self.sw.now() - rec.started)
        if rec.limit:
            seconds = min(seconds, float(rec.limit))
        n = int(seconds * RECORD_RATE)
        read = np.zeros(n, dtype=np.int32)
        write = np.zeros(n, dtype=np.int32)
        voice = media.voice.read(rec.started, 0, n, RECORD_RATE)
        if voice is not None:
            read += voice
        sources = [media.played] + [self.sw.media_of_uuid(u).voice for u in rec.partners]
        for timeline in sources:
            part = timeline.read(rec.started, 0, n, RECORD_RATE)
            if part is not None:
                write += part
        if rec.stereo:
            samples = np.stack([read, write], axis=1)
        else:
            samples = read + write
        samples = np.clip(samples, -32768, 32767).astype(np.int16)
        target = Path(rec.path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(wav_bytes(samples, RECORD_RATE))
            self.written.append(target)
        except OSError:
            pass
        ch.set_var("record_samples", str(n))
        ch.set_var("record_seconds", str(n // RECORD_RATE))
        ch.set_var("record_ms", str(n * 1000 // RECORD_RATE))
        self.sw.channel_event(ch, "RECORD_STOP", after=[("Record-File-Path", rec.path)])
