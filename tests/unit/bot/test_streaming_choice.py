"""Whether a call's fork streams: configured, and the loaded mod_audio_fork able to.
The module is asked once (its usage text); one that cannot stream means file playback
and an error that says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from callcontrol.bot import BotManager
from callcontrol.calls.ops import ApiConnection
from callcontrol.config import Settings
from callcontrol.dialog.conversations import Conversations
from callcontrol.errors import EslNotConnectedError
from callcontrol.esl.commands import ApiReply
from callcontrol.metrics import Metrics

DRACHTIO = (
    "-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown ] "
    "[wss-url | path] [mono | mixed | stereo] [8000 | 16000 | 24000 | 32000 | 64000] "
    "[bugname] [metadata]\n"
)
JAMBONZ = DRACHTIO.replace("graceful-shutdown ]", "graceful-shutdown | stop_play ]").replace(
    "[metadata]",
    "[metadata] [bidirectionalAudio_enabled] [bidirectionalAudio_stream_enabled] "
    "[bidirectionalAudio_stream_samplerate]",
)


@pytest.fixture(autouse=True)
def fresh_bot_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """A logger first used under another test's configuration stays bound to it when
    ``configure_logging`` caches loggers (the CLI's tests do): give the module a fresh
    one, so ``capture_logs`` sees what it logs whatever ran before."""
    import structlog

    import callcontrol.bot as bot_module

    monkeypatch.setattr(bot_module, "log", structlog.get_logger("callcontrol.bot"))


class Commands:
    def __init__(self, usage: str | None) -> None:
        self.usage = usage
        self.asked: list[str] = []

    async def api(self, command: str, *, timeout: float | None = None) -> ApiReply:
        self.asked.append(command)
        if self.usage is None:
            raise EslNotConnectedError("not connected to FreeSWITCH")
        return ApiReply(command, self.usage)


_checked: ApiConnection = Commands(None)  # the fake satisfies the seam (mypy)


class Handle:
    def __init__(self, usage: str | None) -> None:
        self.commands = Commands(usage)


def manager(tmp_path: Path, playback: str) -> BotManager:
    settings = Settings(_env_file=None, data_dir=tmp_path, fork={"playback": playback})
    return BotManager(settings, Conversations(settings), metrics=Metrics(), submit=lambda w: None)


async def test_jambonz_module_streams_and_is_asked_once(tmp_path: Path) -> None:
    bot, handle = manager(tmp_path, "stream"), Handle(JAMBONZ)
    assert await bot._streaming(handle.commands)
    assert await bot._streaming(handle.commands)
    assert handle.commands.asked == ["uuid_audio_fork"]


async def test_drachtio_module_falls_back_to_files_with_an_error(tmp_path: Path) -> None:
    bot, handle = manager(tmp_path, "stream"), Handle(DRACHTIO)
    with capture_logs() as logs:
        assert not await bot._streaming(handle.commands)
    errors = [e for e in logs if e["log_level"] == "error"]
    assert errors and "cannot stream" in errors[0]["event"]


@pytest.mark.parametrize("usage", [JAMBONZ, None])
async def test_file_playback_never_asks(tmp_path: Path, usage: Any) -> None:
    bot, handle = manager(tmp_path, "file"), Handle(usage)
    assert not await bot._streaming(handle.commands)
    assert handle.commands.asked == []


async def test_an_unanswered_question_is_asked_again_at_the_next_call(tmp_path: Path) -> None:
    bot = manager(tmp_path, "stream")
    assert not await bot._streaming(Commands(None))
    assert await bot._streaming(Commands(JAMBONZ))


async def test_a_reconnection_asks_again(tmp_path: Path) -> None:
    """FreeSWITCH may come back with another module: each connection asks afresh."""
    bot = manager(tmp_path, "stream")
    assert await bot.check_streaming(Commands(JAMBONZ))
    assert not await bot.check_streaming(Commands(DRACHTIO))
    assert not await bot._streaming(Commands(JAMBONZ))  # cached until the next connection
