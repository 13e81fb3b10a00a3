"""A call's recording in the console: played and downloaded only from the recordings
directory, decrypted when encrypted, every listen and download in the audit log."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from callcontrol.app import Service
from callcontrol.recording import crypto
from callcontrol.recording.files import write_pcm
from callcontrol.store.models import AuditEntry, Call, Recording, TranscriptSegment
from tests.console.conftest import Console, add_user, console_settings, running_service, serve

KEY = os.urandom(32)


def stereo_wav(path: Path) -> None:
    t = np.arange(8000) / 8000
    left = (np.sin(2 * np.pi * 300 * t) * 9000).astype(np.int16)
    right = np.zeros_like(left)
    right[4000:] = 12000
    write_pcm(path, np.stack([left, right], axis=1), 8000)


@pytest.fixture
async def console(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Console]:
    root = tmp_path / "recordings"
    (root / "a").mkdir(parents=True)
    stereo_wav(root / "a" / "call.wav")
    write_pcm(root / "a" / "mixed.wav", np.zeros(800, dtype=np.int16), 8000)
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"secret")
    (root / "a" / "link.wav").symlink_to(secret)
    (root / "b").mkdir()
    stereo_wav(root / "b" / "call.wav")
    crypto.encrypt_file(root / "b" / "call.wav", KEY)
    settings = console_settings(
        tmp_path,
        sqlite_url,
        calls={"recordings_dir": str(root)},
        recording={"encryption_key": base64.b64encode(KEY).decode()},
    )
    async with running_service(settings) as service:
        await add_user(service, "root", "admin")
        await add_user(service, "alice")
        await _rows(service)
        async with serve(service) as url:
            c = Console(service, url)
            try:
                yield c
            finally:
                await c.aclose()


async def _rows(service: Service) -> None:
    def rec(call_id: str, directory: str, stereo: str, **kw: object) -> Recording:
        values: dict[str, object] = {
            "call_id": call_id,
            "directory": directory,
            "stereo_file": stereo,
            "mixed_file": "mixed.wav",
            "status": "ready",
            "duration_s": 1.0,
        }
        values.update(kw)
        return Recording(**values)

    async with service.sessions() as s:
        s.add_all(
            [
                Call(id="good", caller_number="+15550100"),
                rec("good", "a", "call.wav"),
                rec("escape", "..", "secret.wav", mixed_file="secret.wav"),
                rec("link", "a", "link.wav", mixed_file="link.wav"),
                rec("missing", "a", "nope.wav", mixed_file="nope.wav"),
                rec("unfinished", "a", "call.wav", status="recording"),
                rec("sealed", "b", "call.wav.enc", mixed_file=None, encrypted=True),
                TranscriptSegment(
                    call_id="good",
                    channel="caller",
                    speaker="caller",
                    start_s=0.2,
                    end_s=0.9,
                    text="When do you open?",
                ),
                TranscriptSegment(
                    call_id="good",
                    channel="other",
                    speaker="bot",
                    start_s=0.5,
                    end_s=1.0,
                    text="At nine.",
                ),
            ]
        )
        await s.commit()


async def audit_rows(service: Service) -> list[tuple[str | None, str, str | None]]:
    from sqlalchemy import select

    async with service.sessions() as s:
        rows = (await s.execute(select(AuditEntry).order_by(AuditEntry.at))).scalars()
        return [(r.username, r.action, r.call_id) for r in rows]


async def test_a_recording_plays_downloads_and_every_access_is_audited(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    played = await client.get("/calls/good/recording")
    assert played.status_code == 200 and played.content.startswith(b"RIFF")
    assert played.headers["content-type"] == "audio/wav"
    assert played.headers["content-disposition"].startswith("inline")
    # A player seeking asks for ranges: one listen, not one per range.
    ranged = await client.get("/calls/good/recording", headers={"Range": "bytes=100-"})
    assert ranged.status_code == 206
    stereo = await client.get("/calls/good/recording?track=stereo&download=1")
    assert stereo.status_code == 200
    assert stereo.headers["content-disposition"].startswith("attachment")
    assert "good-stereo.wav" in stereo.headers["content-disposition"]
    assert await audit_rows(console.service) == [
        ("alice", "listen", "good"),
        ("alice", "download", "good"),
    ]
    # The waveform (two channels) and the per-channel transcript.
    info = (await client.get("/api/calls/good/recording")).json()
    assert info["status"] == "ready" and len(info["peaks"]) == 2
    left, right = info["peaks"]
    # The other side starts half-way through (buckets are not all the same width).
    assert max(left) > 0.2 and max(right[:280]) == 0 and max(right[310:]) > 0.3
    assert [(s["speaker"], s["text"]) for s in info["segments"]] == [
        ("caller", "When do you open?"),
        ("bot", "At nine."),
    ]
    page = await client.get("/calls/good")
    assert 'id="recording-panel"' in page.text and "recording.js" in page.text
    # The audit log is for admins.
    assert (await client.get("/api/audit")).status_code == 403
    admin, _ = await console.signed_in("root")
    entries = (await admin.get("/api/audit?call_id=good")).json()
    assert [(e["username"], e["action"]) for e in entries] == [
        ("alice", "download"),
        ("alice", "listen"),
    ]


async def test_nothing_outside_the_recordings_directory_is_served(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    for call_id in ("escape", "link", "missing", "unfinished", "nosuchcall"):
        for track in ("mixed", "stereo"):
            r = await client.get(f"/calls/{call_id}/recording?track={track}")
            assert r.status_code == 404, (call_id, track)
            assert b"secret" not in r.content
    assert (await client.get("/calls/good/recording?track=left")).status_code == 422
    assert await audit_rows(console.service) == []  # nothing was served


async def test_an_encrypted_recording_is_decrypted_to_play(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    r = await client.get("/calls/sealed/recording?track=stereo")
    assert r.status_code == 200 and r.content.startswith(b"RIFF")
    info = (await client.get("/api/calls/sealed/recording")).json()
    assert info["encrypted"] and len(info["peaks"]) == 2
    # With another key, or none, it cannot be played (and the page says why).
    other = base64.b64encode(os.urandom(32)).decode()
    console.service.settings.recording.encryption_key = SecretStr(other)
    r = await client.get("/calls/sealed/recording?track=stereo")
    assert r.status_code == 409 and "wrong key" in r.text
    console.service.settings.recording.encryption_key = None
    r = await client.get("/calls/sealed/recording?track=stereo")
    assert r.status_code == 409 and "no key is configured" in r.text


async def test_an_admin_puts_a_recording_on_hold(console: Console) -> None:
    operator, _ = await console.signed_in("alice")
    assert (await operator.post("/api/calls/good/recording/keep")).status_code == 403
    admin, _ = await console.signed_in("root")
    r = await admin.post("/api/calls/good/recording/keep")
    assert r.status_code == 200 and r.json() == {"call_id": "good", "keep": True}
    assert (await admin.get("/api/calls/good/recording")).json()["keep"] is True
    assert ("root", "keep", "good") in await audit_rows(console.service)
