"""Webhooks end to end: calls through the emulator, a local receiver that checks each
signature, goes down for a while, and the worker restarting in between — every event
arrives once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcontrol.hitl.base import HitlQuestion
from callcontrol.store.models import Webhook, WebhookDelivery
from callcontrol.webhooks import SIGNATURE, TIMESTAMP, sign, verify
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import RecordingHandover, eventually, make_settings, running_service

pytestmark = pytest.mark.integration

SECRET = "test-webhook-secret"


@pytest.fixture(autouse=True)
def info_logs() -> Iterator[None]:
    """The dispatcher's own log lines run (a keyword clash with structlog's ``event``
    broke every delivery, hidden whenever an earlier test had set a higher level); the
    logging configuration is given back afterwards (later tests capture logs)."""
    import structlog

    from callcontrol.logs import configure_logging

    saved = structlog.get_config()
    configure_logging("INFO")
    yield
    structlog.configure(**saved)


@dataclass
class Receiver:
    """A minimal HTTP/1.1 endpoint: records each POST; can be stopped and started again
    on the same port, or answer 500 for a while."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    failing: bool = False
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if self.failing:
                writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                ok = verify(
                    SECRET,
                    headers.get(TIMESTAMP.lower(), ""),
                    body,
                    headers.get(SIGNATURE.lower(), ""),
                )
                if not ok:
                    self.bad_signatures += 1
                self.received.append(
                    {
                        "delivery": headers.get("x-callcontrol-delivery"),
                        "event": headers.get("x-callcontrol-event"),
                        "body": json.loads(body),
                    }
                )
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    def events(self, call_id: str, *, calls_only: bool = True) -> list[str]:
        """The events about ``call_id``, in arrival order (``call.summary_ready`` comes
        from a later job: left out unless ``calls_only`` is false)."""
        return [
            r["event"]
            for r in self.received
            if r["body"]["call_id"] == call_id and (not calls_only or r["event"] in CALL_EVENTS)
        ]


def settings_for(tmp_path: Path, esl_port: int) -> Any:
    return make_settings(
        tmp_path,
        esl_port=esl_port,
        webhooks={"backoff_s": 0.2, "max_backoff_s": 0.5, "poll_s": 0.1, "max_attempts": 50},
    )


async def add_hook(service: Any, url: str, owner: str | None, events: list[str]) -> None:
    async with service.sessions() as s:
        s.add(Webhook(owner=owner, url=url, secret=SECRET, events=events))
        await s.commit()
    await service.webhooks.reload()


async def one_call(
    sw: FakeFreeSwitch, service: Any, handover: RecordingHandover, owner: str
) -> str:
    before = len(handover.handles)
    uuid = await sw.inbound_call(
        destination="5000", variables={"callcontrol_action": "bot", "callcontrol_owner": owner}
    )
    await handover.wait(before + 1)
    await sw.far_end_hangup(uuid)
    await service.controller.wait_finished(uuid, 5)
    return uuid


CALL_EVENTS = ["call.started", "call.answered", "call.ai_activated", "call.ended"]


async def test_every_event_arrives_once_signed_even_after_the_receiver_was_down(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    other = Receiver()
    await other.start()
    handover = RecordingHandover()
    try:
        async with running_service(
            settings_for(tmp_path, fake_switch.esl_port), handover=handover
        ) as service:
            await add_hook(service, receiver.url, "acme", [])
            await add_hook(service, other.url, "globex", [])  # another owner's
            first = await one_call(fake_switch, service, handover, "acme")
            await eventually(lambda: len(receiver.events(first)) == 4, timeout=20)
            assert receiver.events(first) == CALL_EVENTS
            ended = next(r for r in receiver.received if r["event"] == "call.ended")
            assert ended["body"]["owner"] == "acme"
            assert ended["body"]["data"]["cdr"]["call_id"] == first
            assert ended["body"]["data"]["cdr"]["handled_by"] == "bot"
            # HITL events too.
            await service.desk.ask(
                HitlQuestion(call_id=first, question="Refund?", reason="sensitive", owner="acme")
            )
            await eventually(
                lambda: "hitl.requested" in receiver.events(first, calls_only=False), timeout=10
            )
            # After the call, its summary (from its live turns: it was not recorded).
            await eventually(
                lambda: "call.summary_ready" in receiver.events(first, calls_only=False),
                timeout=30,
            )
            summary = next(r for r in receiver.received if r["event"] == "call.summary_ready")
            assert summary["body"]["call_id"] == first and "summary" in summary["body"]["data"]

            # The receiver goes down; a call meanwhile is retried, not lost.
            await receiver.stop()
            second = await one_call(fake_switch, service, handover, "acme")
            await service.flush()

            async def retried() -> bool:
                async with service.sessions() as s:
                    rows = (
                        await s.execute(
                            select(WebhookDelivery).where(WebhookDelivery.call_id == second)
                        )
                    ).scalars()
                    return any(r.attempts >= 2 and r.last_error for r in rows)

            await eventually(retried, timeout=10)
        # The worker stops while the receiver is still down: the outbox is in the database.
        await receiver.start()
        async with running_service(
            settings_for(tmp_path, fake_switch.esl_port), handover=RecordingHandover()
        ):
            await eventually(lambda: len(receiver.events(second)) == 4, timeout=30)
        # Retried after the outage, each at its own time: all there, in any order.
        assert sorted(receiver.events(second)) == sorted(CALL_EVENTS)
        deliveries = Counter(r["delivery"] for r in receiver.received)
        assert max(deliveries.values()) == 1  # nothing twice
        assert receiver.bad_signatures == 0
        assert other.received == []  # globex's hook heard nothing of acme's calls
    finally:
        await receiver.stop()
        await other.stop()


async def test_a_failing_receiver_is_retried_then_given_up_and_can_be_sent_again(
    fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    receiver = Receiver(failing=True)
    await receiver.start()
    handover = RecordingHandover()
    settings = make_settings(
        tmp_path,
        esl_port=fake_switch.esl_port,
        webhooks={"backoff_s": 0.1, "max_backoff_s": 0.2, "poll_s": 0.1, "max_attempts": 3},
    )
    try:
        async with running_service(settings, handover=handover) as service:
            await add_hook(service, receiver.url, None, ["call.ended"])
            uuid = await one_call(fake_switch, service, handover, "acme")

            async def failed() -> WebhookDelivery | None:
                async with service.sessions() as s:
                    row = (
                        await s.execute(
                            select(WebhookDelivery).where(WebhookDelivery.call_id == uuid)
                        )
                    ).scalar_one_or_none()
                return row if row is not None and row.status == "failed" else None

            row = await eventually(failed, timeout=10)
            assert row.attempts == 3 and row.last_status == 500
            assert receiver.received == []
            receiver.failing = False
            assert await service.webhooks.resend(row.id)
            await eventually(lambda: receiver.events(uuid) == ["call.ended"], timeout=10)
    finally:
        await receiver.stop()


def test_signatures_match_the_documented_recipe() -> None:
    """The README's verification snippet computes the same thing."""
    import hashlib
    import hmac
    import time

    body = b'{"event":"call.ended"}'
    ts = int(time.time())
    expected = (
        "sha256=" + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    )
    assert sign(SECRET, ts, body) == expected
    assert verify(SECRET, str(ts), body, expected)
    assert not verify(SECRET, str(ts), body + b" ", expected)  # the body changed
    assert not verify(SECRET, str(ts - 3600), body, sign(SECRET, ts - 3600, body))  # replayed
    assert not verify("other", str(ts), body, expected)
