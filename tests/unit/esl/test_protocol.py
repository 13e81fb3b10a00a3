"""The pure ESL framer, held against real FreeSWITCH 1.10.12 byte streams."""

from __future__ import annotations

import json

import pytest

from callcontrol.errors import EslProtocolError
from callcontrol.esl.protocol import EslMessage, EslParser, encode_command, parse_event
from tests.recordings import esl_captures, recv_bytes

RECORDINGS = esl_captures()


def frame_all(data: bytes, chunk: int) -> list[EslMessage | EslProtocolError]:
    parser = EslParser()
    out: list[EslMessage | EslProtocolError] = []
    for i in range(0, len(data), chunk):
        parser.feed(data[i : i + chunk])
        out.extend(parser.messages())
    tail = parser.close()
    if tail is not None:
        out.append(tail)
    return out


@pytest.mark.parametrize("name", RECORDINGS)
def test_recordings_frame_identically_whatever_the_chunking(name: str) -> None:
    data = recv_bytes(name)
    whole = frame_all(data, len(data))
    assert whole and not any(isinstance(m, EslProtocolError) for m in whole)
    # Byte at a time and odd chunk sizes (split UTF-8 sequences) give the same messages.
    for chunk in (1, 7, 4093):
        assert frame_all(data, chunk) == whole
    # Every event parses; header values are URL-decoded.
    for message in whole:
        assert isinstance(message, EslMessage)
        if message.content_type.startswith("text/event-"):
            event = parse_event(message)
            assert event.name
            if "FreeSWITCH-IPv6" in event.headers:
                assert event.headers["FreeSWITCH-IPv6"] == "fd00::2"


def _fork_json_bodies(name: str) -> list[str]:
    data = recv_bytes(name)
    bodies = []
    for message in frame_all(data, 13):
        assert isinstance(message, EslMessage)
        if message.content_type.startswith("text/event-"):
            event = parse_event(message)
            if event.subclass == "mod_audio_fork::json":
                assert event.body is not None
                bodies.append(event.body)
    return bodies


@pytest.mark.parametrize("name", ["audio-fork-esl-plain", "audio-fork-esl-json"])
def test_mod_audio_fork_json_bodies_arrive_intact(name: str) -> None:
    compact, pretty = _fork_json_bodies(name)
    data = json.loads(compact)["data"]
    # What greenswitch's own parser mangles: ": ", %xx and a bare % inside the body.
    assert data == {
        "a": "key: value",
        "b": "%41%42%43",
        "c": "100% sure",
        "d": "line1\nline2",
        "e": "café",
        "f": {"g": "x: y"},
    }
    # The pretty-printed one contains the text "Content-Length: 5" and %0A%0A.
    assert "Content-Length: 5" in pretty
    assert "%0A%0A" in pretty
    json.loads(pretty)


def test_play_audio_event_carries_the_temp_file() -> None:
    data = recv_bytes("audio-fork-esl-plain")
    files = []
    for message in frame_all(data, len(data)):
        assert isinstance(message, EslMessage)
        if message.content_type == "text/event-plain":
            event = parse_event(message)
            if event.subclass == "mod_audio_fork::play_audio":
                assert event.body is not None
                files.append(json.loads(event.body)["file"])
                assert event.name == "CUSTOM"
                assert event.key == "mod_audio_fork::play_audio"
    assert len(files) == 2 and all(f.endswith(".tmp.r16") for f in files)


def test_outbound_connect_reply_has_channel_headers_and_no_body() -> None:
    data = recv_bytes("esl-outbound-async-full-linger")
    first = frame_all(data, 5)[0]
    assert isinstance(first, EslMessage)
    assert first.content_type == "command/reply"
    assert first.reply_text == "+OK\n"  # %2BOK%0A decoded
    assert first.headers["Socket-Mode"] == "async"
    assert first.headers["Unique-ID"]
    assert first.body == b""


def test_garbage_is_reported_and_the_stream_recovers() -> None:
    good = b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n"
    parser = EslParser()
    parser.feed(b"\x00\xff garbage without colon\n\n" + good)
    items = list(parser.messages())
    assert isinstance(items[0], EslProtocolError)
    assert isinstance(items[1], EslMessage) and items[1].body == b"+OK\n"


def test_bad_content_length_is_an_error_not_a_crash() -> None:
    parser = EslParser()
    parser.feed(b"Content-Type: api/response\nContent-Length: abc\n\n")
    parser.feed(b"Content-Type: command/reply\nReply-Text: +OK\n\n")
    items = list(parser.messages())
    assert isinstance(items[0], EslProtocolError) and "Content-Length" in str(items[0])
    assert isinstance(items[1], EslMessage) and items[1].reply_text == "+OK"


def test_oversized_body_and_endless_header_are_refused() -> None:
    parser = EslParser(max_body_bytes=100, max_header_bytes=64)
    parser.feed(b"Content-Type: api/response\nContent-Length: 101\n\n")
    assert isinstance(next(parser.messages()), EslProtocolError)
    parser.feed(b"X" * 100)
    errors = list(parser.messages())
    assert errors and isinstance(errors[0], EslProtocolError)
    assert parser.buffered == 0


def test_truncated_frame_is_reported_on_close() -> None:
    parser = EslParser()
    parser.feed(b"Content-Length: 50\nContent-Type: text/event-plain\n\nEvent-Name: CHAN")
    assert list(parser.messages()) == []
    error = parser.close()
    assert isinstance(error, EslProtocolError) and "16 of 50 bytes" in str(error)


def test_plain_event_with_short_body_is_an_error() -> None:
    inner = b"Event-Name: CUSTOM\nContent-Length: 10\n\nabc"
    message = EslMessage({"Content-Type": "text/event-plain"}, inner)
    with pytest.raises(EslProtocolError):
        parse_event(message)


def test_json_event_body_and_headers() -> None:
    body = json.dumps({"Event-Name": "CUSTOM", "Event-Subclass": "x::y", "_body": "{}"}).encode()
    event = parse_event(EslMessage({"Content-Type": "text/event-json"}, body))
    assert event.key == "x::y" and event.body == "{}"
    with pytest.raises(EslProtocolError):
        parse_event(EslMessage({"Content-Type": "text/event-json"}, b"{not json"))


def test_encode_command_counts_body_bytes() -> None:
    raw = encode_command("sendmsg abc", {"call-command": "execute"}, body="é")
    assert raw.endswith(b"content-length: 2\n\n\xc3\xa9")
    with pytest.raises(ValueError):
        encode_command("api x\nexit")


def test_a_nul_in_a_header_value_is_dropped() -> None:
    """A caller ID of "12%0034" put a NUL into the CDR, which PostgreSQL refuses:
    the call's CDR went to the dead-letter file only."""
    parser = EslParser()
    body = (
        b"Event-Name: CHANNEL_CREATE\nUnique-ID: u1\nCaller-Caller-ID-Number: 12%0034\n"
        b"Caller-Caller-ID-Name: A%00%20B\n\n"
    )
    parser.feed(
        b"Content-Length: "
        + str(len(body)).encode()
        + b"\nContent-Type: text/event-plain\n\n"
        + body
    )
    message = parser.next_message()
    assert message is not None
    event = parse_event(message)
    assert event.headers["Caller-Caller-ID-Number"] == "1234"
    assert event.headers.get("Caller-Caller-ID-Name") == "A B"
