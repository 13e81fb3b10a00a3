"""Spoken questions: espeak-ng voices → 8 kHz G.711 μ-law (sox) → int16, cached on disk.

A clip is cached as the μ-law WAV sox wrote, under ``var/eval-clips/<hash>.wav`` keyed by
(voice, speed, text), and decoded back to int16 (what a phone line delivers). The end of
speech is the end of the last 20 ms frame whose level is within 35 dB of the clip's peak.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from callcontrol.media.codecs import read_wav

RATE = 8000
FRAME_MS = 20
DEFAULT_VOICES = "en-us+m3:160,en+f3:145,en-us+m7:180"


@dataclass(frozen=True, slots=True)
class Voice:
    name: str  # espeak-ng voice, e.g. "en-us+m3"
    speed: int  # words per minute

    @property
    def label(self) -> str:
        return f"{self.name}:{self.speed}"


@dataclass(frozen=True, slots=True)
class Clip:
    samples: npt.NDArray[np.int16]  # mono at RATE
    eos_sample: int  # the sample after the last speech frame
    path: Path

    @property
    def duration_s(self) -> float:
        return len(self.samples) / RATE

    @property
    def eos_s(self) -> float:
        return self.eos_sample / RATE


def parse_voices(spec: str) -> list[Voice]:
    """``"en-us+m3:160,en+f3:145"`` → voices (speed defaults to 160 wpm)."""
    voices = []
    for part in spec.split(","):
        name, _, speed = part.strip().partition(":")
        if name:
            voices.append(Voice(name, int(speed) if speed else 160))
    if not voices:
        raise ValueError(f"no voice in {spec!r}")
    return voices


def check_voices(voices: list[Voice]) -> None:
    """Fail early on a voice espeak-ng does not have (it ignores unknown variants)."""
    listing = subprocess.run(
        ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
    ).stdout
    variants = {line.split()[4].removeprefix("!v/") for line in listing.splitlines()[1:] if line}
    for voice in voices:
        base, _, variant = voice.name.partition("+")
        if variant and variant not in variants:
            raise ValueError(f"espeak-ng has no voice variant {variant!r} ({voice.label})")
        probe = subprocess.run(
            ["espeak-ng", "-v", base, "-q", "x"], capture_output=True, text=True, check=False
        )
        if probe.returncode != 0:
            raise ValueError(f"espeak-ng has no voice {base!r}: {probe.stderr.strip()}")


def end_of_speech(samples: npt.NDArray[np.int16], rate: int = RATE, drop_db: float = 35.0) -> int:
    """Sample index just after the last 20 ms frame within ``drop_db`` of the loudest one."""
    step = rate * FRAME_MS // 1000
    n = len(samples) // step
    if n == 0:
        return 0
    frames = samples[: n * step].astype(np.float64).reshape(n, step)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-9))
    loud = np.nonzero(level >= level.max() - drop_db)[0]
    return int(loud[-1] + 1) * step


def clip_key(voice: Voice, text: str) -> str:
    raw = f"{voice.name}\0{voice.speed}\0{text}".encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def make_clip(voice: Voice, text: str, cache: Path) -> Clip:
    """The telephone clip of ``text`` in ``voice`` (made once, then read from the cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{clip_key(voice, text)}.wav"
    if not path.exists():
        with tempfile.TemporaryDirectory(prefix="cc-eval-clip-") as tmp:
            raw, out = Path(tmp) / "raw.wav", cache / f".{path.stem}.tmp.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice.name, "-s", str(voice.speed), "-w", str(raw), text],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                ["sox", str(raw), "-r", str(RATE), "-c", "1", "-e", "mu-law", str(out)],
                check=True,
                capture_output=True,
            )
            out.replace(path)
    audio = read_wav(path)
    if audio.sample_rate != RATE:
        raise ValueError(f"{path}: {audio.sample_rate} Hz, expected {RATE}")
    samples = audio.mono().astype(np.int16)
    return Clip(samples, end_of_speech(samples), path)
