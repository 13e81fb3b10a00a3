"""The HITL desk: questions from the bot to the operators, across workers.

:meth:`Desk.ask` (dialog side, on the worker that runs the call) and
:meth:`Desk.answer` (console side, on whichever worker serves the operator) meet
only on the bus and in live state, never in memory, so they work the same in one
process and across workers sharing Redis:

1. ``ask`` looks at who could answer: operators whose console page is open
   (``presence``) and whose status (live-state ``operators`` namespace) is
   ``available`` — or ``busy``: a question arriving while every such operator is busy
   waits in the queue for the first one to get to it, up to the same timeout. Nobody
   available or busy (everyone ``away``/``offline``, or no console open): the request
   is written ``unresolved`` (outcome ``unavailable``), ``ask`` returns at once and
   the caller hears the away message.
2. Otherwise the request is written ``waiting``, put in the ``hitl`` namespace (the
   console's queue, oldest first: its position is its place in the line) and
   published on ``hitl``; ``ask`` waits for an answer.
3. An operator's answer travels on ``hitl.answer``. The asking desk is the only
   authority over its request: the first answer wins and is confirmed by a ``hitl``
   publication of the answered row (``answer`` waits for it); a late one is told the
   final state the same way. Timeout and cancellation (the caller hung up) end it
   ``unresolved`` with outcome ``timeout``/``cancelled``: the follow-up list.

Rows go through the service's durable writer (the call path never waits for the
database).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.hitl.base import HitlOutcome, HitlQuestion, Status
from callcontrol.live import topics
from callcontrol.live.base import EventBus, LiveState, Message, Subscription
from callcontrol.media.codecs import Int16Array, wav_bytes
from callcontrol.metrics import Metrics
from callcontrol.store.db import private_dir
from callcontrol.store.models import new_id
from callcontrol.store.writer import Write, WriteSink

log = structlog.get_logger(__name__)

HITL_NS = "hitl"
# Admin changes from the console ({"key", "value"}; see console/overrides.py).
SETTINGS_TOPIC = topics.SETTINGS
TIMEOUT_KEY = "console.hitl_timeout_s"
OPERATORS_NS = "operators"
PRESENCE_NS = "presence"
MAX_ANSWER_CHARS = 4000
_RECENT_MAX = 500

AnswerStatus = Literal["answered", "conflict", "gone", "unconfirmed"]


@dataclass(frozen=True, slots=True)
class AnswerResult:
    """What became of an operator's answer.

    ``answered``: it reached the caller's desk and won; ``conflict``: the request was
    already answered or ended (``row`` says how); ``gone``: no such waiting request;
    ``unconfirmed``: sent, but the asking worker did not confirm in time.
    """

    status: AnswerStatus
    row: Message | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Desk:
    """:class:`~callcontrol.hitl.base.HitlDesk` over the event bus and live state."""

    def __init__(
        self,
        writer: WriteSink,
        *,
        metrics: Metrics,
        worker_id: str,
        timeout_s: float,
        presence_timeout_s: float = 60.0,
        overrides: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        voicemail_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._writer = writer
        self.voicemail_dir = voicemail_dir
        self._metrics = metrics
        self.worker_id = worker_id
        self.configured_timeout_s = timeout_s
        self.timeout_s = timeout_s
        self._overrides = overrides
        # Told "hitl.requested" / "hitl.resolved" with the row (the service's webhooks).
        self.on_event: Callable[[str, Message], None] | None = None
        self.presence_timeout_s = presence_timeout_s
        self._clock = clock
        self._bus: EventBus | None = None
        self._live: LiveState | None = None
        self._waiting: dict[str, asyncio.Future[tuple[str, str, str | None]]] = {}
        self._rows: dict[str, Message] = {}
        self._recent: OrderedDict[str, Message] = OrderedDict()
        self._stack = AsyncExitStack()
        self._tasks = TaskOwner("hitl")

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, bus: EventBus, live: LiveState) -> None:
        """Listen for answers; clear queue entries this worker left behind when it stopped."""
        self._bus, self._live = bus, live
        subscription = await self._stack.enter_async_context(
            bus.subscribe(topics.HITL_ANSWER, SETTINGS_TOPIC)
        )
        self._tasks.spawn(self._listen(subscription), "answers")
        if self._overrides is not None:
            try:
                self._apply_setting((await self._overrides()).get(TIMEOUT_KEY))
            except Exception as exc:  # noqa: BLE001 - keep the configured value
                log.warning("cannot read setting overrides", error=str(exc))
        await self._sweep_stale()

    def _apply_setting(self, value: object) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            self.timeout_s = float(value)
        else:
            self.timeout_s = self.configured_timeout_s

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        await self._stack.aclose()

    @property
    def waiting_count(self) -> int:
        return len(self._waiting)

    def _require(self) -> tuple[EventBus, LiveState]:
        if self._bus is None or self._live is None:
            raise RuntimeError("the HITL desk is not started")
        return self._bus, self._live

    # -- availability -------------------------------------------------------------------
    async def operators_by_status(self) -> dict[str, list[Message]]:
        """Operators whose console is open, by status."""
        _, live = self._require()
        operators = await live.all(OPERATORS_NS)
        presence = await live.all(PRESENCE_NS)
        now = self._clock()
        out: dict[str, list[Message]] = {}
        for op_id, op in operators.items():
            seen = presence.get(op_id, {}).get("seen_at")
            if isinstance(seen, int | float) and now - seen <= self.presence_timeout_s:
                out.setdefault(str(op.get("status")), []).append(op)
        return out

    async def available_operators(self) -> list[Message]:
        """Operators whose status is ``available`` and whose console is open."""
        return (await self.operators_by_status()).get("available", [])

    # -- the dialog side ----------------------------------------------------------------
    def notify(self, event: str, row: Message) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event, row)
        except Exception as exc:  # noqa: BLE001 - a webhook never stops the desk
            log.warning("cannot queue a hitl webhook", error=str(exc))

    def _new_row(self, question: HitlQuestion, created: datetime) -> Message:
        return {
            "id": new_id(),
            "call_id": question.call_id,
            "owner": question.owner,
            "caller_number": question.caller_number,
            "reason": question.reason,
            "question": question.question,
            "context": {
                "recent_turns": list(question.recent_turns),
                "retrieval": list(question.retrieval),
                "worker": self.worker_id,
            },
            "status": "waiting",
            "outcome": None,
            "operator_id": None,
            "operator": None,
            "answer": None,
            "created_at": created.isoformat(),
            "answered_at": None,
        }

    async def record_phone(
        self,
        question: HitlQuestion,
        *,
        operator: str,
        operator_id: str | None,
        asked_at: datetime,
    ) -> str:
        """Keep a caller put through to an operator's phone as an answered request
        (outcome ``phone``): it counts in the desk's figures and the call's history like
        a typed answer, with the time the phone rang as the time to answer."""
        self._require()
        row = self._new_row(question, asked_at)
        row.update(
            status="answered",
            outcome="phone",
            operator=operator,
            operator_id=operator_id,
            answered_at=datetime.now(UTC).isoformat(),
        )
        self._write(row, insert=True)
        self._remember(row)
        await self._announce(row)
        self.notify("hitl.requested", row)
        self.notify("hitl.resolved", row)
        self._metrics.hitl_requests.labels("phone").inc()
        log.info("hitl request put through by phone", request=row["id"], operator=operator)
        return str(row["id"])

    async def ask(self, question: HitlQuestion) -> HitlOutcome:
        bus, live = self._require()
        created = datetime.now(UTC)
        row = self._new_row(question, created)
        request_id = row["id"]
        try:
            reachable = await self.operators_by_status()
        except Exception as exc:  # noqa: BLE001 - no live state: nobody can be reached
            log.warning("cannot read operator availability", error=str(exc))
            reachable = {}
        available, busy = reachable.get("available", []), reachable.get("busy", [])
        row["context"]["queued_behind_busy"] = bool(busy) and not available
        if not available and not busy:
            row.update(status="unresolved", outcome="unavailable")
            self._write(row, insert=True)
            self.notify("hitl.requested", row)
            self._remember(row)  # a voicemail may be attached to it next
            await self._announce(row)
            self._metrics.hitl_requests.labels("unavailable").inc()
            log.info("hitl request with nobody available", request=request_id, call=row["call_id"])
            return HitlOutcome("unavailable", request_id)

        future: asyncio.Future[tuple[str, str, str | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting[request_id] = future
        self._rows[request_id] = row
        self._metrics.hitl_queue.set(len(self._waiting))
        self._write(row, insert=True)
        self.notify("hitl.requested", row)
        status: Status = "cancelled"
        try:
            try:
                await live.put(HITL_NS, request_id, row)
            except Exception as exc:  # noqa: BLE001 - the bus still carries it
                log.warning("cannot queue hitl request in live state", error=str(exc))
            await self._announce(row)
            log.info(
                "hitl request waiting",
                request=request_id,
                call=row["call_id"],
                available=len(available),
                busy=len(busy),
            )
            try:
                answer, operator, operator_id = await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                status = "timeout"
                return HitlOutcome("timeout", request_id)
            status = "answered"
            answered = datetime.now(UTC)
            row.update(
                status="answered",
                outcome="answered",
                answer=answer,
                operator=operator,
                operator_id=operator_id,
                answered_at=answered.isoformat(),
            )
            self._metrics.hitl_answer_seconds.observe((answered - created).total_seconds())
            self.notify("hitl.resolved", row)
            return HitlOutcome("answered", request_id, answer=answer, operator=operator)
        finally:
            self._waiting.pop(request_id, None)
            self._rows.pop(request_id, None)
            self._metrics.hitl_queue.set(len(self._waiting))
            if status != "answered":
                row.update(status="unresolved", outcome=status)
            self._metrics.hitl_requests.labels(status).inc()
            await self._finish(row)

    async def _finish(self, row: Message) -> None:
        """Record and announce how a waiting request ended (also when being cancelled)."""
        self._write(row, insert=False)
        self._remember(row)
        bus, live = self._require()
        try:
            await live.delete(HITL_NS, row["id"])
        except Exception as exc:  # noqa: BLE001 - live state is best effort; the row is durable
            log.warning("cannot remove hitl request from live state", error=str(exc))
        await self._announce(row)
        log.info(
            "hitl request ended",
            request=row["id"],
            call=row["call_id"],
            outcome=row["outcome"],
            operator=row.get("operator"),
        )

    async def attach_voicemail(
        self,
        request_id: str,
        audio: Int16Array,
        sample_rate: int,
        transcribe: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        """Write the message to ``<voicemail_dir>/YYYY/MM/DD/<request>.wav`` (private to
        the service user) and link it to the request now; transcribe it in this desk's
        own task (it outlives the call) and add the text when there is some.

        Only the voicemail columns are changed: an operator may already be working on
        the follow-up."""
        if self.voicemail_dir is None:
            raise RuntimeError("no voicemail directory configured")
        now = datetime.now(UTC)
        relative = Path(f"{now:%Y/%m/%d}") / f"{Path(request_id).name}.wav"
        target = self.voicemail_dir / relative
        folder = self.voicemail_dir
        data = wav_bytes(audio, sample_rate)

        def write() -> None:
            for parent in reversed(target.parents):
                if parent == folder or folder in parent.parents:
                    private_dir(parent)
            target.write_bytes(data)
            target.chmod(0o600)

        await asyncio.to_thread(write)
        seconds = round(len(audio) / sample_rate, 1)
        log.info("voicemail written", request=request_id, path=str(target), seconds=seconds)
        self._patch(request_id, voicemail_path=str(relative))
        await self._announce_voicemail(request_id, voicemail=True)
        if transcribe is not None:
            self._tasks.spawn(self._transcribe(request_id, transcribe), f"voicemail-{request_id}")

    async def _transcribe(self, request_id: str, transcribe: Callable[[], Awaitable[str]]) -> None:
        try:
            text = (await transcribe()).strip()
        except Exception as exc:  # noqa: BLE001 - the audio is kept; only the text is missing
            log.warning("cannot transcribe the voicemail", request=request_id, error=str(exc))
            return
        self._patch(request_id, voicemail_transcript=text)
        await self._announce_voicemail(request_id, voicemail_transcript=text)
        log.info("voicemail transcribed", request=request_id, words=len(text.split()))

    def _patch(self, request_id: str, **columns: Any) -> None:
        self._writer.submit(
            Write.patch("hitl_requests", id=request_id, updated_at=datetime.now(UTC), **columns)
        )

    async def _announce_voicemail(self, request_id: str, **change: Any) -> None:
        row = self._recent.get(request_id)
        if row is not None:
            row.update(change)
            await self._announce(row)

    def _remember(self, row: Message) -> None:
        self._recent[row["id"]] = row
        while len(self._recent) > _RECENT_MAX:
            self._recent.popitem(last=False)

    def _write(self, row: Message, *, insert: bool) -> None:
        """The whole row: an upsert must carry the NOT NULL columns even when the row
        exists (databases check them before resolving the conflict). Operators' own
        columns (notes, follow-up) are never part of it, so they are never overwritten."""
        columns: dict[str, Any] = {
            "id": row["id"],
            "call_id": row["call_id"],
            "owner": row.get("owner"),
            "caller_number": row.get("caller_number"),
            "reason": row["reason"],
            "question": row["question"],
            "context": row.get("context") or {},
            "created_at": row["created_at"],
            "status": row["status"],
            "outcome": row.get("outcome"),
            "operator_id": row.get("operator_id"),
            "answer": row.get("answer"),
            "answered_at": row.get("answered_at"),
            "updated_at": datetime.now(UTC),
        }
        make = Write.insert if insert else Write.upsert
        self._writer.submit(make("hitl_requests", **columns))

    async def _announce(self, row: Message) -> None:
        bus, _ = self._require()
        try:
            await bus.publish(topics.HITL, row)
            await bus.publish(
                topics.call_topic(row["call_id"]),
                {
                    "type": "hitl",
                    "request_id": row["id"],
                    "status": row["status"],
                    "outcome": row["outcome"],
                    "question": row["question"],
                    "answer": row.get("answer"),
                    "operator": row["operator"],
                },
            )
        except Exception as exc:  # noqa: BLE001 - the live view is best effort
            log.warning("cannot publish hitl update", request=row["id"], error=str(exc))

    # -- answers from the bus -----------------------------------------------------------
    async def _listen(self, subscription: Subscription) -> None:
        async for topic, message in subscription:
            try:
                if topic == SETTINGS_TOPIC:
                    if message.get("key") == TIMEOUT_KEY and not message.get("owner"):
                        self._apply_setting(message.get("value"))
                    continue
                await self._on_answer(message)
            except Exception:
                log.exception("bad hitl.answer message")

    async def _on_answer(self, message: Message) -> None:
        request_id = message.get("request_id")
        answer = message.get("answer")
        operator = message.get("operator")
        if not isinstance(request_id, str) or not isinstance(answer, str):
            log.warning("ignoring malformed hitl.answer")
            return
        future = self._waiting.get(request_id)
        if future is not None and not future.done():
            operator_id = message.get("operator_id")
            future.set_result(
                (
                    answer[:MAX_ANSWER_CHARS],
                    str(operator or "operator"),
                    operator_id if isinstance(operator_id, str) else None,
                )
            )
            return
        # Already decided here (answered by someone else, timed out…): say so again so
        # the late operator's console learns the outcome instead of waiting.
        row = self._recent.get(request_id) or self._rows.get(request_id)
        if row is not None:
            await self._announce(row)

    # -- the console side ---------------------------------------------------------------
    async def waiting(self) -> list[Message]:
        """Every worker's waiting requests, oldest first."""
        _, live = self._require()
        rows = list((await live.all(HITL_NS)).values())
        return sorted(rows, key=lambda r: str(r.get("created_at", "")))

    async def answer(
        self,
        request_id: str,
        answer: str,
        *,
        operator: str,
        operator_id: str | None = None,
        confirm_timeout: float = 5.0,
    ) -> AnswerResult:
        """Send an operator's answer to the desk that asked, and wait for its verdict."""
        bus, live = self._require()
        text = answer.strip()
        if not text:
            raise ValueError("the answer is empty")
        if len(text) > MAX_ANSWER_CHARS:
            raise ValueError(f"the answer is longer than {MAX_ANSWER_CHARS} characters")
        if await live.get(HITL_NS, request_id) is None:
            return AnswerResult("gone")
        message = {
            "request_id": request_id,
            "answer": text,
            "operator": operator,
            "operator_id": operator_id,
        }
        async with bus.subscribe(topics.HITL) as updates:
            await bus.publish(topics.HITL_ANSWER, message)
            try:
                async with asyncio.timeout(confirm_timeout):
                    async for _topic, row in updates:
                        if row.get("id") != request_id or row.get("status") == "waiting":
                            continue
                        mine = row.get("outcome") == "answered" and (
                            row.get("operator") == operator and row.get("answer") == text
                        )
                        return AnswerResult("answered" if mine else "conflict", row)
            except TimeoutError:
                pass
        return AnswerResult("unconfirmed")

    async def _sweep_stale(self) -> None:
        """Drop queue entries nobody can answer any more.

        Those of this worker from before a restart, and anyone's older than twice the
        timeout (their worker died without cleaning up).
        """
        _, live = self._require()
        try:
            rows = await live.all(HITL_NS)
        except Exception as exc:  # noqa: BLE001 - without live state the queue shows from the database
            log.warning("cannot read live hitl queue", error=str(exc))
            return
        now = datetime.now(UTC)
        for request_id, row in rows.items():
            if request_id in self._waiting:
                continue
            mine = row.get("context", {}).get("worker") == self.worker_id
            try:
                age = (now - datetime.fromisoformat(str(row.get("created_at")))).total_seconds()
            except ValueError:
                age = float("inf")
            if mine or age > 2 * self.timeout_s + 60:
                row.update(status="unresolved", outcome="cancelled")
                await self._finish(row)
