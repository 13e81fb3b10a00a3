"""Fixed phrases as WAV files FreeSWITCH plays: the recording notice a caller hears
before they are put through to a person (no bot talks on such a call).

The bot's own voice (Piper) says the phrase at 8 kHz — the call is a telephone line —
into ``<calls.recordings_dir>/prompts/<hash>.wav``, the directory FreeSWITCH shares
with callcontrol (as the operator's briefing is). A phrase is synthesized once per
text, language and voice; an admin changing the notice gets a new file.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import structlog

from callcontrol.media.codecs import wav_bytes
from callcontrol.pipeline.base import TextToSpeech

log = structlog.get_logger(__name__)

PROMPTS = "prompts"
PROMPT_RATE = 8000


class PromptFiles:
    """:class:`~callcontrol.calls.base.SpokenPrompts` on the bot's loaded voice."""

    def __init__(
        self, directory: Callable[[], Path | None], tts: Callable[[], TextToSpeech | None]
    ) -> None:
        self._directory = directory
        self._tts = tts
        self._locks: dict[str, asyncio.Lock] = {}

    async def prompt_file(self, text: str, language: str | None = None) -> str | None:
        root = self._directory()
        tts = self._tts()
        if root is None:
            log.warning(
                "cannot say a prompt to the caller: no directory shared with FreeSWITCH",
                hint="set CALLCONTROL_CALLS__RECORDINGS_DIR",
            )
            return None
        if tts is None:
            log.warning("cannot say a prompt to the caller: the voice is not loaded")
            return None
        lang = language or "en"
        key = hashlib.sha256(f"{lang}\0{type(tts).__name__}\0{text}".encode()).hexdigest()[:24]
        path = root / PROMPTS / f"{key}.wav"
        async with self._locks.setdefault(key, asyncio.Lock()):
            if path.exists():
                return str(path)
            try:
                pcm = await tts.phrase(text, PROMPT_RATE, lang)
            except Exception as exc:  # noqa: BLE001 - the call goes on without the phrase
                log.warning("the voice cannot say a prompt", text=text, error=str(exc))
                return None
            if not pcm:
                log.warning("the voice said nothing for a prompt", text=text)
                return None
            data = wav_bytes(np.frombuffer(pcm, dtype="<i2").astype(np.int16), PROMPT_RATE)

            def write() -> None:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".part")
                partial.write_bytes(data)
                partial.chmod(0o644)  # FreeSWITCH reads it, maybe as another user
                partial.replace(path)

            try:
                await asyncio.to_thread(write)
            except OSError as exc:
                log.warning("cannot write a prompt for FreeSWITCH", path=str(path), error=str(exc))
                return None
        return str(path)
