"""Outbound ESL (the dialplan's ``socket`` app), held against the esl-outbound-* recordings."""

from __future__ import annotations

import asyncio

from tests import recordings as rec
from tests.fakes.freeswitch import Extension, FakeFreeSwitch
from tests.fakes.freeswitch.client import EslTestClient, OutboundTestServer
from tests.fakes.freeswitch.wire import Message

ASYNC_LINGER = "esl-outbound-async-full-linger.jsonl"
TONE = "tone_stream://%({ms},0,{hz})"


def _names(msg: Message) -> str:
    if msg.content_type.startswith("text/event"):
        return dict(rec.event_header_list(msg.raw))["Event-Name"]
    return msg.content_type


def _recorded_connect(name: str) -> bytes:
    return rec.reply_after(name, "connect").data


async def _call(
    sw: FakeFreeSwitch, server: OutboundTestServer, mode: str = "async full"
) -> tuple[str, EslTestClient]:
    uid = await sw.inbound_call(
        caller="sipp", destination="9300", socket=f"127.0.0.1:{server.port} {mode}"
    )
    return uid, await server.accept()


async def test_connect_reply_has_the_recorded_shape(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    for mode, recording, socket_mode in (
        ("async full", ASYNC_LINGER, b"async"),
        ("full", "esl-outbound-sync-full-nolinger.jsonl", b"static"),
    ):
        uid, client = await _call(fake_switch, outbound_server, mode)
        await asyncio.sleep(0.05)
        assert not client.raw  # FreeSWITCH says nothing until `connect`
        reply = await client.command("connect")
        recorded = _recorded_connect(recording)
        assert reply.raw.endswith(
            b"Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: "
            + socket_mode
            + b"\nControl: full\n\n"
        )
        assert recorded.endswith(reply.raw[-70:])
        names = [k for k, _ in rec.split_message(reply.raw)[0] if not k.startswith("variable_")]
        want = [k for k, _ in rec.split_message(recorded)[0] if not k.startswith("variable_")]
        assert names == want
        assert "Content-Length" not in names
        headers = dict(rec.split_message(reply.raw)[0])
        assert headers["Unique-ID"] == uid and headers["Channel-Unique-ID"] == uid
        assert headers["variable_current_application"] == "socket"
        await fake_switch.far_end_hangup(uid)
        await client.read_until_eof()


async def test_async_session_linger_and_exit(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    uid, client = await _call(fake_switch, outbound_server)
    await client.command("connect")
    assert (await client.command("myevents")).raw == rec.reply_after(ASYNC_LINGER, "myevents").data
    assert (await client.command("linger")).raw == rec.reply_after(ASYNC_LINGER, "linger").data
    loop = asyncio.get_running_loop()
    times: dict[tuple[str, str], float] = {}

    async def until_complete(count: int) -> None:
        done = 0
        while done < count:
            msg = await client.next_event()
            h = dict(rec.event_header_list(msg.raw))
            times[(h["Event-Name"], h.get("Application-Data", h.get("Application", "")))] = (
                loop.time()
            )
            done += h["Event-Name"] == "CHANNEL_EXECUTE_COMPLETE"

    assert (await client.sendmsg(None, "answer")).get("Reply-Text") == "+OK"
    await until_complete(1)
    a, b = TONE.format(ms=300, hz=440), TONE.format(ms=150, hz=880)
    await client.sendmsg(None, "playback", a)  # no event-lock: b runs *inside* a
    await client.sendmsg(None, "playback", b)
    await until_complete(2)
    # Nested: b starts and completes while a is still running.
    assert (
        times[("CHANNEL_EXECUTE", a)]
        <= times[("CHANNEL_EXECUTE", b)]
        <= times[("CHANNEL_EXECUTE_COMPLETE", b)]
        < times[("CHANNEL_EXECUTE_COMPLETE", a)]
    )
    c, d = TONE.format(ms=150, hz=441), TONE.format(ms=150, hz=881)
    await client.sendmsg(None, "playback", c, lock=True)  # event-lock: strictly in order
    await client.sendmsg(None, "playback", d, lock=True)
    await until_complete(2)
    assert times[("CHANNEL_EXECUTE_COMPLETE", c)] <= times[("CHANNEL_EXECUTE", d)]
    hangup = await client.command("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
    assert hangup.get("Reply-Text") == "+OK"
    notice = await client.next_reply()
    linger = [r for r in rec.received(ASYNC_LINGER) if "disconnect-notice" in r.text]
    match = rec.UUID_RE.search(linger[0].text)
    assert match is not None

    def as_recorded(text: str) -> bytes:
        name = fake_switch.channel(uid).name
        return (
            text.replace(match.group(0), uid)
            .replace("sofia/external/sipp@127.0.0.1:5076", name)
            .encode()
        )

    assert notice.raw == as_recorded(linger[0].text)
    # all the call's events came before the notice, CHANNEL_DESTROY never does
    order = [_names(m) for m in client.all_messages]
    recorded = [r.event or r.ctype for r in rec.received(ASYNC_LINGER)]
    tail = order[order.index("CHANNEL_HANGUP") : order.index("text/disconnect-notice") + 1]
    want = recorded[recorded.index("CHANNEL_HANGUP") : recorded.index("text/disconnect-notice") + 1]
    assert tail == want
    await asyncio.sleep(0.3)
    assert not client.eof
    assert (await client.command("exit")).get("Reply-Text") == "+OK bye"
    bye = await client.next_reply()
    assert bye.raw == as_recorded(linger[1].text)
    await client.read_until_eof()
    assert client.eof and "CHANNEL_DESTROY" not in order


async def test_recorded_event_order_of_the_async_session(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    """The same commands as the recording (tones shortened), the same event order."""
    uid, client = await _call(fake_switch, outbound_server)
    for row in rec.sent(ASYNC_LINGER):
        text = row.text.replace("%(1000,", "%(200,").replace("%(500,", "%(100,")
        await client.send(text)
        if "answer" in row.text:
            await asyncio.sleep(0.05)
        elif "%(1000," in row.text or "%(500,0,880)" in row.text:
            await asyncio.sleep(0.35)  # the recorder waited for the playbacks too
        elif "call-command: hangup" in row.text:
            await asyncio.sleep(0.3)
    await client.read_until_eof()
    mine = [_names(m) for m in client.all_messages if _names(m) != "CHANNEL_PARK"]
    recorded = [r.event or r.ctype for r in rec.received(ASYNC_LINGER) if r.event != "CHANNEL_PARK"]
    assert mine == recorded
    assert fake_switch.channel(uid).destroyed


async def test_linger_with_time_closes_by_itself(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    uid, client = await _call(fake_switch, outbound_server)
    await client.command("connect")
    await client.command("myevents")
    assert (await client.command("linger 1")).get("Reply-Text") == "+OK will linger 1 seconds"
    await fake_switch.far_end_hangup(uid)
    notice = await client.next_reply()
    assert notice.get("Content-Disposition") == "linger" and notice.get("Linger-Time") == "1"
    loop = asyncio.get_running_loop()
    started = loop.time()
    last = await client.next_reply(timeout=4)
    assert last.get("Content-Disposition") == "disconnect"
    await client.read_until_eof()
    assert 0.9 <= loop.time() - started <= 2.3  # whole epoch seconds, as FreeSWITCH counts
    assert client.eof


async def test_no_linger_disconnects_after_hangup_complete(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    uid, client = await _call(fake_switch, outbound_server)
    await client.command("connect")
    await client.command("myevents")
    await client.sendmsg(None, "answer")
    await fake_switch.wait_for_channel_state(uid, "ACTIVE")
    await asyncio.sleep(0.05)
    await client.command("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
    await client.read_until_eof()
    order = [_names(m) for m in client.all_messages]
    recorded = [r.event or r.ctype for r in rec.received("esl-outbound-async-full-nolinger.jsonl")]
    assert order[-2:] == recorded[-2:] == ["CHANNEL_HANGUP_COMPLETE", "text/disconnect-notice"]
    assert "CHANNEL_DESTROY" not in order
    assert client.all_messages[-1].get("Controlled-Session-UUID") == uid


async def test_static_mode_replies_after_the_app(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    uid, client = await _call(fake_switch, outbound_server, "full")
    await client.command("connect")
    await client.command("myevents")
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await client.sendmsg(None, "playback", TONE.format(ms=250, hz=440))
    assert reply.get("Reply-Text") == "+OK"
    assert loop.time() - started >= 0.24
    first = await client.next_event()
    assert client.all_messages.index(reply) < client.all_messages.index(first)  # events after it
    assert dict(rec.event_header_list(first.raw))["Event-Name"] == "CHANNEL_EXECUTE"
    await client.next_event("CHANNEL_EXECUTE_COMPLETE")
    await client.command("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
    await client.read_until_eof()
    order = [_names(m) for m in client.all_messages]
    recorded = [r.event or r.ctype for r in rec.received("esl-outbound-sync-full-nolinger.jsonl")]
    assert (
        order[-3:] == recorded[-3:] == ["command/reply", "CHANNEL_HANGUP", "text/disconnect-notice"]
    )
    await fake_switch.wait_for_channel_state(uid, "destroyed")


async def test_socket_gone_ends_park_and_the_call(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    uid, client = await _call(fake_switch, outbound_server)
    await client.command("connect")
    assert (await client.command("api uuid_exists " + uid)).body == b"true"
    await client.close()
    await fake_switch.wait_for_channel_state(uid, "destroyed")
    names = [e.name for e in fake_switch.events_for(uid)]
    assert (
        names.index("CHANNEL_PARK")
        < names.index("CHANNEL_UNPARK")
        < names.index("CHANNEL_HANGUP_COMPLETE")
    )
    assert fake_switch.channel(uid).hangup_cause == "NORMAL_CLEARING"


async def test_unreachable_socket_target_hangs_up(fake_switch: FakeFreeSwitch) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    uid = await fake_switch.inbound_call(socket=f"127.0.0.1:{port} async full")
    await fake_switch.wait_for_channel_state(uid, "destroyed")
    assert fake_switch.outbound.failed_connects == 1
    complete = fake_switch.events_for(uid, "CHANNEL_EXECUTE_COMPLETE")[-1]
    assert complete.get("Application") == "socket"


async def test_originate_into_an_outbound_socket(
    fake_switch: FakeFreeSwitch, esl_client: EslTestClient, outbound_server: OutboundTestServer
) -> None:
    fake_switch.extensions["1000"] = Extension.answers(after=0.05)
    target = f"'127.0.0.1:{outbound_server.port} async full'"  # quoted: the api splits on spaces
    reply = await esl_client.api(f"originate {{originate_timeout=5}}user/1000 &socket({target})")
    uid = reply.split()[1]
    client = await outbound_server.accept()
    headers = dict(rec.split_message((await client.command("connect")).raw)[0])
    assert headers["Unique-ID"] == uid and headers["Call-Direction"] == "outbound"
    assert headers["Socket-Mode"] == "async" and headers["Answer-State"] == "answered"
    assert (await client.command("api uuid_exists " + uid)).body == b"true"  # `full` allows api
    assert (await client.command("exit")).get("Reply-Text") == "+OK bye"
    await client.read_until_eof()
    await fake_switch.wait_for_channel_state(uid, "destroyed")


async def test_single_channel_mode_refuses_api(
    fake_switch: FakeFreeSwitch, outbound_server: OutboundTestServer
) -> None:
    uid, client = await _call(fake_switch, outbound_server, "async")
    reply = await client.command("connect")
    assert reply.get("Control") == "single-channel"
    assert (await client.command("api status")).get("Reply-Text") == "-ERR command not found"
    assert (await client.sendmsg(None, "answer")).get("Reply-Text") == "+OK"
    await fake_switch.wait_for_channel_state(uid, "ACTIVE")
    await fake_switch.far_end_hangup(uid)
    await client.read_until_eof()
