"""The emulator's framing and event serialisation, byte for byte against the recordings."""

from __future__ import annotations

import json
import random
from urllib.parse import unquote

import pytest

from tests import recordings as rec
from tests.fakes.freeswitch import wire
from tests.fakes.freeswitch.cjson import dumps as cjson_dumps
from tests.fakes.freeswitch.cjson import parse as cjson_parse
from tests.fakes.freeswitch.events import Event

EVENT_FILES = [
    "esl-events-plain-all-a-sipp-park-caller-hangup.jsonl",
    "esl-events-json-all-a-sipp-park-caller-hangup.jsonl",
    "esl-events-plain-all-b-originate-fail.jsonl",
    "esl-events-plain-all-c-uuid-kill.jsonl",
    "audio-fork-esl-plain.jsonl",
    "audio-fork-esl-json.jsonl",
    "esl-inbound-commands.jsonl",
]


def _decode_recorded_event(data: bytes) -> Event:
    """Build an Event from a recorded frame by *decoding* it (the inverse of serialisation)."""
    outer, payload = rec.split_message(data)
    if dict(outer)["Content-Type"] == "text/event-json":
        pairs = json.loads(payload, object_pairs_hook=list)
        body = next((v for k, v in pairs if k == "_body"), None)
        return Event(tuple((k, v) for k, v in pairs if k not in ("_body", "Content-Length")), body)
    head, _, rest = payload.partition(b"\n\n")
    headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\n")]
    body = None
    if headers[-1][0] == "Content-Length":
        headers, body = headers[:-1], rest.decode()
    return Event(tuple((k, unquote(v)) for k, v in headers), body)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_every_recorded_event_reserialises_byte_for_byte(name: str) -> None:
    events = [r for r in rec.received(name) if (r.ctype or "").startswith("text/event")]
    assert events, name
    for row in events:
        fmt = "json" if row.ctype == "text/event-json" else "plain"
        assert _decode_recorded_event(row.data).frame(fmt) == row.data, row.event


def test_url_encoding_matches_freeswitch() -> None:
    assert wire.url_encode("fd00::2") == "fd00%3A%3A2"
    assert (
        wire.url_encode("Sat, 21 Nov 2026 19:43:49 GMT")
        == "Sat,%2021%20Nov%202026%2019%3A43%3A49%20GMT"
    )
    assert wire.url_encode("sipp@127.0.0.1:5070") == "sipp%40127.0.0.1%3A5070"
    assert wire.url_encode("tone_stream://%(1000,0,440)") == "tone_stream%3A//%25(1000,0,440)"
    # double_encode is off: an existing upper-case %XX survives, anything else is escaped
    assert wire.url_encode("%41 100%") == "%41%20100%25"
    assert wire.url_encode("%4a") == "%254a"
    assert wire.url_encode("café\n") == "caf%C3%A9%0A"
    assert wire.url_encode("+OK\n") == "%2BOK%0A"


def test_tricky_custom_event_keeps_its_body_out_of_the_headers() -> None:
    """Body with ': ', %41, 100% and a literal 'Content-Length: 5' (as recorded)."""
    body = '{"type":"json","data":{"h":"Content-Length: 5","i":"%0A%0A"}}'
    ev = Event(
        (("Event-Subclass", "mod_audio_fork::json"), ("Event-Name", "CUSTOM"), ("Unique-ID", "u")),
        body,
    )
    plain = ev.serialize_plain()
    assert plain.startswith(b"Event-Subclass: mod_audio_fork%3A%3Ajson\nEvent-Name: CUSTOM\n")
    assert plain.endswith(b"Unique-ID: u\nContent-Length: 61\n\n" + body.encode())
    as_json = json.loads(ev.serialize_json(), object_pairs_hook=list)
    assert as_json[-2:] == [("Content-Length", "61"), ("_body", body)]
    recorded = [
        r
        for r in rec.received("audio-fork-esl-plain.jsonl")
        if r.subclass == "mod_audio_fork::json"
    ]
    assert recorded[1].data.endswith(b"Content-Length: 61\n\n" + body.encode())


def test_hangup_complete_keeps_the_duplicate_hangup_cause_in_json() -> None:
    ev = Event(
        (("Event-Name", "CHANNEL_HANGUP_COMPLETE"), ("Hangup-Cause", "X"), ("Hangup-Cause", "X"))
    )
    assert ev.serialize_json().count(b'"Hangup-Cause":"X"') == 2


def test_replies_are_the_recorded_bytes() -> None:
    name = "esl-inbound-commands.jsonl"
    assert rec.received(name)[0].data == wire.auth_request()
    assert rec.reply_after(name, "auth ClueCon").data == wire.command_reply("+OK accepted")
    assert rec.reply_after(name, "foo bar").data == wire.command_reply("-ERR command not found")
    assert rec.reply_after(name, "api foo bar").data == wire.api_response(
        "-ERR foo Command not found!\n"
    )
    assert rec.reply_after(name, "exit").data == wire.command_reply("+OK bye")
    notice = rec.received(name)[-1]
    assert notice.data == wire.disconnect_notice()
    bg = rec.reply_after(name, "bgapi status")
    job = bg.text.split("Job-UUID: ")[-1].strip()
    assert bg.data == wire.command_reply_headers(
        [("Reply-Text", f"+OK Job-UUID: {job}"), ("Job-UUID", job)]
    )
    assert rec.received("esl-inbound-auth-fail.jsonl")[-1].data == wire.disconnect_notice()


def test_outbound_notices_are_the_recorded_bytes() -> None:
    linger = [
        r
        for r in rec.received("esl-outbound-async-full-linger.jsonl")
        if "disconnect-notice" in r.text
    ]
    uid = rec.UUID_RE.search(linger[0].text)
    assert uid is not None
    expected = wire.linger_notice(uid.group(0), "sofia/external/sipp@127.0.0.1:5076", -1)
    assert linger[0].data == expected
    assert linger[1].data == wire.disconnect_notice(uid.group(0))


def _commands(data: bytes, chunks: list[int]) -> list[wire.Command]:
    reader = wire.CommandReader()
    out = []
    pos = 0
    for size in chunks:
        reader.feed(data[pos : pos + size])
        pos += size
        while (cmd := reader.next_command()) is not None:
            out.append(cmd)
    reader.feed(data[pos:])
    while (cmd := reader.next_command()) is not None:
        out.append(cmd)
    return out


def test_command_reader_handles_any_split() -> None:
    data = (
        b"\r\nauth ClueCon\n\n"
        b"sendmsg abc\r\ncall-command: execute\r\nexecute-app-name: playback\r\n"
        b"content-type: text/plain\r\ncontent-length: 10\r\n\r\n/tmp/x.wav"
        b"event plain ALL\n\n"
    )
    whole = _commands(data, [len(data)])
    one_by_one = _commands(data, [1] * len(data))
    rng = random.Random(7)
    random_split = _commands(data, [rng.randint(1, 9) for _ in range(40)])
    for got in (whole, one_by_one, random_split):
        assert [c.line for c in got] == ["auth ClueCon", "sendmsg abc", "event plain ALL"]
        assert got[1].header("Execute-App-Name") == "playback"
        assert got[1].body == b"/tmp/x.wav"
    # the body is exactly Content-Length bytes; the next byte starts the next command
    assert whole[2].line == "event plain ALL"


def test_cjson_reprints_like_mod_audio_fork() -> None:
    text = (
        '{\n  "type": "json",\n\n  "data": {\n    "h": "Content-Length: 5",\n'
        '    "i": "%0A%0A"\n  }\n}'
    )
    assert (
        cjson_dumps(cjson_parse(text))
        == '{"type":"json","data":{"h":"Content-Length: 5","i":"%0A%0A"}}'
    )
    assert (
        cjson_dumps(cjson_parse('{"a":1.0,"b":0.93,"c":16000,"d":"café"}'))
        == '{"a":1,"b":0.93,"c":16000,"d":"café"}'
    )
    obj = cjson_parse('{"Type":"x","type":"y"}')
    assert obj.get("TYPE") == "x"  # cJSON_GetObjectItem is case-insensitive, first match wins
