"""Turn any WAV file into a pcap of RTP G.711 packets that sipp's ``play_pcap_audio`` can play.

    python -m tests.load.wav2pcap question.wav question.pcap [--law ulaw|alaw] [--ptime 20]

The WAV may be PCM (8/16/24/32-bit), IEEE float, mu-law or A-law, any rate, any channel count:
it is mixed to mono, resampled to 8 kHz and encoded as G.711 mu-law (RTP payload type 0) or
A-law (payload type 8). Each packet carries ``ptime`` ms of audio (160 samples at 20 ms) in an
RTP header with increasing sequence numbers and timestamps, one SSRC and the marker bit on the
first packet, inside UDP/IPv4/Ethernet headers with correct lengths and checksums. Packets are
time-stamped ``ptime`` apart in the pcap, which is the pace sipp replays them at; sipp rewrites
addresses and ports to the call's own.

Nothing but numpy is needed (soxr, when installed, resamples better).
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
PAYLOAD_TYPES = {"ulaw": 0, "alaw": 8}

# ------------------------------------------------------- G.711 (ITU-T, as in Sun's g711.c)

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> mu-law bytes."""
    val = pcm.astype(np.int32) >> 2
    mask = np.where(val < 0, 0x7F, 0xFF)
    val = np.minimum(np.abs(val), 8159) + 0x21
    seg = np.searchsorted(_SEG_UEND, val)  # first segment whose end >= val
    out = np.where(
        seg >= 8,
        0x7F,
        (np.minimum(seg, 7) << 4) | ((val >> (np.minimum(seg, 7) + 1)) & 0xF),
    )
    return (out ^ mask).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """mu-law bytes -> int16 samples."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def alaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> A-law bytes."""
    val = pcm.astype(np.int32) >> 3
    mask = np.where(val >= 0, 0xD5, 0x55)
    val = np.where(val >= 0, val, -val - 1)
    seg = np.searchsorted(_SEG_AEND, val)
    segc = np.minimum(seg, 7)
    mant = np.where(segc < 2, (val >> 1) & 0xF, (val >> segc) & 0xF)
    out = np.where(seg >= 8, 0x7F, (segc << 4) | mant)
    return (out ^ mask).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes -> int16 samples."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


ENCODERS = {"ulaw": ulaw_encode, "alaw": alaw_encode}
DECODERS = {"ulaw": ulaw_decode, "alaw": alaw_decode}

# ------------------------------------------------------------------ WAV reading


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Any common WAV -> (float32 mono samples in [-1, 1], sample rate)."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunk = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = chunk
        elif cid == b"data":
            body = chunk
        pos += 8 + size + (size & 1)
    if fmt is None or body is None:
        raise ValueError(f"{path}: no fmt or data chunk")
    tag, channels, rate = struct.unpack("<HHI", fmt[:8])
    bits = struct.unpack("<H", fmt[14:16])[0]
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format GUID's tag
        tag = struct.unpack("<H", fmt[24:26])[0]
    width = bits // 8
    frames = len(body) // (width * channels)
    body = body[: frames * width * channels]
    if tag == 7:
        samples = ulaw_decode(body).astype(np.float32) / 32768
    elif tag == 6:
        samples = alaw_decode(body).astype(np.float32) / 32768
    elif tag == 3 and bits in (32, 64):
        samples = np.frombuffer(body, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif tag == 1 and bits == 8:
        samples = (np.frombuffer(body, dtype=np.uint8).astype(np.float32) - 128) / 128
    elif tag == 1 and bits in (16, 32):
        dtype = "<i2" if bits == 16 else "<i4"
        samples = np.frombuffer(body, dtype=dtype).astype(np.float32) / float(2 ** (bits - 1))
    elif tag == 1 and bits == 24:
        raw = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        ints = np.where(ints & 0x800000, ints - (1 << 24), ints)
        samples = ints.astype(np.float32) / float(1 << 23)
    else:
        raise ValueError(f"{path}: unsupported WAV format tag {tag} with {bits} bits")
    mono = samples.reshape(-1, channels).mean(axis=1)
    return np.clip(mono, -1.0, 1.0).astype(np.float32), rate


def to_8k_int16(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate != RATE:
        try:
            import soxr

            samples = soxr.resample(samples, rate, RATE).astype(np.float32)
        except ImportError:  # pragma: no cover - soxr is a callcontrol dependency
            n = int(round(len(samples) * RATE / rate))
            samples = np.interp(
                np.arange(n) * rate / RATE, np.arange(len(samples)), samples
            ).astype(np.float32)
    # x 32768 (not 32767): G.711 and 16-bit input read back exactly.
    return np.clip(np.round(samples * 32768), -32768, 32767).astype(np.int16)


# ------------------------------------------------------------------ packets


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True)
class Endpoints:
    src_ip: str = "127.0.0.1"
    dst_ip: str = "127.0.0.1"
    src_port: int = 6000
    dst_port: int = 6002


def _ip(addr: str) -> bytes:
    return bytes(int(x) for x in addr.split("."))


def rtp_packets(
    payload: bytes,
    payload_type: int,
    ptime_ms: int = 20,
    ssrc: int | None = None,
    seq: int | None = None,
    timestamp: int | None = None,
    rng: random.Random | None = None,
) -> list[bytes]:
    """RTP packets (header + G.711 payload); the last one is padded with silence."""
    rng = rng or random.Random()
    step = RATE * ptime_ms // 1000
    silence = {0: b"\xff", 8: b"\xd5"}[payload_type]
    if len(payload) % step:
        payload += silence * (step - len(payload) % step)
    ssrc = rng.getrandbits(32) if ssrc is None else ssrc
    seq = rng.getrandbits(16) if seq is None else seq
    timestamp = rng.getrandbits(32) if timestamp is None else timestamp
    out = []
    for i in range(len(payload) // step):
        marker = 0x80 if i == 0 else 0
        header = struct.pack(
            "!BBHII",
            0x80,  # version 2, no padding, no extension, no CSRC
            marker | payload_type,
            (seq + i) & 0xFFFF,
            (timestamp + i * step) & 0xFFFFFFFF,
            ssrc,
        )
        out.append(header + payload[i * step : (i + 1) * step])
    return out


def udp_frame(rtp: bytes, ep: Endpoints, ident: int) -> bytes:
    """Ethernet + IPv4 + UDP around one RTP packet, with valid lengths and checksums."""
    udp_len = 8 + len(rtp)
    pseudo = _ip(ep.src_ip) + _ip(ep.dst_ip) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", ep.src_port, ep.dst_port, udp_len, 0) + rtp
    csum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # IPv4, 20-byte header
        0xB8,  # DSCP EF (voice)
        20 + udp_len,
        ident & 0xFFFF,
        0x4000,  # don't fragment
        64,
        17,  # UDP
        0,
        _ip(ep.src_ip),
        _ip(ep.dst_ip),
    )
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ether = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    return ether + ip + udp


def write_pcap(path: Path, frames: list[bytes], ptime_ms: int = 20, start: float = 0.0) -> None:
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
        for i, frame in enumerate(frames):
            t = start + i * ptime_ms / 1000
            sec, usec = int(t), int(round((t - int(t)) * 1_000_000))
            fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)


def wav_to_pcap(
    wav: Path,
    pcap: Path,
    law: str = "ulaw",
    ptime_ms: int = 20,
    endpoints: Endpoints | None = None,
    seed: int | None = None,
) -> int:
    """Convert; return the number of RTP packets written."""
    if law not in ENCODERS:
        raise ValueError(f"law must be one of {sorted(ENCODERS)}")
    samples, rate = read_wav(wav)
    payload = ENCODERS[law](to_8k_int16(samples, rate))
    rng = random.Random(seed)
    packets = rtp_packets(payload, PAYLOAD_TYPES[law], ptime_ms, rng=rng)
    ep = endpoints or Endpoints()
    frames = [udp_frame(p, ep, ident=i + 1) for i, p in enumerate(packets)]
    write_pcap(pcap, frames, ptime_ms, start=1_700_000_000.0)
    return len(frames)


# ------------------------------------------------------------------ reading back (tests)


@dataclass(frozen=True)
class RtpPacket:
    time: float
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    udp_checksum_ok: bool
    ip_checksum_ok: bool


def read_pcap(path: Path) -> list[RtpPacket]:
    """Parse a pcap written by this tool (Ethernet/IPv4/UDP/RTP) back into RTP packets."""
    data = Path(path).read_bytes()
    magic, major, minor, _tz, _sig, _snap, linktype = struct.unpack("<IHHiIII", data[:24])
    if (magic, major, minor, linktype) != (0xA1B2C3D4, 2, 4, 1):
        raise ValueError("not a little-endian v2.4 Ethernet pcap")
    pos, out = 24, []
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[pos : pos + 16])
        frame = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        assert incl == orig == len(frame)
        assert frame[12:14] == b"\x08\x00"
        ip = frame[14:34]
        assert ip[0] == 0x45 and ip[9] == 17
        total = struct.unpack("!H", ip[2:4])[0]
        udp = frame[34 : 14 + total]
        src, dst = ip[12:16], ip[16:20]
        udp_len = struct.unpack("!H", udp[4:6])[0]
        assert udp_len == len(udp)
        pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
        rtp = udp[8:]
        b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", rtp[:12])
        assert b0 >> 6 == 2
        out.append(
            RtpPacket(
                time=sec + usec / 1e6,
                payload_type=b1 & 0x7F,
                marker=bool(b1 & 0x80),
                seq=seq,
                timestamp=ts,
                ssrc=ssrc,
                payload=rtp[12 + 4 * (b0 & 0x0F) :],
                udp_checksum_ok=_checksum(pseudo + udp) == 0,
                ip_checksum_ok=_checksum(ip) == 0,
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wav", type=Path)
    ap.add_argument("pcap", type=Path)
    ap.add_argument("--law", choices=sorted(ENCODERS), default="ulaw", help="PCMU (0) or PCMA (8)")
    ap.add_argument("--ptime", type=int, default=20, help="milliseconds of audio per packet")
    ap.add_argument("--src-port", type=int, default=6000)
    ap.add_argument("--dst-port", type=int, default=6002)
    ap.add_argument("--seed", type=int, help="fixed SSRC/sequence/timestamp start")
    args = ap.parse_args(argv)
    n = wav_to_pcap(
        args.wav,
        args.pcap,
        args.law,
        args.ptime,
        Endpoints(src_port=args.src_port, dst_port=args.dst_port),
        args.seed,
    )
    print(f"{args.pcap}: {n} RTP packets, {n * args.ptime / 1000:.2f} s, {args.law}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
