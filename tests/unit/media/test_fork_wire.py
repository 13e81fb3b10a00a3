"""The pure mod_audio_fork contract: parse what FreeSWITCH sends, build what it accepts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from callcontrol.errors import ForkProtocolError
from callcontrol.esl.protocol import EslMessage, EslParser, parse_event
from callcontrol.media import fork_esl as fe
from callcontrol.media import fork_wire as fw
from callcontrol.media.fork_esl import (
    BufferOverrunEvent,
    ConnectEvent,
    ConnectFailedEvent,
    DataEvent,
    DisconnectEvent,
    KillAudioEvent,
    PlayAudioEvent,
)
from callcontrol.media.fork_wire import (
    Disconnect,
    ForkMetadata,
    ForkWireError,
    KillAudio,
    OtherMessage,
    PlayAudio,
    Transcription,
)
from tests.recordings import recv_bytes

REC = Path(__file__).parents[2] / "data" / "recordings" / "freeswitch-1.10.12"
UUID = "8bb39c01-0730-4849-bec0-2025c7656f2c"


# --- metadata ------------------------------------------------------------------------


def test_recorded_metadata_frame_parses_without_token_only_when_allowed() -> None:
    first = json.loads((REC / "ws-fork-mono-16k.frames.jsonl").read_text().splitlines()[0])
    text = first["text"]
    with pytest.raises(ForkWireError, match="no token") as err:
        ForkMetadata.parse(text)
    assert err.value.close_code == 1008
    meta = ForkMetadata.parse(text, require_token=False)
    assert (meta.call_id, meta.sample_rate, meta.mix, meta.channels) == (UUID, 16000, "mono", 1)


def test_metadata_roundtrip_keeps_extra_keys() -> None:
    meta = ForkMetadata(token="t0k", sample_rate=8000, mix="stereo", call_id=UUID, extra={"a": 1})
    text = meta.to_json()
    assert " " not in text
    again = ForkMetadata.parse(text)
    assert again == meta
    assert again.channels == 2
    assert dict(again.extra) == {"a": 1}


@pytest.mark.parametrize(
    ("text", "code", "match"),
    [
        ("not json", 1003, "not JSON"),
        ("[1,2]", 1003, "not a JSON object"),
        (b"\xff\xfe", 1003, "not JSON"),
        ('{"callId":"x"}', 1008, "no token"),
        ('{"token":""}', 1008, "no token"),
        ('{"token":5}', 1008, "not a string"),
        ('{"token":"t","rate":44100}', 1003, "rate"),
        ('{"token":"t","rate":true}', 1003, "rate"),
        ('{"token":"t","rate":"12k"}', 1003, "rate"),
        ('{"token":"t","mix":"quad"}', 1003, "mix"),
        ('{"token":"t","callId":"a b"}', 1008, "callId"),
        ('{"token":"t","callId":"../x"}', 1008, "callId"),
    ],
)
def test_bad_metadata_is_refused_with_a_close_code(text: str, code: int, match: str) -> None:
    with pytest.raises(ForkWireError, match=match) as err:
        ForkMetadata.parse(text)
    assert err.value.close_code == code
    assert isinstance(err.value, ForkProtocolError)


@pytest.mark.parametrize(
    ("rate", "want"), [("16k", 16000), ("8k", 8000), ("8000", 8000), (16000, 16000)]
)
def test_metadata_rate_forms(rate: object, want: int) -> None:
    assert ForkMetadata.parse(json.dumps({"token": "t", "rate": rate})).sample_rate == want


def test_metadata_rate_defaults_to_the_server_rate() -> None:
    assert ForkMetadata.parse('{"token":"t"}', default_rate=8000).sample_rate == 8000


# --- audio frames --------------------------------------------------------------------


def test_recorded_mono_audio_frame_is_the_caller() -> None:
    raw = (REC / "ws-fork-mono-16k.audio-L16LE-16000Hz-1ch.raw").read_bytes()[:960]
    samples = fw.caller_samples(raw, channels=1, max_bytes=65536)
    assert samples.dtype == np.int16 and samples.shape == (480,)
    assert samples.tobytes() == raw


def test_stereo_frame_returns_the_left_channel() -> None:
    raw = (REC / "ws-fork-stereo-16k.audio-L16LE-16000Hz-2ch.raw").read_bytes()[:1920]
    samples = fw.caller_samples(raw, channels=2, max_bytes=65536)
    both = np.frombuffer(raw, dtype="<i2").reshape(-1, 2)
    assert samples.shape == (480,)
    np.testing.assert_array_equal(samples, both[:, 0])
    assert samples.flags.c_contiguous


def test_little_endian_is_explicit() -> None:
    assert fw.caller_samples(b"\x01\x00\x00\x80", channels=1, max_bytes=10).tolist() == [1, -32768]


@pytest.mark.parametrize(
    ("data", "channels", "code"),
    [(b"\x00" * 961, 1, 1003), (b"\x00" * 6, 2, 1003), (b"\x00" * 2000, 1, 1009)],
)
def test_bad_audio_frames(data: bytes, channels: int, code: int) -> None:
    with pytest.raises(ForkWireError) as err:
        fw.caller_samples(data, channels=channels, max_bytes=1920)
    assert err.value.close_code == code


def test_empty_frame_is_graceful_shutdown() -> None:
    assert fw.caller_samples(b"", channels=1, max_bytes=10).size == 0


# --- server -> FreeSWITCH --------------------------------------------------------------


def test_play_audio_message_shape() -> None:
    pcm = np.arange(160, dtype=np.int16).tobytes()
    text = PlayAudio(pcm, 8000, text="hi there").to_json()
    obj = json.loads(text)
    assert obj == {
        "type": "playAudio",
        "data": {
            "audioContentType": "raw",
            "sampleRate": 8000,
            "audioContent": base64.b64encode(pcm).decode(),
            "textContent": "hi there",
        },
    }
    assert fw.parse_server_message(text) == PlayAudio(pcm, 8000, "raw", "hi there")


def test_play_audio_refuses_what_the_module_cannot_take() -> None:
    with pytest.raises(ForkWireError, match="8000 or 16000"):
        PlayAudio(b"\x00\x00", 22050)
    with pytest.raises(ForkWireError, match="whole L16"):
        PlayAudio(b"\x00", 16000)
    big = PlayAudio(b"\x00" * 500_000, 16000)
    with pytest.raises(ForkWireError, match="split the audio"):
        big.to_json()


def test_max_raw_bytes_fits_the_limit() -> None:
    limit = 50_000
    n = PlayAudio.max_raw_bytes(limit, text="")
    assert n % 2 == 0
    assert len(PlayAudio(b"\x01" * n, 16000, text="").to_json(max_bytes=limit)) <= limit
    assert len(PlayAudio(b"\x01" * (n + 400), 16000).to_json(max_bytes=10**9)) > limit - 300


def test_wave_play_audio_is_passed_through() -> None:
    msg = fw.parse_server_message(PlayAudio(b"RIFF....", 22050, "wave").to_json())
    assert msg == PlayAudio(b"RIFF....", 22050, "wave")


def test_other_server_messages() -> None:
    assert KillAudio().to_json() == '{"type":"killAudio"}'
    assert fw.parse_server_message('{"type": "killAudio"}') == KillAudio()
    t = Transcription({"text": "hi", "is_final": True})
    assert fw.parse_server_message(t.to_json()) == t
    assert Disconnect().to_json() == '{"type":"disconnect"}'
    d = Disconnect({"reason": "server done"})
    assert fw.parse_server_message(d.to_json()) == d
    assert fw.parse_server_message('{"type":"json","data":{"a":1}}') == OtherMessage(
        "json", {"a": 1}
    )


def test_recorded_server_messages_parse() -> None:
    """What the recorder's server sent FreeSWITCH (playAudio rows are truncated in the log)."""
    rows = [
        json.loads(line)
        for line in (REC / "ws-server-view-of-audio-fork-esl-json.frames.jsonl")
        .read_text()
        .splitlines()
    ]
    texts = [r["text"] for r in rows if r["dir"] == "send" and r["opcode"] == "text"]
    kinds = [type(fw.parse_server_message(t)).__name__ for t in texts if "playAudio" not in t]
    assert kinds == [
        "KillAudio",
        "OtherMessage",
        "OtherMessage",
        "Transcription",
        "OtherMessage",
        "Disconnect",
    ]


@pytest.mark.parametrize(
    "text",
    [
        '{"data":{}}',
        '{"type":"playAudio"}',
        '{"type":"playAudio","data":{"audioContentType":"mp3","sampleRate":8000,"audioContent":""}}',
        '{"type":"playAudio","data":{"audioContentType":"raw","sampleRate":0,"audioContent":""}}',
        '{"type":"playAudio","data":{"audioContentType":"raw","sampleRate":8000,"audioContent":"!"}}',
        '{"type":"playAudio","data":{"audioContentType":"raw","sampleRate":8000}}',
        '{"type":"x","data":[1]}',
    ],
)
def test_bad_server_messages(text: str) -> None:
    with pytest.raises(ForkWireError):
        fw.parse_server_message(text)


# --- CUSTOM events ---------------------------------------------------------------------


def test_event_bodies() -> None:
    body = (
        '{"audioContentType":"raw","sampleRate":16000,"textContent":"1.0s 440Hz: tone %41",'
        '"file":"/opt/fs/tmp/2a63_2.tmp.r16"}'
    )
    assert fe.parse_fork_event(fe.EVENT_PLAY_AUDIO, body) == PlayAudioEvent(
        "/opt/fs/tmp/2a63_2.tmp.r16", "raw", 16000, "1.0s 440Hz: tone %41"
    )
    assert fe.parse_fork_event(fe.EVENT_CONNECT_FAILED, '{"reason":"Unable to connect"}') == (
        ConnectFailedEvent("Unable to connect")
    )
    assert fe.parse_fork_event(fe.EVENT_DISCONNECT, None) == DisconnectEvent(None)
    assert fe.parse_fork_event(fe.EVENT_DISCONNECT, '{"reason":"server done"}') == DisconnectEvent(
        {"reason": "server done"}
    )
    assert fe.parse_fork_event(fe.EVENT_KILL_AUDIO, "") == KillAudioEvent()
    assert fe.parse_fork_event(fe.EVENT_BUFFER_OVERRUN, None) == BufferOverrunEvent()
    assert fe.parse_fork_event(fe.EVENT_CONNECT, None) == ConnectEvent()
    assert fe.parse_fork_event(fe.EVENT_ERROR, '{"code":42}') == DataEvent(
        fe.EVENT_ERROR, {"code": 42}
    )


@pytest.mark.parametrize(
    ("subclass", "body"),
    [
        (fe.EVENT_PLAY_AUDIO, None),
        (fe.EVENT_PLAY_AUDIO, '{"audioContentType":"raw"}'),
        (fe.EVENT_PLAY_AUDIO, "not json"),
        ("mod_other::thing", None),
    ],
)
def test_bad_event_bodies(subclass: str, body: str | None) -> None:
    with pytest.raises(ForkWireError):
        fe.parse_fork_event(subclass, body)


@pytest.mark.parametrize("name", ["audio-fork-esl-plain", "audio-fork-esl-json"])
def test_every_recorded_fork_event_parses(name: str) -> None:
    """Replay FreeSWITCH's ESL bytes for the fork session and parse each CUSTOM body."""
    parser = EslParser()
    parser.feed(recv_bytes(name))
    seen: list[object] = []
    for message in parser.messages():
        assert isinstance(message, EslMessage), message
        if not message.content_type.startswith("text/event-"):
            continue
        event = parse_event(message)
        subclass = event.headers.get("Event-Subclass", "")
        if subclass.startswith("mod_audio_fork::"):
            seen.append(fe.parse_fork_event(subclass, event.body))
    files = [e.file for e in seen if isinstance(e, PlayAudioEvent)]
    assert len(files) == 2 and all(f.endswith(".tmp.r16") for f in files)
    assert ConnectEvent() in seen and KillAudioEvent() in seen
    assert ConnectFailedEvent("Unable to connect") in seen
    if name.endswith("json"):
        assert DisconnectEvent({"reason": "server done"}) in seen and DisconnectEvent(None) in seen


# --- api commands --------------------------------------------------------------------


def test_start_command_matches_the_recorded_one() -> None:
    uuid = "2a634702-c7f5-4a42-951e-f0a7eae9dba0"
    cmd = fe.build_fork_start_command(
        uuid,
        f"ws://127.0.0.1:8765/fork/{uuid}",
        metadata={"callId": uuid, "from": "sipp", "note": "compact-json"},
    )
    assert cmd == (
        f"uuid_audio_fork {uuid} start ws://127.0.0.1:8765/fork/{uuid} mono 16k "
        f'{{"callId":"{uuid}","from":"sipp","note":"compact-json"}}'
    )


def test_start_command_variants() -> None:
    cmd = fe.build_fork_start_command("u1", "wss://h/fork/u1", "stereo", 8000, bugname="b2")
    assert cmd == "uuid_audio_fork u1 start wss://h/fork/u1 stereo 8k b2"
    meta = {"callId": "u1", "token": fw.new_fork_token(), "rate": 16000, "name": "José"}
    cmd = fe.build_fork_start_command("u1", "ws://h/fork/u1", metadata=meta)
    assert json.loads(cmd.split(" ", 6)[6]) == meta  # non-ASCII is escaped, not cut


@pytest.mark.parametrize(
    "metadata",
    [{"note": "two words"}, {"note": "it's"}, {"k v": 1}, {"nbsp": "a\u00a0b", "x": "y z"}],
)
def test_metadata_that_freeswitch_would_cut_is_refused(metadata: dict[str, str]) -> None:
    with pytest.raises(ForkWireError, match="would be cut"):
        fe.build_fork_start_command("u1", "ws://h/x", metadata=metadata)


def test_control_characters_are_escaped_not_cut() -> None:
    cmd = fe.build_fork_start_command("u1", "ws://h/x", metadata={"note": "tab\there\nnl"})
    assert cmd.endswith('{"note":"tab\\there\\nnl"}')


def test_start_command_refuses_bad_arguments() -> None:
    with pytest.raises(ForkWireError):
        fe.build_fork_start_command("u 1", "ws://h/x")
    with pytest.raises(ForkWireError):
        fe.build_fork_start_command("u1", "http://h/x")
    with pytest.raises(ForkWireError):
        fe.build_fork_start_command("u1", "ws://h/x", mix="quad")  # type: ignore[arg-type]


def test_stop_and_send_text_commands() -> None:
    assert fe.build_fork_stop_command("u1") == "uuid_audio_fork u1 stop audio_fork"
    assert (
        fe.build_fork_stop_command("u1", {"reason": "done"})
        == 'uuid_audio_fork u1 stop audio_fork {"reason":"done"}'
    )
    assert (
        fe.build_fork_send_text_command("u1", {"type": "dtmf", "digit": "5"})
        == 'uuid_audio_fork u1 send_text audio_fork {"type":"dtmf","digit":"5"}'
    )
    with pytest.raises(ForkWireError):
        fe.build_fork_send_text_command("u1", "two words")


# --- tokens ---------------------------------------------------------------------------


def test_tokens() -> None:
    a, b = fw.new_fork_token(), fw.new_fork_token()
    assert a != b and len(a) >= 32
    assert " " not in a and "'" not in a
    assert fw.token_matches(a, a)
    assert not fw.token_matches(a, b)
    assert not fw.token_matches(a, None)
    assert not fw.token_matches(a, "")
    assert not fw.token_matches("", "")
    assert not fw.token_matches(a, a + "x")


def test_close_reason_fits_a_control_frame() -> None:
    reason = fw.close_reason("é" * 100)
    assert len(reason.encode()) <= 123
    assert reason == "é" * 61
