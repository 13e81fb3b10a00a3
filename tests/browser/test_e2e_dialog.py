"""End to end with the real bot: the service's own dialog, the real models, the emulator.

They drive the documented seams only — an emulated call handed to the service's own
bot (``Service(settings)`` without a stand-in handover), the HITL desk the dialog
calls, and the media direct endpoint behind the talk page:

* a knowledge entry an operator adds in the page answers the next caller, and the
  transcript shows on the call page as the bot speaks;
* a question the bot cannot answer reaches the HITL queue, and the operator's answer
  is spoken to the caller;
* the talk page answers a question spoken through Chromium's fake microphone.
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Browser, async_playwright, expect
from websockets.asyncio.client import connect

from callcontrol.app import Service
from callcontrol.console.talk import direct_url
from tests.browser.conftest import (
    CHROMIUM,
    connected,
    launch_args,
    screenshot,
    sign_in,
    wait_for_js,
)
from tests.console.conftest import Console, add_user, console_settings, serve
from tests.fakes.freeswitch import FakeFreeSwitch

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

NEEDS_DIALOG = "needs the dialog wired into Service as its bot (maintainer's wiring)"


def pcm_wav(name: str, out: Path, *, before_s: float = 2.0, after_s: float = 2.0) -> Path:
    """A test clip as 16 kHz 16-bit PCM WAV with silence around it (Chromium's fake
    microphone plays it; the emulated caller says it after the bot's greeting)."""
    from tests.integration.pipeline.clips import load_clip

    samples = load_clip(name)  # 16 kHz float32
    before = np.zeros(int(16000 * before_s), dtype=np.float32)
    after = np.zeros(int(16000 * after_s), dtype=np.float32)
    pcm = (np.concatenate([before, samples, after]) * 32767).astype("<i2")
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm.tobytes())
    return out


@pytest.fixture
async def real_bot(
    fake_switch: FakeFreeSwitch, tmp_path: Path, sqlite_url: str
) -> AsyncIterator[Console]:
    """The service as deployed: its own bot (dialog + models), fork/direct server on an
    ephemeral port, the emulator as FreeSWITCH."""
    settings = console_settings(
        tmp_path,
        sqlite_url,
        esl={"inbound_enabled": True, "port": fake_switch.esl_port, "command_timeout": 3},
        fork={"port": 0, "host": "127.0.0.1"},
        pipeline={"enabled": True},
        console={"hitl_timeout_s": 60},
    )
    async with Service(settings) as service:
        if service.controller.handover is None:
            pytest.fail(NEEDS_DIALOG)
        assert service.inbound is not None
        await service.inbound.wait_connected(5)
        fork = getattr(service, "fork_server", None)
        if fork is not None:  # bound to an ephemeral port: tell the talk proxy where
            service.settings.console.direct_url = f"ws://127.0.0.1:{fork.port}/direct"
        models = service.ready_checks.get("models")
        for _ in range(1200):  # the models load in the background
            if models is None or models():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the voice models did not load in 120 s")
        await add_user(service, "alice")
        assert service.kb is not None
        await service.kb.add(
            "9198",
            "Parking",
            "Where can I park my car? You can park your car for free in the garage "
            "behind the building.",
        )
        async with serve(service) as url:
            console = Console(service, url)
            try:
                yield console
            finally:
                await console.aclose()


async def test_kb_entry_added_in_the_page_answers_the_next_caller(
    chromium: Browser, real_bot: Console, fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    page = await sign_in(chromium, real_bot.url, "alice")
    # An operator teaches the bot a fact in the knowledge-base page…
    await page.goto(real_bot.url + "/kb?owner=9198")
    await page.fill("#add-title", "Weekly meeting")
    await page.fill("#add-text", "The weekly meeting is on Monday at 10 am in room 3.")
    await page.click("#add-form button[type=submit]")
    await expect(page.locator("#docs")).to_contain_text("Weekly meeting")
    # …and the next caller who asks hears it, live on the call page.
    await page.goto(real_bot.url + "/calls")
    await connected(page)
    call_id = await fake_switch.inbound_call(
        caller="+15550400",
        destination="9198",
        variables={"callcontrol_action": "bot", "callcontrol_owner": "9198"},
        audio=pcm_wav("question", tmp_path / "question.wav", before_s=5.0),  # after the greeting
    )
    await page.locator(f'#calls tr[data-id="{call_id}"]').get_by_role("link").click()
    transcript = page.locator("#transcript")
    greeting = real_bot.service.settings.pipeline.greeting
    await expect(transcript.locator(".turn.bot").first).to_contain_text(
        greeting.split(",")[0], timeout=30_000
    )
    await expect(transcript.locator(".turn.caller")).to_contain_text("meeting", timeout=60_000)
    answer = transcript.locator(".turn.bot").nth(1)
    await expect(answer).to_contain_text("Monday", timeout=60_000)  # from the page's entry
    await expect(answer.locator(".waterfall")).to_contain_text("voice to voice")
    await screenshot(page, "e2e-call")


async def test_operator_answer_is_spoken_by_the_real_bot(
    chromium: Browser, real_bot: Console, fake_switch: FakeFreeSwitch, tmp_path: Path
) -> None:
    page = await sign_in(chromium, real_bot.url, "alice")
    await page.goto(real_bot.url + "/hitl")
    await connected(page)
    await page.select_option("#status-select", "available")
    call_id = await fake_switch.inbound_call(
        caller="+15550401",
        destination="9198",
        variables={"callcontrol_action": "bot", "callcontrol_owner": "9198"},
        # not in the knowledge base (low confidence), said after the greeting
        audio=pcm_wav("question", tmp_path / "question.wav", before_s=5.0),
    )
    card = page.locator(".hitl-card")
    await expect(card).to_contain_text("meeting", timeout=60_000)
    await card.locator("textarea.answer").fill("The weekly meeting is on Tuesday at ten.")
    await card.get_by_role("button", name="Send answer").click()
    await page.goto(f"{real_bot.url}/calls/{call_id}")
    await expect(page.locator("#transcript .turn.bot").last).to_contain_text(
        "Tuesday", timeout=60_000
    )


async def test_talk_page_answers_a_spoken_question(tmp_path: Path, real_bot: Console) -> None:
    url = direct_url(real_bot.service.settings)
    try:
        async with connect(url, open_timeout=2):
            pass
    except OSError:
        pytest.fail(f"no direct endpoint at {url}: the fork server should be wired into Service")
    clip = pcm_wav("parking", tmp_path / "parking.wav")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=launch_args([f"--use-file-for-fake-audio-capture={clip}"]),
        )
        try:
            page = await sign_in(browser, real_bot.url, "alice")
            await page.goto(real_bot.url + "/talk")
            await page.fill("#talk-owner", "9198")
            await page.click("#talk-start")
            transcript = page.locator("#talk-transcript")
            await expect(transcript).to_contain_text("park", timeout=60_000)
            await expect(transcript).to_contain_text("garage", timeout=60_000)
            await wait_for_js(page, "window.ccTalk.audioFrames > 25", timeout=60)
            await screenshot(page, "e2e-talk")
            with contextlib.suppress(Exception):
                await page.click("#talk-stop")
            await asyncio.sleep(0.2)
        finally:
            await browser.close()
