"""Durable, ordered, batched writes that survive a database outage.

Call control never waits for the database: it :meth:`~DurableWriter.submit`\\ s
:class:`Write` records and carries on. A task writes them in batches, one
transaction each. When the database is unreachable the batch — and every one
after it, so order is kept — is appended to a spool file on disk (fsynced); a
recovery task probes the database and replays the spool when it is back. Rows
carry their own primary keys and are written with ``ON CONFLICT DO NOTHING``
(inserts) or ``DO UPDATE`` (snapshots), so a replay never duplicates anything.
A record the database rejects for a reason other than an outage goes to a
dead-letter file with the error, never silently away.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog
from sqlalchemy import DateTime, Table, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from callcontrol.aio import TaskOwner
from callcontrol.store.models import Base

log = structlog.get_logger(__name__)

Op = Literal["insert", "upsert", "patch"]

_TABLES: dict[str, Table] = {t.name: t for t in Base.metadata.sorted_tables}
_DATETIME_COLS: dict[str, frozenset[str]] = {
    name: frozenset(c.name for c in t.columns if isinstance(c.type, DateTime))
    for name, t in _TABLES.items()
}
_OUTAGE = (OperationalError, InterfaceError, OSError, ConnectionError, TimeoutError)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class Write:
    """One row to insert (first write wins), upsert (a full snapshot; last wins) or
    patch (only the given columns of an existing row; nothing if it does not exist)."""

    op: Op
    table: str
    row: dict[str, Any]

    @classmethod
    def insert(cls, table: str, **row: Any) -> Write:
        return cls._make("insert", table, row)

    @classmethod
    def upsert(cls, table: str, **row: Any) -> Write:
        return cls._make("upsert", table, row)

    @classmethod
    def patch(cls, table: str, **row: Any) -> Write:
        """Change only these columns of the row with this primary key."""
        return cls._make("patch", table, row)

    @classmethod
    def _make(cls, op: Op, table: str, row: dict[str, Any]) -> Write:
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")
        columns = {c.name for c in _TABLES[table].columns}
        unknown = set(row) - columns
        if unknown:
            raise ValueError(f"{table} has no column(s) {sorted(unknown)}")
        return cls(op, table, {k: _jsonable(v) for k, v in row.items()})

    def to_json(self) -> str:
        return json.dumps({"op": self.op, "table": self.table, "row": self.row}, default=str)

    @classmethod
    def from_json(cls, line: str) -> Write:
        data = json.loads(line)
        return cls(data["op"], data["table"], data["row"])

    def db_row(self) -> dict[str, Any]:
        cols = _DATETIME_COLS[self.table]
        return {
            k: datetime.fromisoformat(v) if k in cols and isinstance(v, str) else v
            for k, v in self.row.items()
        }

    @property
    def key(self) -> tuple[str, Any]:
        pk = _TABLES[self.table].primary_key.columns.values()[0].name
        return (self.table, self.row.get(pk))


class WriteSink(Protocol):
    """Anything that takes writes without blocking (the writer, or its threaded wrapper)."""

    def submit(self, write: Write) -> None: ...


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unreachable (not a bad statement)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, _OUTAGE):
        return True
    return "connection" in str(exc).lower() and isinstance(exc, DBAPIError)


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dead: int = 0
    outages: int = 0
    down_since: float | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "written": self.written,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "dead": self.dead,
            "outages": self.outages,
            "down": self.down_since is not None,
            "last_error": self.last_error,
        }


@dataclass(slots=True)
class _Flush:
    done: asyncio.Event = field(default_factory=asyncio.Event)


class DurableWriter:
    """Writes :class:`Write` records in order; spools to disk while the database is down."""

    def __init__(
        self,
        engine: AsyncEngine,
        spool_dir: Path,
        *,
        batch_size: int = 500,
        retry_initial: float = 0.5,
        retry_max: float = 15.0,
    ) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._spool_dir = spool_dir
        self._spool = spool_dir / "spool.jsonl"
        self._dead = spool_dir / "dead-letter.jsonl"
        self._batch_size = batch_size
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._queue: asyncio.Queue[Write | _Flush] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._down = asyncio.Event()
        self._tasks = TaskOwner("store")
        self.stats = WriterStats()

    @property
    def healthy(self) -> bool:
        return not self._down.is_set()

    @property
    def spool_path(self) -> Path:
        return self._spool

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        if self._spool.exists() and self._spool.stat().st_size:
            log.warning("replaying writes spooled before the last stop", spool=str(self._spool))
            self._mark_down("spool not empty at start")
        self._tasks.spawn(self._write_loop(), "writer")
        self._tasks.spawn(self._recover_loop(), "recovery")

    async def stop(self, timeout: float = 10.0) -> None:
        """Flush what was submitted (to the database or the spool), then stop."""
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.error("store writer did not drain in time; the rest stays queued in memory")
        await self._tasks.cancel_all()

    def submit(self, write: Write) -> None:
        """Queue a write. Never blocks and never raises."""
        self._queue.put_nowait(write)

    def submit_many(self, writes: Sequence[Write]) -> None:
        for write in writes:
            self._queue.put_nowait(write)

    async def flush(self) -> None:
        """Wait until everything submitted so far is in the database or the spool."""
        marker = _Flush()
        self._queue.put_nowait(marker)
        await marker.done.wait()

    async def wait_healthy(self, timeout: float) -> None:
        """Wait until the database is up and the spool has been replayed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._down.is_set():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("database still down")
            await asyncio.sleep(0.05)

    # -- the writing loop -------------------------------------------------------------
    async def _next_batch(self) -> tuple[list[Write], list[_Flush]]:
        first = await self._queue.get()
        items: list[Write | _Flush] = [first]
        while len(items) < self._batch_size and not self._queue.empty():
            items.append(self._queue.get_nowait())
        writes = [i for i in items if isinstance(i, Write)]
        flushes = [i for i in items if isinstance(i, _Flush)]
        return writes, flushes

    async def _write_loop(self) -> None:
        while True:
            writes, flushes = await self._next_batch()
            if writes:
                async with self._lock:
                    await self._handle(writes)
            for marker in flushes:
                marker.done.set()

    async def _handle(self, writes: list[Write]) -> None:
        if self._down.is_set():
            await self._append_spool(writes)
            return
        try:
            await self._write(writes)
            self.stats.written += len(writes)
        except Exception as exc:  # noqa: BLE001 - classified below
            if is_outage(exc):
                self._mark_down(str(exc))
                await self._append_spool(writes)
            else:
                await self._isolate(writes, exc)

    def _mark_down(self, error: str) -> None:
        if not self._down.is_set():
            self.stats.outages += 1
            self.stats.down_since = asyncio.get_running_loop().time()
            log.error("database unreachable; spooling writes to disk", error=error[:300])
        self.stats.last_error = error[:300]
        self._down.set()

    async def _write(self, writes: Sequence[Write]) -> None:
        groups: dict[tuple[Op, str], dict[Any, Write] | list[Write]] = {}
        for write in writes:
            key = (write.op, write.table)
            if write.op == "upsert":
                merged = groups.setdefault(key, {})
                assert isinstance(merged, dict)
                previous = merged.pop(write.key, None)
                row = {**previous.row, **write.row} if previous else write.row
                merged[write.key] = Write(write.op, write.table, row)
            else:
                plain = groups.setdefault(key, [])
                assert isinstance(plain, list)
                plain.append(write)
        async with self._engine.begin() as conn:
            for (op, table_name), group in groups.items():
                items = list(group.values()) if isinstance(group, dict) else group
                if op == "patch":  # in order, one statement each: few, and never batched
                    table = _TABLES[table_name]
                    pk = table.primary_key.columns.values()[0]
                    for item in items:
                        row = item.db_row()
                        values = {k: v for k, v in row.items() if k != pk.name}
                        await conn.execute(update(table).where(pk == row[pk.name]).values(**values))
                    continue
                by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                for item in items:
                    row = item.db_row()
                    by_columns.setdefault(tuple(sorted(row)), []).append(row)
                for columns, rows in by_columns.items():
                    await conn.execute(self._statement(op, table_name, columns), rows)

    def _statement(self, op: Op, table_name: str, columns: tuple[str, ...]) -> Any:
        table = _TABLES[table_name]
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(table)
        pk = [c.name for c in table.primary_key.columns]
        if op == "insert":
            return stmt.on_conflict_do_nothing()
        updates = {c: stmt.excluded[c] for c in columns if c not in pk}
        if not updates:
            return stmt.on_conflict_do_nothing()
        return stmt.on_conflict_do_update(index_elements=pk, set_=updates)

    async def _isolate(self, writes: list[Write], exc: BaseException) -> None:
        """A batch was refused: write records one by one, dead-letter the bad ones."""
        log.warning("batch refused; retrying its writes one by one", error=str(exc)[:300])
        for write in writes:
            try:
                await self._write([write])
                self.stats.written += 1
            except Exception as one:  # noqa: BLE001 - recorded in the dead-letter file
                if is_outage(one):
                    self._mark_down(str(one))
                    await self._append_spool([write])
                    continue
                self.stats.dead += 1
                log.error(
                    "write refused by the database; kept in the dead-letter file",
                    table=write.table,
                    error=str(one)[:300],
                    file=str(self._dead),
                )
                line = json.dumps({"error": str(one)[:1000], "write": json.loads(write.to_json())})
                await asyncio.to_thread(_append_lines, self._dead, [line])

    # -- spool ------------------------------------------------------------------------
    async def _append_spool(self, writes: Sequence[Write]) -> None:
        lines = [w.to_json() for w in writes]
        await asyncio.to_thread(_append_lines, self._spool, lines)
        self.stats.spooled += len(lines)

    async def _recover_loop(self) -> None:
        delay = self._retry_initial
        while True:
            await self._down.wait()
            await asyncio.sleep(delay)
            try:
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except Exception as exc:  # noqa: BLE001 - still down
                self.stats.last_error = str(exc)[:300]
                delay = min(delay * 2, self._retry_max)
                continue
            async with self._lock:
                if await self._replay():
                    delay = self._retry_initial
                    self._down.clear()
                    self.stats.down_since = None
                    log.info("database is back; spooled writes replayed")
                else:
                    delay = min(delay * 2, self._retry_max)

    async def _replay(self) -> bool:
        if not self._spool.exists():
            return True
        lines = await asyncio.to_thread(self._spool.read_text, "utf-8")
        writes = []
        for number, line in enumerate(lines.splitlines(), 1):
            if not line.strip():
                continue
            try:
                writes.append(Write.from_json(line))
            except (ValueError, KeyError) as exc:
                log.error("unreadable spool line kept aside", line=number, error=str(exc))
                await asyncio.to_thread(_append_lines, self._dead, [line])
        for start in range(0, len(writes), self._batch_size):
            chunk = writes[start : start + self._batch_size]
            try:
                await self._write(chunk)
            except Exception as exc:  # noqa: BLE001 - classified
                if is_outage(exc):
                    self.stats.last_error = str(exc)[:300]
                    # Keep only what is not written yet, so a later replay resumes there.
                    rest = [w.to_json() for w in writes[start:]]
                    await asyncio.to_thread(_rewrite, self._spool, rest)
                    return False
                await self._isolate(chunk, exc)
            self.stats.replayed += len(chunk)
        await asyncio.to_thread(self._spool.unlink, True)
        return True


def _append_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())


def _rewrite(path: Path, lines: Sequence[str]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
