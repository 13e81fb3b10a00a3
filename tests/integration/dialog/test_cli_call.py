"""The command line as a user runs it: kb add, serve, call a clip, stop with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AUDIO = Path(__file__).parents[2] / "data" / "audio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kb_serve_and_call_from_the_command_line(
    tmp_path: Path, model_cache: Path, transcribe: Any
) -> None:
    console, fork = free_port(), free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CALLCONTROL_", "DATABASE_URL", "REDIS_URL"))
        },
        "CALLCONTROL_DATA_DIR": str(tmp_path / "var"),
        "CALLCONTROL_PIPELINE__CACHE_DIR": str(model_cache),
        "CALLCONTROL_ESL__INBOUND_ENABLED": "false",
        "CALLCONTROL_ESL__OUTBOUND_PORT": "0",
        "CALLCONTROL_CONSOLE__PORT": str(console),
        "CALLCONTROL_FORK__PORT": str(fork),
        # Knowledge edits from another process are picked up well within the greeting.
        "CALLCONTROL_PIPELINE__KB_REFRESH_S": "0.2",
    }
    cli = [sys.executable, "-m", "callcontrol"]
    facts = tmp_path / "meetings.md"
    facts.write_text("# Meetings\n\nThe weekly meeting is on Monday at 10 am in room 3.\n")
    added = subprocess.run(
        [*cli, "kb", "add", str(facts), "--owner", "acme"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [*cli, "kb", "list", "--owner", "acme"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "meetings" in listed.stdout.lower(), listed.stdout + listed.stderr

    server = subprocess.Popen(
        [*cli, "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                ready = httpx.get(f"http://127.0.0.1:{console}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the worker never became ready"
            time.sleep(0.5)
        reply = tmp_path / "reply.wav"
        called = subprocess.run(
            [*cli, "call", str(AUDIO / "dialog_question.wav"), "--owner", "acme",
             "--url", f"ws://127.0.0.1:{fork}/direct", "--out", str(reply)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert called.returncode == 0, called.stderr
        assert "caller:" in called.stdout and "bot:" in called.stdout, called.stdout
        assert "meeting" in called.stdout.lower()
        from callcontrol.media.codecs import read_wav

        audio = read_wav(reply)
        heard = transcribe(audio.samples.tobytes(), audio.sample_rate).lower()
        assert "monday" in heard, (heard, called.stdout)

        # A question that starts with its first sample barges in on the greeting; once the
        # file has been sent the client waits for the bot to answer it (it used to hang up
        # there: the bot had been quiet since the barge-in, and printed no answer).
        called = subprocess.run(
            [*cli, "call", str(AUDIO / "dialog_barge_question.wav"), "--owner", "acme",
             "--url", f"ws://127.0.0.1:{fork}/direct", "--out", str(reply)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert called.returncode == 0, called.stdout + called.stderr
        lines = [line.strip() for line in called.stdout.splitlines()]
        said = [i for i, line in enumerate(lines) if line.startswith("caller:")]
        assert said and "meeting" in lines[said[-1]].lower(), called.stdout
        replies = [line for line in lines[said[-1] :] if line.startswith("bot:")]
        assert replies, called.stdout  # the answer, after the caller's words
        assert "monday" in replies[-1].lower(), called.stdout
        assert "(interrupted)" not in replies[-1], called.stdout
        assert "voice-to-voice" in replies[-1], called.stdout
        greeting = [line for line in lines[: said[0]] if line.startswith("bot:")]
        assert greeting and "(interrupted)" in greeting[0], called.stdout  # the clip cut it

        # Knowledge added from another process while the worker runs: the next call has it.
        hours = tmp_path / "hours.md"
        hours.write_text("# Opening hours\n\nOn Saturday we open at 9 am and close at 1 pm.\n")
        added = subprocess.run(
            [*cli, "kb", "add", str(hours), "--owner", "acme"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        called = subprocess.run(
            [*cli, "call", str(AUDIO / "dialog_saturday.wav"), "--owner", "acme",
             "--url", f"ws://127.0.0.1:{fork}/direct", "--out", str(reply)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert called.returncode == 0, called.stdout + called.stderr
        answers = [line for line in called.stdout.splitlines() if line.strip().startswith("bot:")]
        assert any("9 am" in line for line in answers), called.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0
