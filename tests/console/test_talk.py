"""/ws/talk relays a signed-in browser to the media direct endpoint (a real ForkServer
with a stand-in conversation), and never hands the browser the direct token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callcontrol.config import ForkSettings
from callcontrol.media.base import AudioOutput, MediaLink
from callcontrol.media.direct_auth import DirectAuth
from callcontrol.media.direct_wire import DirectHello
from callcontrol.media.fork_server import ForkServer
from tests.console.conftest import Console, add_user, console_settings, running_service, serve


class EchoBot:
    """Answers the first audio with half a second of tone and a transcript line."""

    def __init__(self) -> None:
        self.hellos: list[DirectHello] = []
        self.samples = 0
        self.texts: list[str] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    def expected_token(self, call_id: str) -> str | None:
        return None

    def attach(self, *args: Any) -> None:
        return None

    def open_direct(
        self, call_id: str, hello: DirectHello, link: MediaLink, output: AudioOutput
    ) -> Any:
        self.hellos.append(hello)
        bot = self

        class Consumer:
            answered = False

            def on_audio(self, samples: Any, sample_rate: int) -> bool:
                bot.samples += len(samples)
                if not self.answered and bot.samples >= 3200:
                    self.answered = True
                    task = asyncio.create_task(self.answer())
                    bot.tasks.add(task)
                return True

            async def answer(self) -> None:
                await link.send_text(
                    json.dumps({"type": "transcript", "speaker": "bot", "text": "<i>Hello</i>"})
                )
                tone = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)
                await output.play(tone, 16000, "Hello")

            def on_text(self, text: str) -> None:
                bot.texts.append(text)

            def on_close(self, code: int, reason: str) -> None:
                bot.closed.set()

        return Consumer()


@pytest.fixture
async def talking(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[Console, EchoBot]]:
    bot = EchoBot()
    fork_settings = ForkSettings(port=0, direct_token=SecretStr("direct-secret-123"))
    async with ForkServer(bot, fork_settings, direct=bot, host="127.0.0.1", port=0) as fork:
        settings = console_settings(
            tmp_path,
            sqlite_url,
            fork={"direct_token": "direct-secret-123"},
            console={"direct_url": f"ws://127.0.0.1:{fork.port}/direct"},
        )
        async with running_service(settings) as service:
            await add_user(service, "alice")
            async with serve(service) as url:
                console = Console(service, url)
                try:
                    yield console, bot
                finally:
                    await console.aclose()
                    for task in bot.tasks:
                        task.cancel()
                    await asyncio.gather(*bot.tasks, return_exceptions=True)


async def _socket(console: Console) -> Any:
    client, _ = await console.signed_in("alice")
    cookie = f"cc_session={client.cookies['cc_session']}"
    return connect(
        console.url.replace("http://", "ws://") + "/ws/talk",
        additional_headers={"Cookie": cookie},
    )


async def test_talking_to_the_bot_through_the_console(talking: tuple[Console, EchoBot]) -> None:
    console, bot = talking
    async with await _socket(console) as ws:
        await ws.send(json.dumps({"sampleRate": 16000, "knowledgeOwner": "9198"}))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready" and ready["sampleRate"] == 16000
        [hello] = bot.hellos
        # A token for this owner only, not the secret itself (it never leaves the server).
        assert hello.owner == "9198" and hello.token and hello.token != "direct-secret-123"
        grant = DirectAuth(SecretStr("direct-secret-123").get_secret_value(), ForkSettings()).check(
            hello.token
        )
        assert grant is not None and grant.owners == frozenset({"9198"})
        assert hello.extra["operator"] == "alice" and hello.extra["source"] == "console"
        frame = (np.zeros(320, dtype=np.int16)).tobytes()
        for _ in range(12):
            await ws.send(frame)
        audio = 0
        events: list[dict[str, Any]] = []
        while audio < 16000:  # 0.5 s of 16-bit audio
            message = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(message, bytes):
                audio += len(message)
            else:
                events.append(json.loads(message))
        assert {"type": "transcript", "speaker": "bot", "text": "<i>Hello</i>"} in events
        assert any(e["type"] == "playback" for e in events)
        assert all("direct-secret" not in json.dumps(e) for e in events)
        await ws.send(json.dumps({"type": "hangup"}))
        await ws.send(json.dumps({"type": "not-forwarded"}))
        await asyncio.sleep(0.2)
    await asyncio.wait_for(bot.closed.wait(), 5)
    assert bot.samples >= 12 * 320
    assert [json.loads(t)["type"] for t in bot.texts] == ["hangup"]


async def test_bad_start_and_bad_frames_end_the_session(talking: tuple[Console, EchoBot]) -> None:
    console, bot = talking
    async with await _socket(console) as ws:
        await ws.send(json.dumps({"sampleRate": 44100}))
        error = json.loads(await ws.recv())
        assert error["type"] == "error" and "sampleRate" in error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with await _socket(console) as ws:
        await ws.send(json.dumps({"sampleRate": 16000}))
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(b"\x00" * 3)  # odd length: not 16-bit PCM
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert bot.samples == 0


async def test_unreachable_bot_and_anonymous_browser(tmp_path: Path, sqlite_url: str) -> None:
    settings = console_settings(
        tmp_path, sqlite_url, console={"direct_url": "ws://127.0.0.1:9/direct"}
    )
    async with running_service(settings) as service:
        await add_user(service, "alice")
        async with serve(service) as url:
            console = Console(service, url)
            ws_url = url.replace("http://", "ws://") + "/ws/talk"
            with pytest.raises(InvalidStatus):
                async with connect(ws_url):
                    pass
            async with await _socket(console) as ws:
                await ws.send(json.dumps({"sampleRate": 16000}))
                error = json.loads(await ws.recv())
                assert error == {
                    "type": "error",
                    "message": "the bot's media endpoint is not reachable",
                }
            await console.aclose()
