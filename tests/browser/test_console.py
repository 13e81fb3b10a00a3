"""The console in headless chromium: sign in, live calls and transcripts, the HITL queue,
follow-ups, the knowledge base, talking to the bot, and screenshots of the main pages.

The bot here is a stand-in speaking on the documented seams (``call.<id>`` bus messages,
``HitlDesk.ask``, the direct websocket); ``test_e2e_dialog.py`` has the versions that
need the real dialog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from pydantic import SecretStr

from callcontrol.config import ForkSettings
from callcontrol.hitl.base import HitlOutcome, HitlQuestion
from callcontrol.media.fork_server import ForkServer
from callcontrol.store.models import new_id, utcnow
from callcontrol.store.writer import Write
from tests.browser.conftest import (
    CHROMIUM,
    Stack,
    connected,
    launch_args,
    screenshot,
    sign_in,
    wait_for_js,
)
from tests.console.conftest import add_user, console_settings, running_service, serve
from tests.console.test_talk import EchoBot
from tests.harness import eventually

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def bot_call(stack: Stack, caller: str = "+15550142") -> str:
    call_id = await stack.switch.inbound_call(
        caller=caller,
        destination="9198",
        variables={"callcontrol_action": "bot", "callcontrol_owner": "9198"},
    )
    await stack.handover.wait(len(stack.handover.handles) + 1)
    return call_id


async def say(stack: Stack, call_id: str, message: dict[str, object]) -> None:
    """What the dialog does while a call goes on: publish, and record finished turns."""
    await stack.service.bus.publish(f"call.{call_id}", message)
    if message["type"] == "turn":
        stack.service.writer.submit(
            Write.insert(
                "turns",
                id=new_id(),
                call_id=call_id,
                seq=message["seq"],
                speaker=message["speaker"],
                text=message["text"],
                started_at=utcnow(),
                timings=message.get("timings") or {},
            )
        )


async def set_status(page: Page, status: str) -> None:
    async with page.expect_response("**/api/me/status") as response:
        await page.select_option("#status-select", status)
    assert (await response.value).ok


async def test_sign_in_live_call_and_transcript(chromium: Browser, stack: Stack) -> None:
    page = await sign_in(chromium, stack.url, "alice")
    await expect(page.locator("h1")).to_have_text("Dashboard")
    await page.goto(stack.url + "/calls")
    await connected(page)
    await expect(page.locator("#calls")).to_contain_text("No calls right now")
    call_id = await bot_call(stack)
    row = page.locator(f'#calls tr[data-id="{call_id}"]')
    await expect(row).to_contain_text("+15550142")
    await expect(row).to_contain_text("bot")
    await screenshot(page, "live-calls")
    await row.get_by_role("link", name="Open").click()
    await page.wait_for_url(f"**/calls/{call_id}")
    await connected(page)
    transcript = page.locator("#transcript")
    await say(
        stack,
        call_id,
        {
            "type": "turn",
            "speaker": "bot",
            "seq": 0,
            "text": "Hello, thanks for calling.",
            "timings": {},
        },
    )
    await say(stack, call_id, {"type": "partial", "speaker": "caller", "text": "When do you"})
    await expect(transcript.locator(".turn.partial")).to_have_text("callerWhen do you")
    await say(
        stack,
        call_id,
        {
            "type": "turn",
            "speaker": "caller",
            "seq": 1,
            "text": "When do you open? <b>not bold</b><img src=x onerror=alert(1)>",
            "timings": {},
        },
    )
    await say(
        stack,
        call_id,
        {
            "type": "turn",
            "speaker": "bot",
            "seq": 2,
            "text": "We open at nine.",
            "timings": {
                "end_of_speech": 0,
                "stt_done": 0.31,
                "retrieval_done": 0.35,
                "llm_first_token": 0.62,
                "first_audio_sent": 0.81,
                "playback_started": 0.86,
            },
        },
    )
    await expect(transcript.locator(".turn")).to_have_count(3)
    caller_line = transcript.locator(".turn.caller")
    await expect(caller_line).to_contain_text("<b>not bold</b><img src=x onerror=alert(1)>")
    assert await caller_line.locator("b, img").count() == 0  # shown as text, not markup
    waterfall = transcript.locator(".turn.bot .waterfall")
    await expect(waterfall).to_contain_text("voice to voice 860 ms")
    await expect(waterfall.locator(".wf-bar .wf-seg")).to_have_count(5)
    await say(
        stack,
        call_id,
        {"type": "event", "name": "barge_in", "at": "2026-01-01T10:00:00Z", "data": {}},
    )
    await expect(page.locator("#timeline")).to_contain_text("barge_in")
    await expect(page.locator("#timeline")).to_contain_text("CHANNEL_ANSWER")
    await screenshot(page, "call")
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.click("#btn-hangup")
    await expect(page.locator("#call-state")).to_have_text("ended", timeout=10_000)
    await stack.service.controller.wait_finished(call_id, 5)
    await stack.service.flush()
    await page.goto(stack.url + "/history")
    await expect(page.locator("table")).to_contain_text("+15550142")
    await screenshot(page, "history")


async def test_hitl_request_answered_reaches_the_call(chromium: Browser, stack: Stack) -> None:
    page = await sign_in(chromium, stack.url, "alice")
    await page.goto(stack.url + "/hitl")
    await connected(page)
    await set_status(page, "available")
    call_id = await bot_call(stack, "+15550188")
    question = HitlQuestion(
        call_id=call_id,
        question="Can I bring my dog to the office?",
        reason="low_confidence",
        owner="9198",
        caller_number="+15550188",
        recent_turns=[{"speaker": "caller", "text": "Hi, I have a question about pets."}],
        retrieval=[
            {"title": "Parking", "text": "Free parking behind the building.", "score": 0.78}
        ],
    )

    async def dialog() -> HitlOutcome:
        # what the dialog does: ask the desk, then say the answer on the call
        outcome = await stack.service.desk.ask(question)
        if outcome.answer:
            await say(
                stack,
                call_id,
                {"type": "turn", "speaker": "bot", "seq": 5, "text": outcome.answer, "timings": {}},
            )
        return outcome

    asking = asyncio.create_task(dialog())
    card = page.locator(".hitl-card")
    await expect(card).to_contain_text("Can I bring my dog to the office?")
    await expect(card).to_contain_text("Free parking behind the building.")
    await expect(card).to_contain_text("0.780")
    await expect(page.locator("#hitl-count")).to_have_text("1")
    await screenshot(page, "hitl-queue")
    await card.locator("textarea.answer").fill("Yes, dogs on a leash are welcome.")
    await card.locator("input.save-kb").check()
    await card.get_by_role("button", name="Send answer").click()
    outcome = await asyncio.wait_for(asking, 10)
    assert outcome.status == "answered"
    assert outcome.answer == "Yes, dogs on a leash are welcome." and outcome.operator == "alice"
    await expect(card).to_have_count(0)
    await expect(page.locator("#hitl-count")).to_be_hidden()
    assert [d.title for d in stack.kb.docs.values()] == ["Can I bring my dog to the office?"]
    await stack.service.flush()
    await page.goto(f"{stack.url}/calls/{call_id}")
    await expect(page.locator("#transcript")).to_contain_text("dogs on a leash are welcome")
    await expect(page.locator("#hitl-items")).to_contain_text("answered")


async def test_questions_wait_in_line_while_every_operator_is_busy(
    chromium: Browser, stack: Stack
) -> None:
    page = await sign_in(chromium, stack.url, "alice")
    await page.goto(stack.url + "/hitl")
    await connected(page)
    await set_status(page, "busy")
    asks = []
    for n, text in enumerate(["Do you ship to Canada?", "Can I pay by cheque?"]):
        asks.append(
            asyncio.create_task(
                stack.service.desk.ask(
                    HitlQuestion(
                        call_id=f"call-busy-{n}",
                        question=text,
                        reason="low_confidence",
                        caller_number=f"+1555020{n}",
                    )
                )
            )
        )
        await expect(page.locator(".hitl-card")).to_have_count(n + 1)
    cards = page.locator(".hitl-card")
    await expect(cards.nth(0)).to_contain_text("Do you ship to Canada?")
    await expect(cards.nth(0).locator(".position")).to_have_text("1st in line")
    await expect(cards.nth(1).locator(".position")).to_have_text("2nd in line")
    await expect(cards.nth(1)).to_contain_text("queued: operators busy")
    await screenshot(page, "hitl-busy-queue")
    # Free again, alice answers the first; the second moves up.
    await set_status(page, "available")
    first = cards.nth(0)
    await first.locator("textarea.answer").fill("Yes, we ship to Canada.")
    await first.get_by_role("button", name="Send answer").click()
    outcome = await asyncio.wait_for(asks[0], 10)
    assert outcome.status == "answered" and outcome.answer == "Yes, we ship to Canada."
    await expect(cards).to_have_count(1)
    await expect(cards.nth(0).locator(".position")).to_have_text("1st in line")
    assert not asks[1].done()
    asks[1].cancel()  # that caller hangs up
    with contextlib.suppress(asyncio.CancelledError):
        await asks[1]


async def test_opted_in_operators_are_notified_of_new_questions(
    chromium: Browser, stack: Stack
) -> None:
    page = await sign_in(chromium, stack.url, "alice")
    await page.context.grant_permissions(["notifications"], origin=stack.url)
    # Record notifications instead of showing them (headless has no desktop).
    await page.context.add_init_script(
        "window.__shown = [];"
        "class FakeNotification {"
        "  constructor(title, opts) { window.__shown.push([title, opts.body]); }"
        "}"
        "FakeNotification.permission = 'granted';"
        "FakeNotification.requestPermission = async () => 'granted';"
        "window.Notification = FakeNotification;"
    )
    await page.goto(stack.url + "/hitl")
    await connected(page)
    await set_status(page, "available")

    async def ask(text: str, call_id: str) -> asyncio.Task[HitlOutcome]:
        task = asyncio.create_task(
            stack.service.desk.ask(
                HitlQuestion(call_id=call_id, question=text, reason="low_confidence")
            )
        )
        await expect(page.locator(".hitl-card", has_text=text)).to_have_count(1)
        return task

    first = await ask("Do you deliver on Sundays?", "call-n1")
    assert await page.evaluate("window.__shown.length") == 0  # not opted in yet
    await page.locator("#notify-me").check()
    await expect(page.locator("#notify-me")).to_be_checked()
    second = await ask("Can I pay with a cheque?", "call-n2")
    assert await page.evaluate("window.__shown") == [
        ["Question from the bot", "Can I pay with a cheque?"]
    ]
    await page.reload()  # the choice is remembered in this browser
    await connected(page)
    await expect(page.locator("#notify-me")).to_be_checked()
    for task in (first, second):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_away_operator_sends_requests_to_follow_up(chromium: Browser, stack: Stack) -> None:
    page = await sign_in(chromium, stack.url, "alice")
    await page.goto(stack.url + "/hitl/unresolved")
    await connected(page)
    await set_status(page, "away")
    await expect(page.locator("#status-dot")).to_have_class("status-dot away")
    outcome = await stack.service.desk.ask(
        HitlQuestion(
            call_id="call-77",
            question="Can I get a refund?",
            reason="sensitive",
            caller_number="+15550177",
        )
    )
    assert outcome.status == "unavailable"
    row = page.locator(f'#followups tr[data-id="{outcome.request_id}"]')
    await expect(row).to_contain_text("Can I get a refund?")  # arrived live
    await expect(row).to_contain_text("nobody available")
    badge = page.locator("#followup-count")
    await expect(badge).to_have_text("1")  # the navigation counts open follow-ups
    await expect(row.locator("input.phone")).to_have_value("+15550177")
    await row.get_by_role("button", name="Noted").click()
    await expect(row.locator(".pill")).to_have_text("noted")
    await expect(row).to_contain_text("noted by alice")
    await expect(row.get_by_role("button", name="Call back")).to_be_visible()
    await row.locator("textarea.notes").fill("Called back, left a message.")
    await row.get_by_role("button", name="Contacted").click()
    await expect(row.locator(".pill")).to_have_text("contacted")
    await screenshot(page, "follow-ups")
    await page.reload()
    row = page.locator(f'#followups tr[data-id="{outcome.request_id}"]')
    await expect(row.locator("textarea.notes")).to_have_value("Called back, left a message.")
    await row.get_by_role("button", name="Resolved").click()
    await expect(page.locator("#followups")).to_contain_text("Nothing to follow up")
    await expect(badge).to_be_hidden()
    await page.goto(stack.url + "/hitl/unresolved?show=resolved")
    done = page.locator(f'#followups tr[data-id="{outcome.request_id}"]')
    await expect(done).to_contain_text("resolved by alice")


async def test_kb_entry_added_in_the_page_is_found(chromium: Browser, stack: Stack) -> None:
    page = await sign_in(chromium, stack.url, "alice")
    await page.goto(stack.url + "/kb?owner=9198")
    await page.fill("#add-title", "Opening hours <script>")
    await page.fill("#add-text", "The office opens at nine and closes at five on weekdays.")
    await page.click("#add-form button[type=submit]")
    docs = page.locator("#docs")
    await expect(docs).to_contain_text("Opening hours <script>")
    upload = Path(stack.service.settings.data_dir) / "parking.md"
    upload.write_text("# Parking\nFree parking is available behind the building.\n")
    await page.set_input_files("#upload-files", str(upload))
    await page.click("#upload-form button[type=submit]")
    await expect(docs).to_contain_text("parking")
    await page.fill("#search-q", "when does the office open")
    await page.click("#search-form button[type=submit]")
    results = page.locator("#search-results")
    await expect(results.locator(".passage").first).to_contain_text("Opening hours <script>")
    await expect(results.locator(".passage .score").first).to_have_text("0.400")  # 2 of 5 words
    await screenshot(page, "knowledge")
    # what a caller's question finds is what the page added
    [best, *_] = await stack.kb.search("9198", "when does the office open")
    assert best.title == "Opening hours <script>"
    await docs.get_by_role("link", name="parking").click()
    await page.fill("#doc-text", "Parking is free for visitors.")
    await page.click("#doc-form button[type=submit]")
    await expect(page.locator("#toasts")).to_contain_text("Saved")
    assert any(d.text == "Parking is free for visitors." for d in stack.kb.docs.values())


async def test_admin_pages_and_dashboard(chromium: Browser, stack: Stack) -> None:
    page = await sign_in(chromium, stack.url, "root")
    await screenshot(page, "dashboard")
    await page.goto(stack.url + "/admin/users")
    await page.fill("#new-username", "carol")
    await page.fill("#new-password", "carols password")
    await page.select_option("#new-role", "operator")
    await page.click("#add-user button[type=submit]")
    await expect(page.locator("#users")).to_contain_text("carol")
    await screenshot(page, "admin-users")
    await page.goto(stack.url + "/admin/settings")
    setting = page.locator('.setting[data-key="console.hitl_timeout_s"]')
    await setting.locator("input[type=number]").fill("45")
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#toasts")).to_contain_text("Settings saved")
    for _ in range(100):
        if stack.service.desk.timeout_s == 45:
            break
        await asyncio.sleep(0.05)
    assert stack.service.desk.timeout_s == 45
    await screenshot(page, "admin-settings")
    # One owner's own values: pick it, switch its voicemail on, change its greeting.
    await page.fill("#owner-pick", "acme")
    await page.click("#owner-go")
    await page.wait_for_url("**/admin/settings?owner=acme")
    await expect(page.locator('.setting[data-key="console.hitl_timeout_s"]')).to_have_count(0)
    await page.select_option('.setting[data-key="pipeline.voicemail"] select', "true")
    await page.locator('.setting[data-key="pipeline.greeting"] textarea').fill("Acme here.")
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#toasts")).to_contain_text("Settings saved")
    await page.wait_for_load_state("load")
    await expect(page.locator('.setting[data-key="pipeline.greeting"] .pill')).to_have_text(
        "changed"
    )
    from callcontrol.store.repos import OwnerSettingsRepo

    stored: dict[str, object] = {}
    for _ in range(100):
        stored = await OwnerSettingsRepo(stack.service.sessions).for_owner("acme")
        if len(stored) == 2:
            break
        await asyncio.sleep(0.05)
    assert stored == {"pipeline.voicemail": True, "pipeline.greeting": "Acme here."}
    await screenshot(page, "admin-settings-owner")
    operator = await sign_in(chromium, stack.url, "alice")
    response = await operator.goto(stack.url + "/admin/users")
    assert response is not None and response.status == 403


async def test_talk_page_streams_the_microphone(tmp_path: Path, sqlite_url: str) -> None:
    """Chromium's fake microphone → the console's /ws/talk → a direct endpoint; the bot's
    audio and transcript come back (a stand-in bot: see test_e2e_dialog.py for the real one)."""
    bot = EchoBot()
    secret = "talk-page-direct-secret"  # the console mints tokens the media server checks
    fork_settings = ForkSettings(port=0, direct_token=SecretStr(secret))
    async with ForkServer(bot, fork_settings, direct=bot, host="127.0.0.1", port=0) as fork:
        settings = console_settings(
            tmp_path,
            sqlite_url,
            fork={"direct_token": secret},
            console={"direct_url": f"ws://127.0.0.1:{fork.port}/direct"},
        )
        async with running_service(settings) as service:
            await add_user(service, "alice")
            async with serve(service) as url, async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=str(CHROMIUM), args=launch_args()
                )
                try:
                    page = await sign_in(browser, url, "alice")
                    await page.goto(url + "/talk")
                    await page.fill("#talk-owner", "9198")
                    await page.click("#talk-start")
                    await expect(page.locator("#talk-status")).to_have_text(
                        "Connected. Speak now.", timeout=10_000
                    )
                    await expect(page.locator("#talk-transcript")).to_contain_text(
                        "<i>Hello</i>", timeout=10_000
                    )
                    await wait_for_js(page, "window.ccTalk.audioFrames > 10")
                    sent = await page.evaluate("window.ccTalk.framesSent")
                    assert sent > 10
                    await screenshot(page, "talk")
                    await page.click("#talk-stop")
                    await expect(page.locator("#talk-start")).to_be_enabled()
                finally:
                    await browser.close()
        for task in bot.tasks:
            task.cancel()
        await asyncio.gather(*bot.tasks, return_exceptions=True)
    [hello] = bot.hellos
    assert hello.sample_rate == 16000 and hello.owner == "9198"
    assert json.loads(hello.to_json())["operator"] == "alice"
    assert bot.samples > 16000 * 0.3  # 16 kHz audio from the fake device arrived


async def test_the_call_page_plays_the_recording_with_its_waveform_and_transcript(
    chromium: Browser, stack: Stack
) -> None:
    """A recorded call: the waveform is drawn, each side's words are listed with their
    times, clicking a line plays from there — and that listen is in the audit log."""
    from sqlalchemy import select

    from callcontrol.store.models import AuditEntry, TranscriptSegment

    sw = stack.switch
    uuid = await sw.inbound_call(
        destination="5000",
        variables={"callcontrol_action": "bot"},
        audio=AUDIO / "dialog_question.wav",
        voice_starts="answer",
    )
    await stack.handover.wait()
    media = sw.media_of(sw.channel(uuid))
    await eventually(lambda: media.voice_started_at is not None)
    started = media.voice_started_at or 0.0
    await eventually(lambda: sw.now() - started > 3.6, timeout=10)
    await stack.handover.handles[-1].play(str(AUDIO / "dialog_bye.wav"))
    await eventually(
        lambda: any(p.status == "done" for p in sw.captured_audio(uuid).playbacks), timeout=10
    )
    await sw.far_end_hangup(uuid)
    await stack.service.controller.wait_finished(uuid, 5)
    recordings = stack.service.recordings
    assert recordings is not None
    await eventually(lambda: recordings.finished.get(uuid) == "ready", timeout=20)
    await stack.service.flush()
    async with stack.service.sessions() as s:
        s.add_all(
            [
                TranscriptSegment(
                    call_id=uuid,
                    channel="caller",
                    speaker="caller",
                    start_s=0.3,
                    end_s=2.9,
                    text="When is the weekly meeting?",
                ),
                TranscriptSegment(
                    call_id=uuid,
                    channel="other",
                    speaker="bot",
                    start_s=4.1,
                    end_s=6.0,
                    text="Thank you, goodbye.",
                ),
            ]
        )
        await s.commit()

    page = await sign_in(chromium, stack.url, "alice")
    await page.goto(f"{stack.url}/calls/{uuid}")
    segments = page.locator("#recording-segments .turn")
    await expect(segments).to_have_count(2)
    await expect(segments.nth(0)).to_contain_text("weekly meeting")
    await expect(segments.nth(1)).to_contain_text("bot")
    await expect(page.locator("#recording-status")).to_contain_text("ready")
    inked = await page.evaluate(
        """() => {
            const c = document.getElementById("waveform");
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
            return n;
        }"""
    )
    assert inked > 500  # both channels drawn, not an empty canvas
    await screenshot(page, "call-recording")
    await segments.nth(1).locator("button").click()
    await page.wait_for_function(
        "document.getElementById('recording-audio').currentTime >= 4.0", timeout=10_000
    )
    async with stack.service.sessions() as s:
        actions = [
            (a.username, a.action)
            for a in (
                await s.execute(select(AuditEntry).where(AuditEntry.call_id == uuid))
            ).scalars()
        ]
    assert ("alice", "listen") in actions
