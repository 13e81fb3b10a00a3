"""G.711 against the reference implementation and sox; sample formats; WAV files."""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callcontrol.errors import MediaError
from callcontrol.media import codecs

AUDIO = Path(__file__).parents[2] / "data" / "audio"
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def _audioop() -> Any:
    """Python's C implementation of Sun's g711.c (deprecated, gone in 3.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            pytest.skip("audioop is not available on this Python")
    return audioop


def test_ulaw_matches_the_reference_for_every_sample() -> None:
    audioop = _audioop()
    assert codecs.ulaw_encode(ALL_INT16) == audioop.lin2ulaw(ALL_INT16.tobytes(), 2)
    every_byte = bytes(range(256))
    assert codecs.ulaw_decode(every_byte).tobytes() == audioop.ulaw2lin(every_byte, 2)


def test_alaw_matches_the_reference_for_every_sample() -> None:
    audioop = _audioop()
    assert codecs.alaw_encode(ALL_INT16) == audioop.lin2alaw(ALL_INT16.tobytes(), 2)
    every_byte = bytes(range(256))
    assert codecs.alaw_decode(every_byte).tobytes() == audioop.alaw2lin(every_byte, 2)


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(codecs.ulaw_encode, codecs.ulaw_decode), (codecs.alaw_encode, codecs.alaw_decode)],
)
def test_g711_roundtrip_error_is_within_one_quantisation_step(encode, decode) -> None:  # type: ignore[no-untyped-def]
    back = decode(encode(ALL_INT16)).astype(np.int32)
    err = np.abs(back - ALL_INT16.astype(np.int32))
    # log companding: the step grows with the magnitude, ~1/16 of the value at most
    assert np.all(err <= np.maximum(64, np.abs(ALL_INT16.astype(np.int32)) // 15))
    # decoding what was encoded is a fixed point
    assert encode(back.astype(np.int16)) == encode(ALL_INT16)


def test_g711_keeps_a_sine() -> None:
    t = np.arange(8000) / 8000
    sine = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    for enc, dec in (
        (codecs.ulaw_encode, codecs.ulaw_decode),
        (codecs.alaw_encode, codecs.alaw_decode),
    ):
        out = dec(enc(sine)).astype(np.float64)
        snr = 10 * np.log10(np.sum(sine.astype(np.float64) ** 2) / np.sum((out - sine) ** 2))
        assert snr > 30  # G.711 gives ~38 dB on a loud sine


def test_sox_mulaw_file_decodes_like_sox() -> None:
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    path = AUDIO / "speech_question.wav"
    ours = codecs.read_wav(path)
    pcm = subprocess.run(
        ["sox", str(path), "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-"],
        check=True,
        capture_output=True,
    ).stdout
    assert ours.sample_rate == 8000 and ours.channels == 1
    np.testing.assert_array_equal(ours.samples, np.frombuffer(pcm, dtype="<i2"))


def test_float_conversions() -> None:
    x = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    f = codecs.int16_to_float32(x)
    assert f.dtype == np.float32
    assert f[0] == -1.0 and f[2] == 0.0 and f[-1] < 1.0
    np.testing.assert_array_equal(codecs.float32_to_int16(f), x)
    clipped = codecs.float32_to_int16(np.array([-2.0, 2.0, 0.5], dtype=np.float32))
    assert clipped.tolist() == [-32768, 32767, 16384]
    with pytest.raises(MediaError):
        codecs.int16_to_float32(np.zeros(3, dtype=np.int32))


def test_pcm_bytes_are_little_endian() -> None:
    x = np.array([1, -2], dtype=np.int16)
    assert codecs.pcm_bytes(x) == b"\x01\x00\xfe\xff"
    np.testing.assert_array_equal(codecs.pcm_from_bytes(b"\x01\x00\xfe\xff"), x)
    with pytest.raises(MediaError, match="odd"):
        codecs.pcm_from_bytes(b"\x00")


def test_wav_roundtrip_mono_and_stereo(tmp_path: Path) -> None:
    mono = (np.arange(1000) % 200 - 100).astype(np.int16)
    codecs.write_wav(tmp_path / "m.wav", mono, 16000)
    back = codecs.read_wav(tmp_path / "m.wav")
    assert back.sample_rate == 16000 and back.channels == 1
    np.testing.assert_array_equal(back.samples, mono)
    stereo = np.stack([mono, -mono], axis=1)
    back2 = codecs.read_wav(codecs.wav_bytes(stereo, 8000))
    assert back2.channels == 2 and back2.duration_s == pytest.approx(1000 / 8000)
    np.testing.assert_array_equal(back2.mono(), mono)


def test_8bit_pcm_wav() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([0, 128, 255]))
    assert codecs.read_wav(buf.getvalue()).samples.tolist() == [-32768, 0, 32512]


def test_alaw_wav() -> None:
    """A minimal A-law WAV as sox writes it (format tag 6)."""
    payload = codecs.alaw_encode(np.array([0, 1000, -1000, 30000], dtype=np.int16))
    fmt = (6).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (8000).to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(payload).to_bytes(4, "little") + payload
    raw = b"RIFF" + len(body).to_bytes(4, "little") + body
    audio = codecs.read_wav(raw)
    np.testing.assert_array_equal(audio.samples, codecs.alaw_decode(payload))


@pytest.mark.parametrize("raw", [b"", b"RIFF\x00\x00\x00\x00WAVE", b"not a wav file at all"])
def test_bad_wav(raw: bytes) -> None:
    with pytest.raises(MediaError):
        codecs.read_wav(raw)
