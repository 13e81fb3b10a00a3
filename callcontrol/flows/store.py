"""Flows as stored: uploaded as YAML or JSON, validated before they are kept (every
problem reported at once), found by name for an owner (their own, else a shared one)."""

from __future__ import annotations

from sqlalchemy import or_, select

from callcontrol.flows.model import Flow, parse
from callcontrol.store.models import FlowDocument
from callcontrol.store.repos import Sessions


class FlowStore:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def save(
        self, text: str, *, owner: str = "", created_by: str | None = None
    ) -> FlowDocument:
        """Validate ``text`` (:class:`~callcontrol.flows.model.FlowError`) and keep it under
        its name for ``owner`` ("" for every owner), replacing one of that name."""
        flow = parse(text)
        async with self._sessions() as s:
            row = (
                await s.execute(
                    select(FlowDocument).where(
                        FlowDocument.owner == owner, FlowDocument.name == flow.name
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                row = FlowDocument(name=flow.name, owner=owner, created_by=created_by)
                s.add(row)
            row.document = text
            await s.commit()
            await s.refresh(row)
        return row

    async def get(self, flow_id: str) -> FlowDocument:
        async with self._sessions() as s:
            row = await s.get(FlowDocument, flow_id)
        if row is None:
            raise LookupError("no such flow")
        return row

    async def find(self, name: str, owner: str | None) -> FlowDocument | None:
        """The flow called ``name``: the owner's own, else the shared one."""
        async with self._sessions() as s:
            rows = list(
                (
                    await s.execute(
                        select(FlowDocument).where(
                            FlowDocument.name == name,
                            or_(FlowDocument.owner == (owner or ""), FlowDocument.owner == ""),
                        )
                    )
                ).scalars()
            )
        rows.sort(key=lambda r: r.owner == "")  # the owner's own first
        return rows[0] if rows else None

    async def all(self) -> list[FlowDocument]:
        async with self._sessions() as s:
            rows = await s.execute(select(FlowDocument).order_by(FlowDocument.name))
            return list(rows.scalars())

    async def delete(self, flow_id: str) -> bool:
        async with self._sessions() as s:
            row = await s.get(FlowDocument, flow_id)
            if row is None:
                return False
            await s.delete(row)
            await s.commit()
        return True

    @staticmethod
    def load(row: FlowDocument) -> Flow:
        return parse(row.document)
