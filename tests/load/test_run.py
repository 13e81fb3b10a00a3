"""tests/load/run.py end to end against sipp UAS stand-ins, and its report pieces."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.load import run

needs_sipp = pytest.mark.skipif(not shutil.which("sipp"), reason="sipp not installed")

REJECT_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
  <recv request="ACK"/>
</scenario>
"""


def _uas(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sipp", *args, "-i", "127.0.0.1", "-nostdin", "-timeout", "20s"],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def uas_port() -> Iterator[int]:
    yield run.free_udp_port()


@needs_sipp
def test_successful_calls_are_counted(
    tmp_path: Path, uas_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    uas = _uas(["-sn", "uas", "-p", str(uas_port), "-m", "2"], tmp_path)
    try:
        rc = run.main(
            ["--target", f"127.0.0.1:{uas_port}", "--rate", "4", "--calls", "2"]
            + ["--scenarios", "hangup", "--out", str(tmp_path / "out"), "--database-url", ""]
        )
    finally:
        uas.wait(timeout=30)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "hangup     calls     2  ok     2  failed     0" in out
    assert "success rate 100.0 %" in out
    assert "failed calls by reason: none" in out
    assert "voice-to-voice latency: no turns found" in out
    assert (tmp_path / "out" / "question.pcap").exists()


@needs_sipp
def test_failed_calls_are_reported_by_reason(
    tmp_path: Path, uas_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    busy = tmp_path / "busy.xml"
    busy.write_text(REJECT_UAS)
    uas = _uas(["-sf", str(busy), "-p", str(uas_port), "-m", "1"], tmp_path)
    try:
        rc = run.main(
            ["--target", f"127.0.0.1:{uas_port}", "--rate", "1", "--calls", "1"]
            + ["--scenarios", "hangup", "--out", str(tmp_path / "out"), "--database-url", ""]
        )
    finally:
        uas.kill()
        uas.wait()
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "success rate 0.0 %" in out
    assert "hangup: UnexpectedMessage" in out, out


def test_stat_csv_parsing(tmp_path: Path) -> None:
    header = (
        "StartTime;OutgoingCall(C);SuccessfulCall(C);FailedCall(C);FailedMaxUDPRetrans(C);"
        "FailedUnexpectedMessage(C);FailedCallRejected(C)"
    )
    csv = tmp_path / "s.csv"
    csv.write_text(f"{header}\nx;1;0;0;0;0;0\nx;10;7;3;1;2;0\n")
    created, ok, failed, reasons = run.parse_stat_csv(csv)
    assert (created, ok, failed) == (10, 7, 3)
    assert reasons == {"MaxUDPRetrans": 1, "UnexpectedMessage": 2}


def _turns_db(path: Path, rows: list[tuple[str, float | None]]) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE turns (id TEXT, started_at DATETIME, voice_to_voice_ms FLOAT)")
    con.executemany(
        "INSERT INTO turns VALUES (?, ?, ?)", [(str(i), t, v) for i, (t, v) in enumerate(rows)]
    )
    con.commit()
    con.close()
    return f"sqlite+aiosqlite:///{path}"


def test_voice_to_voice_comes_from_the_turns_table(tmp_path: Path) -> None:
    since = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def ts(sec: int) -> str:
        return (since + timedelta(seconds=sec)).replace(tzinfo=None).isoformat(sep=" ")

    url = _turns_db(
        tmp_path / "cc.db", [(ts(-60), 5000.0), (ts(5), 1200.0), (ts(9), 1800.0), (ts(10), None)]
    )
    values, why = run.voice_to_voice(url, since)
    assert sorted(values) == [1200.0, 1800.0] and why == ""
    text = run.report([run.Result("question", 2, 2)], values, why)
    assert "voice-to-voice latency (2 turns): p50 1500 ms" in text


def test_voice_to_voice_tolerates_no_data(tmp_path: Path) -> None:
    since = datetime.now(UTC)
    assert run.voice_to_voice(None, since) == ([], "DATABASE_URL not set")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    values, why = run.voice_to_voice(f"sqlite+aiosqlite:///{empty}", since)
    assert values == [] and "turns" in why
    values, why = run.voice_to_voice("postgresql://u:p@127.0.0.1:1/none", since)
    assert values == [] and why
    assert "no turns found" in run.report([run.Result("silent", 1, 1)], [], why)


def test_percentiles() -> None:
    assert run.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert run.percentile([7.0], 0.99) == 7.0


def _cdrs_db(path: Path, rows: list[tuple[str, int, str]]) -> str:
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("CREATE TABLE cdrs (start_at TEXT, duration_s INTEGER, hangup_cause TEXT)")
    con.executemany("INSERT INTO cdrs VALUES (?, ?, ?)", rows)
    con.commit()
    con.close()
    return f"sqlite+aiosqlite:///{path}"


def test_calls_longer_than_their_scenario_are_failures(tmp_path: Path) -> None:
    """sipp counted 'hang up at once' calls that FreeSWITCH kept up for 21 s (it ignored
    a BYE with an empty request URI) as successful; the CDRs tell."""
    since = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def ts(sec: int) -> str:
        return (since + timedelta(seconds=sec)).replace(tzinfo=None).isoformat(sep=" ")

    url = _cdrs_db(
        tmp_path / "cc.db",
        [
            (ts(-60), 30, "NORMAL_CLEARING"),
            (ts(1), 1, "NORMAL_CLEARING"),
            (ts(2), 21, "NORMAL_CLEARING"),
        ],
    )
    cdrs, why = run.cdr_durations(url, since)
    assert cdrs is not None and sorted(cdrs) == [(1, "NORMAL_CLEARING"), (21, "NORMAL_CLEARING")]
    result = run.Result("hangup", calls=3, successful=3)
    run.check_calls(result, cdrs, why)
    assert (result.successful, result.failed) == (2, 1)
    assert result.reasons["LongerThanExpected"] == 1
    assert "only 2 of 3 calls have a CDR" in result.note
    unchecked = run.Result("hangup", calls=1, successful=1)
    run.check_calls(unchecked, *run.cdr_durations(None, since))
    assert unchecked.successful == 1 and "not checked" in unchecked.note


def test_a_handoff_counts_only_when_callcontrol_put_the_caller_through() -> None:
    """sipp's caller cannot tell a person from the bot: a completed call without a phone
    hand-off in callcontrol's database, or one the operator's phone never answered, fails."""
    result = run.Result("handoff", calls=3, successful=3)
    operator = run.Result("operator", calls=2, successful=2)
    run.check_handoffs(result, operator, 3, "")
    assert (result.successful, result.failed) == (2, 1)  # the phone answered only two
    assert result.reasons["NotPutThrough"] == 1
    unchecked = run.Result("handoff", calls=1, successful=1)
    run.check_handoffs(unchecked, operator, None, "DATABASE_URL not set")
    assert unchecked.successful == 0 and "hand-offs not checked" in unchecked.note


def test_phone_handoffs_are_read_from_the_hitl_table(tmp_path: Path) -> None:
    import sqlite3
    from datetime import UTC, datetime, timedelta

    db = tmp_path / "cc.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE hitl_requests (outcome TEXT, created_at TEXT)")
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        ("phone", str(now)),
        ("phone", str(now - timedelta(hours=1))),  # before the run
        ("answered", str(now)),  # typed at the desk
    ]
    con.executemany("INSERT INTO hitl_requests VALUES (?, ?)", rows)
    con.commit()
    con.close()
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert run.phone_handoffs(f"sqlite+aiosqlite:///{db}", since) == (1, "")
    assert run.phone_handoffs(None, since)[0] is None
