"""The live side of the dialog's turns: each one published on its call's topic."""

from __future__ import annotations

from callcontrol.dialog.base import TurnRecord
from callcontrol.live.base import EventBus
from callcontrol.live.topics import call_topic


class TurnPublisher:
    """A :class:`~callcontrol.dialog.base.TurnSink` for the console's live call view."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def turn(self, record: TurnRecord) -> None:
        await self._bus.publish(call_topic(record.call_id), record.message())
