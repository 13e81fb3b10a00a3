"""The durable side of the dialog's turns: one ``turns`` row each, through the writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from callcontrol.dialog.base import TurnRecord
from callcontrol.store.models import new_id
from callcontrol.store.writer import Write


class TurnWriter:
    """A :class:`~callcontrol.dialog.base.TurnSink` that queues a ``turns`` row per turn
    (the writer batches, retries and survives a database outage)."""

    def __init__(self, submit: Callable[[Write], None]) -> None:
        self._submit = submit

    async def turn(self, record: TurnRecord) -> None:
        self._submit(Write.insert("turns", id=new_id(), **asdict(record)))
