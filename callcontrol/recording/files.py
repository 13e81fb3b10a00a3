"""A call's recording on disk: where it goes, and finishing what FreeSWITCH wrote.

FreeSWITCH (``uuid_record`` with ``RECORD_STEREO=true``) writes ``call.wav``: the
channel's *read* audio — the caller — on the left, its *write* audio — what the caller
hears: the bot, or the person bridged to them — on the right. Finishing it (in a thread,
after the call) adds ``mixed.wav`` (mono, both sides), ``metadata.json`` and the file
modes (0700 folders, 0600 files, the service user's only), and with a key encrypts both
WAVs at rest (``crypto.py``). Nothing here touches the database or the event loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import wave
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np

from callcontrol.recording import crypto

STEREO = "call.wav"
MIXED = "mixed.wav"
METADATA = "metadata.json"
TRANSCRIPT = "transcript.txt"
LAYOUT = {"left": "caller", "right": "other side (bot or person)"}


def call_directory(call_id: str, started: datetime) -> PurePosixPath:
    """``YYYY/MM/DD/<call-id>``, relative to ``calls.recordings_dir`` (the call's start,
    UTC). The id is FreeSWITCH's UUID; anything else in it is refused."""
    if not call_id or any(c not in "0123456789abcdefABCDEF-" for c in call_id):
        raise ValueError(f"not a call id: {call_id!r}")
    return PurePosixPath(f"{started:%Y/%m/%d}") / call_id


@dataclass(frozen=True, slots=True)
class Finished:
    """What finishing a recording found and wrote."""

    stereo_file: str
    mixed_file: str
    sample_rate: int
    duration_s: float
    sha256: str  # of the stereo WAV as FreeSWITCH wrote it (before any encryption)
    encrypted: bool
    channels: int
    metadata: dict[str, Any] = field(default_factory=dict)


class RecordingMissing(Exception):
    """FreeSWITCH wrote no file (the call ended before media, or it cannot write there)."""


def private_tree(root: Path, folder: Path) -> None:
    """Create ``folder`` under ``root`` with every new level 0700."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in [folder, *folder.parents]:
        if part == root or root not in part.parents:
            break
        os.chmod(part, 0o700)


def read_pcm(source: Path | BinaryIO) -> tuple[np.ndarray, int]:
    """(samples as int16 of shape (frames, channels), sample rate) of a PCM WAV."""
    with wave.open(str(source) if isinstance(source, Path) else source, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{8 * w.getsampwidth()}-bit audio, not 16-bit PCM")
        channels, rate = w.getnchannels(), w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.reshape(-1, channels).astype(np.int16), rate


def write_pcm(path: Path, samples: np.ndarray, rate: int) -> None:
    frames = samples if samples.ndim == 2 else samples.reshape(-1, 1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.astype("<i2").tobytes())


def mix_down(frames: np.ndarray) -> np.ndarray:
    """Both sides in one channel: summed, clipped (a person and the caller rarely talk at
    once; halving would make each quieter than the call was)."""
    if frames.shape[1] == 1:
        return np.array(frames[:, 0], dtype=np.int16)
    total = frames.astype(np.int32).sum(axis=1)
    return np.asarray(np.clip(total, -32768, 32767), dtype=np.int16)


def finish(
    root: Path,
    directory: PurePosixPath,
    call: dict[str, Any],
    *,
    key: bytes | None = None,
) -> Finished:
    """Finish ``<root>/<directory>/call.wav``: mixed copy, metadata, modes, encryption.

    ``call``: what metadata.json says about the call (ids, parties, times, owner,
    language). Raises :class:`RecordingMissing` when FreeSWITCH wrote nothing."""
    folder = root / directory
    stereo = folder / STEREO
    if not stereo.is_file() or stereo.stat().st_size <= 44:
        raise RecordingMissing(f"no audio in {stereo}")
    private_tree(root, folder)
    digest = hashlib.sha256(stereo.read_bytes()).hexdigest()
    frames, rate = read_pcm(stereo)
    mixed = folder / MIXED
    write_pcm(mixed, mix_down(frames), rate)
    duration = round(len(frames) / rate, 3) if rate else 0.0
    stereo_name, mixed_name = STEREO, MIXED
    for path in (stereo, mixed):
        os.chmod(path, 0o600)
    if key is not None:
        stereo_name = crypto.encrypt_file(stereo, key).name
        mixed_name = crypto.encrypt_file(mixed, key).name
    result = Finished(
        stereo_file=stereo_name,
        mixed_file=mixed_name,
        sample_rate=rate,
        duration_s=duration,
        sha256=digest,
        encrypted=key is not None,
        channels=int(frames.shape[1]),
    )
    metadata = {
        "call": call,
        "files": {
            "stereo": stereo_name,
            "mixed": mixed_name,
            "sha256_stereo_wav": digest,
            "encrypted": result.encrypted,
            "encryption": "AES-256-GCM (callcontrol/recording/crypto.py)" if key else None,
        },
        "audio": {
            "sample_rate": rate,
            "channels": result.channels,
            "duration_s": duration,
            "layout": LAYOUT if result.channels == 2 else {"mono": "both sides"},
        },
    }
    write_private(folder / METADATA, json.dumps(metadata, indent=2, default=str) + "\n")
    return Finished(**{**asdict(result), "metadata": metadata})


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def read_audio(path: Path, key: bytes | None) -> bytes:
    """A finished WAV's bytes (decrypted when it was encrypted)."""
    if path.name.endswith(crypto.SUFFIX):
        if key is None:
            raise crypto.DecryptionError("the recording is encrypted and no key is configured")
        return crypto.decrypt_file(path, key)
    return path.read_bytes()
