"""Browser tests: Debian's chromium (never a downloaded browser) driven by playwright,
against a real console served by uvicorn, with the FreeSWITCH emulator for calls."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from callcontrol.app import Service
from tests.console.conftest import PASSWORD, Console, add_user, console_settings, serve
from tests.fakes.console import FakeKnowledge
from tests.fakes.freeswitch import FakeFreeSwitch
from tests.harness import RecordingHandover

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def launch_args(extra: list[str] | None = None) -> list[str]:
    return [*CHROMIUM_ARGS, *(extra or [])]


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=launch_args())
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Stack:
    console: Console
    switch: FakeFreeSwitch
    handover: RecordingHandover
    kb: FakeKnowledge

    @property
    def service(self) -> Service:
        return self.console.service

    @property
    def url(self) -> str:
        return self.console.url


@pytest.fixture
async def stack(
    fake_switch: FakeFreeSwitch, tmp_path: Path, sqlite_url: str
) -> AsyncIterator[Stack]:
    """A worker controlling the emulator's calls (a stand-in bot takes them) with its console,
    an admin "root" and an operator "alice" (extension 1001)."""
    settings = console_settings(
        tmp_path,
        sqlite_url,
        esl={"inbound_enabled": True, "port": fake_switch.esl_port, "command_timeout": 3},
        console={"hitl_timeout_s": 60},
        calls={"recordings_dir": str(tmp_path / "recordings")},
    )
    handover = RecordingHandover()
    kb = FakeKnowledge()
    async with Service(settings, handover=handover) as service:
        assert service.inbound is not None
        await service.inbound.wait_connected(5)
        service.kb = kb
        await add_user(service, "root", "admin")
        await add_user(service, "alice", extension="1001")
        async with serve(service) as url:
            console = Console(service, url)
            try:
                yield Stack(console, fake_switch, handover, kb)
            finally:
                await console.aclose()


async def sign_in(browser: Browser, url: str, username: str) -> Page:
    context = await browser.new_context(viewport={"width": 1360, "height": 860})
    page = await context.new_page()
    await page.goto(url + "/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/")
    return page


async def connected(page: Page) -> None:
    """Wait until the page's live websocket is up (it has its snapshot)."""
    await page.wait_for_selector("#conn.up", timeout=10_000)


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def wait_for_js(page: Page, expression: str, timeout: float = 10.0) -> None:
    """Poll a JS expression until truthy (``wait_for_function`` needs eval, which the
    console's Content-Security-Policy forbids — as it should)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(expression):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{expression} still false after {timeout} s")
        await asyncio.sleep(0.1)
