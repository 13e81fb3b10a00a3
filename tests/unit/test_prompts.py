"""Fixed phrases as files FreeSWITCH plays: synthesized once, private to nobody but
readable by FreeSWITCH, and None (never an exception) when nothing can say them."""

from __future__ import annotations

import asyncio
import os
import stat
import wave
from pathlib import Path

from callcontrol.calls.base import SpokenPrompts
from callcontrol.prompts import PromptFiles
from tests.fakes.pipeline import FakeTTS


async def test_a_prompt_is_a_telephone_wav_fs_can_read_made_once(tmp_path: Path) -> None:
    tts = FakeTTS()
    prompts: SpokenPrompts = PromptFiles(lambda: tmp_path, lambda: tts)
    first, again = await asyncio.gather(
        prompts.prompt_file("This call is recorded."), prompts.prompt_file("This call is recorded.")
    )
    assert first is not None and first == again
    assert tts.phrases == [("This call is recorded.", 8000)]  # once, even asked twice at once
    path = Path(first)
    assert path.parent == tmp_path / "prompts"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        spoken = await FakeTTS().phrase("This call is recorded.", 8000)
        assert w.readframes(w.getnframes()) == spoken
    assert await prompts.prompt_file("This call is recorded.") == first
    assert len(tts.phrases) == 1
    # Another phrase, or the same in another language, is another file.
    other = await prompts.prompt_file("Calls are recorded.")
    korean = await prompts.prompt_file("This call is recorded.", "ko")
    assert len({first, other, korean}) == 3
    assert not list(tmp_path.glob("prompts/*.part"))


async def test_nothing_to_say_it_with_or_nowhere_to_put_it_is_none(tmp_path: Path) -> None:
    assert await PromptFiles(lambda: None, lambda: FakeTTS()).prompt_file("Hi there.") is None
    assert await PromptFiles(lambda: tmp_path, lambda: None).prompt_file("Hi there.") is None
    failing = FakeTTS(fail_on="recorded")
    said = await PromptFiles(lambda: tmp_path, lambda: failing).prompt_file("It is recorded.")
    assert said is None
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert await PromptFiles(lambda: blocked, lambda: FakeTTS()).prompt_file("Hi there.") is None
