"""Fixtures for the console tests: a real Service (ESL off), its console served by a
real uvicorn on an ephemeral port, users, and signed-in httpx clients."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from callcontrol.app import Service
from callcontrol.config import Settings, load_settings
from callcontrol.console.app import create_app, http_config
from callcontrol.console.auth import hash_password
from callcontrol.live.base import EventBus, LiveState
from callcontrol.store.repos import OperatorRepo
from tests.fakes.console import FakeKnowledge

PASSWORD = "correct horse battery"


def console_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test worker: no .env, no FreeSWITCH (ESL and outbound socket off)
    unless ``esl`` says otherwise, a fixed console secret."""
    console = {"secret_key": "test-secret-key-0123456789abcdef", **overrides.pop("console", {})}
    esl = {"inbound_enabled": False, "outbound_port": 0, **overrides.pop("esl", {})}
    # No voice models unless a test asks for them (pipeline={"enabled": True}).
    pipeline = {"enabled": False, **overrides.pop("pipeline", {})}
    recording = {"transcribe": False, **overrides.pop("recording", {})}
    return load_settings(
        pipeline=pipeline,
        recording=recording,
        _env_file=None,
        data_dir=overrides.pop("data_dir", tmp_path / "var"),
        database_url=database_url,
        redis_url=overrides.pop("redis_url", None),
        qdrant_url=None,
        esl=esl,
        console=console,
        **overrides,
    )


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns signals
        yield


@asynccontextmanager
async def serve(service: Service) -> AsyncIterator[str]:
    """The service's console on 127.0.0.1:<ephemeral>; yields its base URL."""
    settings = service.settings.console.model_copy(update={"host": "127.0.0.1"})
    config = http_config(create_app(service), settings, port=0)
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def running_service(
    settings: Settings, *, live: LiveState | None = None, bus: EventBus | None = None
) -> AsyncIterator[Service]:
    async with Service(settings, live=live, bus=bus) as service:
        yield service


async def add_user(
    service: Service, username: str, role: str = "operator", *, extension: str | None = None
) -> str:
    op = await OperatorRepo(service.sessions).create(
        username, hash_password(PASSWORD), role, extension=extension
    )
    return op.id


_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]*)"')


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in through the form; returns the session's CSRF token."""
    form = await client.get("/login")
    token_match = _LOGIN_TOKEN.search(form.text)
    assert token_match, form.text[:500]
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "login_token": token_match.group(1)},
    )
    assert response.status_code == 303, response.text[:500]
    page = await client.get("/profile")
    assert page.status_code == 200
    match = _CSRF_META.search(page.text)
    assert match and match.group(1)
    return match.group(1)


@dataclass
class Console:
    service: Service
    url: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        """A client closed when the fixture ends (no ``async with`` needed)."""
        client = httpx.AsyncClient(base_url=self.url, timeout=15, follow_redirects=False)
        self.clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def signed_in(self, username: str) -> tuple[httpx.AsyncClient, str]:
        client = self.client()
        csrf = await sign_in(client, username)
        client.headers["X-CSRF-Token"] = csrf
        return client, csrf


ConsoleFactory = Callable[..., Awaitable[Console]]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def console(tmp_path: Path, database_url: str) -> AsyncIterator[Console]:
    """A started service (SQLite) with its console, an admin 'root' and an operator 'alice'."""
    settings = console_settings(tmp_path, database_url)
    async with running_service(settings) as service:
        service.kb = FakeKnowledge()
        await add_user(service, "root", "admin")
        await add_user(service, "alice", "operator", extension="1001")
        async with serve(service) as url:
            console = Console(service, url)
            try:
                yield console
            finally:
                await console.aclose()
