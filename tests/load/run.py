"""sipp load test of a running callcontrol stack (``make load TARGET=host:port RATE=1 CALLS=10``).

    python -m tests.load.run --target 127.0.0.1:5060 --rate 1 --calls 10

Runs the sipp scenarios of tests/load/scenarios one after the other, each with ``--calls``
calls at ``--rate`` calls per second, and prints the success rate, the failed calls by reason
(from sipp's -trace_stat CSV and -trace_err log) and the voice-to-voice latency of the bot's
turns, read from callcontrol's database (table ``turns``, column ``voice_to_voice_ms``).

Scenarios (``--scenarios``, default ``question,hangup,silent``):
  question  a caller who asks a question (RTP played from a pcap made from --wav)
  hangup    a caller who hangs up at once
  silent    a caller who never speaks
  outbound  an outbound call answered by a sipp UAS: the UAS listens on --uas-port and the
            call is placed with ``originate`` over the Event Socket (CALLCONTROL_ESL__HOST,
            CALLCONTROL_ESL__PORT, CALLCONTROL_ESL__PASSWORD) to --outbound-dialstring, e.g.
            the PSTN gateway whose proxy is this UAS in a test stack.
  handoff   a caller who asks for a person is put through to an operator's phone (needs
            ``pipeline.handoff_by_phone`` on, for every owner or the number's owner). The
            runner plays the operator: it signs in to the console as --operator-user
            (LOAD_OPERATOR_USER / LOAD_OPERATOR_PASSWORD, a console user whose extension is
            --operator-ext), sets them available and keeps their console "open"; registers
            that extension (uac_register.xml, digest with --operator-sip-password or
            FREESWITCH_EXT_<ext>_PASSWORD) with a sipp UAS as its contact (uas_operator.xml on
            --operator-port), then places the calls one at a time (uac_handoff.xml asks for a
            person from --person-wav). A call counts as successful when sipp completed it
            and callcontrol's database holds a hand-off by phone for it (a HITL request with
            outcome ``phone``); the operator's sipp UAS must have answered as many calls.
  campaign  three small campaigns through the console's API (--operator-user), dialled by
            the running worker through --campaign-dialstring (the PSTN gateway, whose proxy
            is a sipp UAS on --uas-port in a test stack): callees that answer and ask the
            question (uas_answer.xml), are busy (uas_busy.xml), never answer
            (uas_no_answer.xml); every contact must end completed / busy / no_answer.

Options also come from the environment (handy with make): LOAD_SCENARIOS, LOAD_SERVICE (the
number called, default 9000: the bot), LOAD_CALLER, LOAD_SIP_USER / LOAD_SIP_PASSWORD (digest
credentials for the internal profile; FREESWITCH_EXT_<user>_PASSWORD is used when set),
LOAD_UAS_PORT, LOAD_OUTBOUND_DIALSTRING, LOAD_MIN_SUCCESS, DATABASE_URL.

Exit status: 0 when the success rate reaches --min-success (default 0.95), 1 otherwise,
2 when sipp could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.load import wav2pcap

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCENARIOS = {
    "question": "uac_question.xml",
    "hangup": "uac_hangup_at_once.xml",
    "silent": "uac_silent.xml",
    "outbound": "uas_answer.xml",
    "handoff": "uac_handoff.xml",
    "campaign": "uas_busy.xml",
}
# Scenarios that need more than the stack's defaults: a console user with an extension,
# hand-off by phone switched on (handoff); a console user to create campaigns (campaign).
NEEDS_SETUP = frozenset({"handoff", "campaign"})
# What the handoff scenario runs beside its callers: the operator's registration and phone.
HELPERS = {
    "register": "uac_register.xml",
    "operator": "uas_operator.xml",
    "no_answer": "uas_no_answer.xml",
}
DEFAULT_WAV = REPO / "tests" / "data" / "audio" / "load_question.wav"
PERSON_WAV = REPO / "tests" / "data" / "audio" / "dialog_person.wav"
# Longest a call of each scenario lasts (seconds), to size sipp's global timeout and to
# check, in callcontrol's CDRs, that FreeSWITCH really ended each call when sipp did.
CALL_SECONDS = {"question": 30, "hangup": 5, "silent": 50, "outbound": 45, "handoff": 40}


@dataclass
class Result:
    scenario: str
    calls: int = 0
    successful: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    note: str = ""

    @property
    def success_rate(self) -> float:
        return self.successful / self.calls if self.calls else 0.0


# ------------------------------------------------------------------ sipp output parsing


def parse_stat_csv(path: Path) -> tuple[int, int, int, Counter[str]]:
    """(created, successful, failed, {reason: count}) from the last row of a -trace_stat CSV."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = [r for r in csv.reader(fh, delimiter=";") if r]
    if len(rows) < 2:
        return 0, 0, 0, Counter()
    last = dict(zip(rows[0], rows[-1], strict=False))

    def num(key: str) -> int:
        try:
            return int(float(last.get(key, "0") or 0))
        except ValueError:
            return 0

    reasons: Counter[str] = Counter()
    for key in rows[0]:
        if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)":
            if num(key):
                reasons[key[len("Failed") : -len("(C)")]] = num(key)
    created = num("OutgoingCall(C)") + num("IncomingCall(C)")
    return created, num("SuccessfulCall(C)"), num("FailedCall(C)"), reasons


def parse_error_log(path: Path) -> Counter[str]:
    """The distinct events of a -trace_err log (call ids and numbers stripped), counted."""
    if not path.exists():
        return Counter()
    text = path.read_text(encoding="utf-8", errors="replace")
    events: Counter[str] = Counter()
    for m in re.finditer(
        r"\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: (.*?)(?=\d{4}-\d\d-\d\d\t|$)", text, re.S
    ):
        msg = m.group(1).strip().splitlines()[0] if m.group(1).strip() else ""
        msg = re.sub(r"'[^']*@[^']*'|Call-I[dD]: \S+|\d+", "#", msg)
        if msg and "epoll" not in msg:
            events[msg[:120]] += 1
    return events


# ------------------------------------------------------------------ running sipp


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_ip_for(host: str) -> str:
    """The local address that routes to ``host`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def sipp_command(
    scenario: Path,
    *,
    target: str | None,
    rate: float,
    calls: int,
    workdir: Path,
    name: str,
    timeout_s: int,
    local_ip: str,
    service: str = "9000",
    caller: str = "1000",
    auth: tuple[str, str] | None = None,
    port: int | None = None,
    sets: dict[str, str] | None = None,
    max_calls: int | None = None,
) -> list[str]:
    cmd = [
        "sipp",
        "-sf",
        str(scenario),
        *([target] if target else []),
        "-i",
        local_ip,
        "-p",
        str(port or free_udp_port()),
        "-m",
        str(calls),
        "-r",
        f"{rate:g}",
        "-l",
        str(max_calls or max(1, int(rate * CALL_SECONDS.get(name, 60)) + 1)),
        "-timeout",
        f"{timeout_s}s",
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(workdir / f"{name}.stat.csv"),
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        str(workdir / f"{name}.errors.log"),
    ]
    if target:
        cmd += ["-s", service, "-recv_timeout", "60000"]
    for key, value in (sets if sets is not None else {"caller": caller} if target else {}).items():
        cmd += ["-set", key, value]
    if auth:
        cmd += ["-au", auth[0], "-ap", auth[1]]
    return cmd


def run_sipp(cmd: list[str], workdir: Path, name: str, timeout_s: int) -> Result:
    result = Result(name)
    log = workdir / f"{name}.sipp.log"
    with open(log, "wb") as out:
        try:
            proc = subprocess.run(
                cmd,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout_s + 30,
                check=False,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -9
            result.note = "sipp did not stop in time"
    finalize(result, workdir, name, rc, log)
    return result


def finalize(result: Result, workdir: Path, name: str, rc: int, log: Path) -> None:
    stat = workdir / f"{name}.stat.csv"
    if stat.exists():
        created, ok, failed, reasons = parse_stat_csv(stat)
        result.calls, result.successful, result.failed = created, ok, failed
        result.reasons.update(reasons)
    result.errors.update(parse_error_log(workdir / f"{name}.errors.log"))
    if not stat.exists() or rc not in (0, 1, 97, 99):
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        result.note = (result.note + f" sipp exit {rc}: " + " | ".join(tail)).strip()


# ------------------------------------------------------------------ Event Socket (outbound)


class MiniEsl:
    """Just enough inbound ESL to authenticate and send bgapi commands."""

    def __init__(self, host: str, port: int, password: str, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        head, _ = self._read()
        if "auth/request" not in head:
            raise ConnectionError(f"unexpected ESL greeting: {head!r}")
        head, _ = self.command(f"auth {password}")
        if "+OK" not in head:
            raise PermissionError("ESL authentication failed")

    def _read(self) -> tuple[str, bytes]:
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("ESL connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\n\n", 1)
        text = head.decode("utf-8", "replace")
        length = 0
        for line in text.splitlines():
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        while len(self.buf) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("ESL connection closed")
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        return text, body

    def command(self, line: str) -> tuple[str, bytes]:
        self.sock.sendall(line.encode() + b"\n\n")
        while True:
            head, body = self._read()
            if "command/reply" in head or "api/response" in head:
                return head, body

    def close(self) -> None:
        try:
            self.sock.sendall(b"exit\n\n")
        finally:
            self.sock.close()


def run_outbound(args: argparse.Namespace, workdir: Path) -> Result:
    name = "outbound"
    timeout_s = int(args.calls / args.rate) + CALL_SECONDS[name] + 30
    cmd = sipp_command(
        workdir / SCENARIOS[name],
        target=None,
        rate=args.rate,
        calls=args.calls,
        workdir=workdir,
        name=name,
        timeout_s=timeout_s,
        local_ip=args.uas_ip,
        port=args.uas_port,
    )
    log = workdir / f"{name}.sipp.log"
    result = Result(name)
    with open(log, "wb") as out:
        uas = subprocess.Popen(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            time.sleep(1.0)  # let the UAS bind its port
            esl = MiniEsl(args.esl_host, args.esl_port, args.esl_password)
            try:
                for i in range(args.calls):
                    variables = ",".join(
                        [
                            "callcontrol_action=bot",
                            f"callcontrol_owner={args.outbound_owner}",
                            f"origination_caller_id_number={args.caller}",
                            "originate_timeout=30",
                        ]
                    )
                    head, _ = esl.command(
                        f"bgapi originate {{{variables}}}{args.outbound_dialstring} &park()"
                    )
                    if "+OK" not in head:
                        result.errors[f"originate refused: {head.splitlines()[-1]}"] += 1
                    if i + 1 < args.calls:
                        time.sleep(1.0 / args.rate)
            finally:
                esl.close()
            rc = uas.wait(timeout=timeout_s + 30)
        except (OSError, ConnectionError, PermissionError) as exc:
            uas.kill()
            uas.wait()
            rc = -1
            result.note = f"Event Socket: {exc}"
        except subprocess.TimeoutExpired:
            uas.kill()
            uas.wait()
            rc = -9
            result.note = "sipp UAS did not stop in time"
    finalize(result, workdir, name, rc, log)
    # Calls that never reached the UAS are failures of the outbound path too.
    if result.calls < args.calls:
        missing = args.calls - result.calls
        result.reasons["NeverArrived"] += missing
        result.failed += missing
        result.calls = args.calls
    return result


# ------------------------------------------------------------------ hand-off by phone


class OperatorConsole:
    """The operator's side of a hand-off by phone, through callcontrol's console: signed
    in, *available*, and seen (a console counts as open while it polls; the runner asks
    for the dashboard every 10 s, as an open page's heartbeat would)."""

    def __init__(self, url: str, username: str, password: str, *, available: bool = True) -> None:
        import httpx

        self.available = available
        self.client = httpx.Client(base_url=url, timeout=10, follow_redirects=False)
        self.username = username
        self.password = password
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="operator-heartbeat", daemon=True)
        self.extension: str | None = None
        self._previous = "away"

    def __enter__(self) -> OperatorConsole:
        form = self.client.get("/login")
        token = re.search(r'name="login_token" value="([^"]*)"', form.text)
        if not token:
            raise ConnectionError(f"no sign-in form at {self.client.base_url}/login")
        signed = self.client.post(
            "/login",
            data={"username": self.username, "password": self.password, "login_token": token[1]},
        )
        if signed.status_code != 303:
            raise PermissionError(f"console sign-in as {self.username} refused")
        page = self.client.get("/profile")
        csrf = re.search(r'<meta name="csrf-token" content="([^"]*)">', page.text)
        if not csrf:
            raise ConnectionError("no CSRF token on the console's profile page")
        self.client.headers["X-CSRF-Token"] = csrf[1]
        me = self.client.get("/api/me").json()
        self.extension = me.get("extension")
        self._previous = str(me.get("status") or "away")
        if self.available:
            self.client.put("/api/me/status", json={"status": "available"}).raise_for_status()
        self.client.get("/").raise_for_status()
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(10.0):
            try:
                self.client.get("/")
            except Exception:  # noqa: BLE001 - the next beat tries again
                pass

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        try:
            if self.available:
                self.client.put("/api/me/status", json={"status": self._previous})
        finally:
            self.client.close()


async def _pg_phone_handoffs(url: str, since: datetime) -> int:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        value = await conn.fetchval(
            "SELECT count(*) FROM hitl_requests WHERE outcome = 'phone' AND created_at >= $1",
            since,
        )
    finally:
        await conn.close()
    return int(value or 0)


def phone_handoffs(url: str | None, since: datetime) -> tuple[int | None, str]:
    """How many callers callcontrol put through to an operator's phone since ``since``."""
    if not url:
        return None, "DATABASE_URL not set"
    try:
        if url.startswith("sqlite"):
            import sqlite3

            path = url.split(":///", 1)[1]
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = con.execute(
                    "SELECT created_at FROM hitl_requests WHERE outcome = 'phone'"
                ).fetchall()
            finally:
                con.close()
            cutoff = since.replace(tzinfo=None).isoformat(sep=" ")
            return sum(1 for (t,) in rows if str(t) >= cutoff), ""
        pg = "postgresql://" + url.split("://", 1)[1]
        return asyncio.run(_pg_phone_handoffs(pg, since)), ""
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return None, f"{type(exc).__name__}: {exc}"


def check_handoffs(result: Result, operator: Result, handoffs: int | None, why: str) -> None:
    """A caller sipp completed counts only if callcontrol put it through (its database)
    and the operator's phone answered it (the UAS's statistics)."""
    if handoffs is None:
        result.note = (result.note + f" hand-offs not checked ({why})").strip()
        moved = result.successful
        result.reasons["HandoffNotChecked"] += moved
    else:
        put_through = min(handoffs, operator.successful)
        moved = max(0, result.successful - put_through)
        if moved:
            result.reasons["NotPutThrough"] += moved
    result.successful -= moved
    result.failed += moved


def run_handoff(
    args: argparse.Namespace, workdir: Path, local_ip: str, auth: tuple[str, str] | None
) -> Result:
    name = "handoff"
    per_call = CALL_SECONDS[name]
    timeout_s = args.sipp_timeout or args.calls * per_call + 30
    operator_port = args.operator_port
    uas_cmd = sipp_command(
        workdir / HELPERS["operator"],
        target=None,
        rate=args.rate,
        calls=args.calls,
        workdir=workdir,
        name="operator",
        timeout_s=timeout_s + 30,
        local_ip=local_ip,
        port=operator_port,
    )
    register_cmd = sipp_command(
        workdir / HELPERS["register"],
        target=args.target,
        rate=1,
        calls=1,
        workdir=workdir,
        name="register",
        timeout_s=15,
        local_ip=local_ip,
        auth=(args.operator_ext, args.operator_sip_password),
        sets={
            "ext": args.operator_ext,
            "contact_host": local_ip,
            "contact_port": str(operator_port),
            "expires": str(timeout_s + 120),
        },
    )
    caller_cmd = sipp_command(
        workdir / SCENARIOS[name],
        target=args.target,
        rate=args.rate,
        calls=args.calls,
        workdir=workdir,
        name=name,
        timeout_s=timeout_s,
        local_ip=local_ip,
        service=args.service,
        caller=args.caller,
        auth=auth,
        max_calls=1,  # one operator: one caller at a time
    )
    result = Result(name)
    operator = Result("operator")
    log = workdir / "operator.sipp.log"
    started = datetime.now(UTC)
    with open(log, "wb") as out:
        uas = subprocess.Popen(
            uas_cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        rc = -1
        try:
            time.sleep(1.0)  # let the UAS bind its port
            registered = run_sipp(register_cmd, workdir, "register", 15)
            if registered.successful != 1:
                result.note = f"extension {args.operator_ext} not registered ({registered.note})"
                return result
            with OperatorConsole(
                args.console_url, args.operator_user, args.operator_password
            ) as console:
                if console.extension != args.operator_ext:
                    result.note = (
                        f"console user {args.operator_user} has extension {console.extension},"
                        f" not {args.operator_ext}"
                    )
                    return result
                result = run_sipp(caller_cmd, workdir, name, timeout_s)
            try:
                rc = uas.wait(timeout=15)  # the last BYE reaches the operator
            except subprocess.TimeoutExpired:
                uas.terminate()
                rc = uas.wait(timeout=15)
        except (OSError, ConnectionError, PermissionError) as exc:
            result.note = f"operator: {exc}"
        finally:
            if uas.poll() is None:
                uas.kill()
                uas.wait()
    finalize(operator, workdir, "operator", rc, log)
    time.sleep(1.0)  # the last rows reach the database
    check_calls(result, *cdr_durations(args.database_url, started))
    check_handoffs(result, operator, *phone_handoffs(args.database_url, started))
    result.note = (result.note + f" operator answered {operator.successful}").strip()
    return result


# ------------------------------------------------------------------ a campaign


CAMPAIGN_UAS = {
    "answer": "uas_answer.xml",
    "busy": "uas_busy.xml",
    "no_answer": "uas_no_answer.xml",
}
CAMPAIGN_EXPECT = {"answer": "completed", "busy": "busy", "no_answer": "no_answer"}


def run_campaign(args: argparse.Namespace, workdir: Path) -> list[Result]:
    """For each callee behaviour (answers and asks the question / busy / never answers):
    a sipp UAS behind the PSTN gateway (FREESWITCH_PSTN_PROXY=<host>:--uas-port), a
    campaign of --calls contacts made through the console's API, started, and waited
    for: every contact must end in the behaviour's status (completed / busy / no_answer;
    no retries)."""
    results = []
    with OperatorConsole(
        args.console_url, args.operator_user, args.operator_password, available=False
    ) as console:
        for behaviour, scenario in CAMPAIGN_UAS.items():
            name = f"campaign-{behaviour}"
            timeout_s = args.calls * 40 + 60
            cmd = sipp_command(
                workdir / scenario,
                target=None,
                rate=args.rate,
                calls=args.calls,
                workdir=workdir,
                name=name,
                timeout_s=timeout_s,
                local_ip=args.uas_ip,
                port=args.uas_port,
            )
            log = workdir / f"{name}.sipp.log"
            result = Result(name, calls=args.calls)
            with open(log, "wb") as out:
                uas = subprocess.Popen(
                    cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
                try:
                    time.sleep(1.0)
                    counts = _campaign(console, args, behaviour, timeout_s)
                finally:
                    if uas.poll() is None:
                        uas.terminate()
                    uas.wait(timeout=30)
            expected = CAMPAIGN_EXPECT[behaviour]
            result.successful = int(counts.get(expected, 0))
            result.failed = args.calls - result.successful
            for status, n in counts.items():
                if status != expected:
                    result.reasons[f"contact {status}"] += int(n)
            result.note = f"contacts: {dict(counts)}"
            results.append(result)
    return results


def _campaign(
    console: OperatorConsole, args: argparse.Namespace, behaviour: str, timeout_s: int
) -> dict[str, int]:
    client = console.client
    made = client.post(
        "/api/campaigns",
        json={
            "name": f"load {behaviour} {datetime.now(UTC):%H%M%S}",
            "owner": args.outbound_owner,
            "dialstring": args.campaign_dialstring,
            "cps": args.rate,
            "max_concurrent": max(1, int(args.rate * 10)),
            "ring_s": 10,
            "windows": {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "23:59"},
        },
    )
    made.raise_for_status()
    campaign = made.json()["id"]
    rows = "\n".join(f"Load {i},+1415555{1000 + i:04d}" for i in range(args.calls))
    up = client.post(
        f"/api/campaigns/{campaign}/contacts",
        files={"file": ("contacts.csv", f"name,phone\n{rows}\n".encode(), "text/csv")},
    )
    up.raise_for_status()
    client.post(f"/api/campaigns/{campaign}/start").raise_for_status()
    deadline = time.monotonic() + timeout_s
    final = {"completed", "no_answer", "busy", "failed", "voicemail", "dnc", "exhausted"}
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = client.get(f"/api/campaigns/{campaign}").json()["counts"]
        if sum(v for k, v in counts.items() if k in final) >= args.calls:
            break
        time.sleep(1.0)
    return counts


# ------------------------------------------------------------------ what FreeSWITCH saw


async def _pg_cdrs(url: str, since: datetime) -> list[tuple[int, str]]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT duration_s, hangup_cause FROM cdrs WHERE start_at >= $1", since
        )
    finally:
        await conn.close()
    return [(int(r[0]), str(r[1])) for r in rows]


def cdr_durations(url: str | None, since: datetime) -> tuple[list[tuple[int, str]] | None, str]:
    """(duration_s, hangup_cause) of the CDRs of calls started since ``since``, as
    callcontrol recorded them from FreeSWITCH's events; (None, why) when unavailable."""
    if not url:
        return None, "DATABASE_URL not set"
    try:
        if url.startswith("sqlite"):
            import sqlite3

            path = url.split(":///", 1)[1]
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = con.execute("SELECT duration_s, hangup_cause, start_at FROM cdrs").fetchall()
            finally:
                con.close()
            cutoff = since.replace(tzinfo=None).isoformat(sep=" ")
            return [(int(d), str(c)) for d, c, t in rows if str(t) >= cutoff], ""
        pg = "postgresql://" + url.split("://", 1)[1]
        return asyncio.run(_pg_cdrs(pg, since)), ""
    except Exception as exc:  # noqa: BLE001 - a missing table or database must not hide the sipp results
        return None, f"{type(exc).__name__}: {exc}"


def check_calls(result: Result, cdrs: list[tuple[int, str]] | None, why: str) -> None:
    """Hold sipp's verdict against what FreeSWITCH saw: every call ended (a CDR), and no
    call lasted longer than its scenario allows. A BYE that FreeSWITCH ignored (an empty
    request URI) left "hang up at once" calls up for 21 s while sipp counted them as
    successful; such calls count as failed here ("LongerThanExpected")."""
    if cdrs is None:
        result.note = (result.note + f" call durations not checked ({why})").strip()
        return
    limit = CALL_SECONDS.get(result.scenario, 60)
    too_long = sum(1 for duration, _cause in cdrs if duration > limit)
    if too_long:
        result.reasons["LongerThanExpected"] += too_long
        moved = min(too_long, result.successful)
        result.successful -= moved
        result.failed += moved
    if len(cdrs) < result.calls:
        result.note = (
            result.note + f" only {len(cdrs)} of {result.calls} calls have a CDR"
        ).strip()


# ------------------------------------------------------------------ voice-to-voice latency


async def _pg_latencies(url: str, since: datetime) -> list[float]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT voice_to_voice_ms FROM turns "
            "WHERE voice_to_voice_ms IS NOT NULL AND started_at >= $1",
            since,
        )
    finally:
        await conn.close()
    return [float(r[0]) for r in rows]


def voice_to_voice(url: str | None, since: datetime) -> tuple[list[float], str]:
    """The voice_to_voice_ms of turns started since ``since``; ([], why) when unavailable."""
    if not url:
        return [], "DATABASE_URL not set"
    try:
        if url.startswith("sqlite"):
            import sqlite3

            path = url.split(":///", 1)[1]
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = con.execute(
                    "SELECT voice_to_voice_ms, started_at FROM turns "
                    "WHERE voice_to_voice_ms IS NOT NULL"
                ).fetchall()
            finally:
                con.close()
            cutoff = since.replace(tzinfo=None).isoformat(sep=" ")
            return [float(v) for v, t in rows if str(t) >= cutoff], ""
        pg = "postgresql://" + url.split("://", 1)[1]
        return asyncio.run(_pg_latencies(pg, since)), ""
    except Exception as exc:  # noqa: BLE001 - a missing table or database must not hide the sipp results
        return [], f"{type(exc).__name__}: {exc}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ------------------------------------------------------------------ report


def report(results: list[Result], latencies: list[float], why: str) -> str:
    lines = ["", "=== callcontrol load test ==="]
    total = sum(r.calls for r in results)
    ok = sum(r.successful for r in results)
    for r in results:
        lines.append(
            f"{r.scenario:<10} calls {r.calls:>5}  ok {r.successful:>5}  failed {r.failed:>5}"
            f"  success {100 * r.success_rate:6.1f} %" + (f"  ({r.note})" if r.note else "")
        )
    rate = ok / total if total else 0.0
    lines.append(f"{'total':<10} calls {total:>5}  ok {ok:>5}  success rate {100 * rate:.1f} %")
    reasons: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for r in results:
        reasons.update({f"{r.scenario}: {k}": v for k, v in r.reasons.items()})
        events.update({f"{r.scenario}: {k}": v for k, v in r.errors.items()})
    lines.append("failed calls by reason:" + ("" if reasons else " none"))
    lines += [f"  {n:>5}  {k}" for k, n in reasons.most_common()]
    if events:
        lines.append("sipp error log events:")
        lines += [f"  {n:>5}  {k}" for k, n in events.most_common(10)]
    if latencies:
        lines.append(
            f"voice-to-voice latency ({len(latencies)} turns): "
            f"p50 {percentile(latencies, 0.5):.0f} ms  p90 {percentile(latencies, 0.9):.0f} ms  "
            f"p99 {percentile(latencies, 0.99):.0f} ms  max {max(latencies):.0f} ms  "
            f"mean {statistics.fmean(latencies):.0f} ms"
        )
    else:
        lines.append("voice-to-voice latency: no turns found" + (f" ({why})" if why else ""))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    ap = argparse.ArgumentParser(
        description="sipp load test of callcontrol", formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--target", required=True, help="FreeSWITCH SIP host:port")
    ap.add_argument("--rate", type=float, default=1.0, help="calls per second")
    ap.add_argument("--calls", type=int, default=10, help="calls per scenario")
    ap.add_argument(
        "--scenarios",
        default=env.get("LOAD_SCENARIOS", "question,hangup,silent"),
        help=f"comma-separated, from {', '.join(SCENARIOS)}",
    )
    ap.add_argument("--service", default=env.get("LOAD_SERVICE", "9000"), help="number called")
    ap.add_argument("--caller", default=env.get("LOAD_CALLER", "1000"), help="From user")
    user = env.get("LOAD_SIP_USER", env.get("LOAD_CALLER", "1000"))
    ap.add_argument("--sip-user", default=user, help="digest username")
    ap.add_argument(
        "--sip-password",
        default=env.get("LOAD_SIP_PASSWORD", env.get(f"FREESWITCH_EXT_{user}_PASSWORD", "")),
        help="digest password (empty: no authentication)",
    )
    ap.add_argument("--wav", type=Path, default=DEFAULT_WAV, help="the question the caller asks")
    ap.add_argument(
        "--person-wav", type=Path, default=PERSON_WAV, help="handoff: asking for a person"
    )
    ap.add_argument("--console-url", default=env.get("LOAD_CONSOLE_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--operator-user", default=env.get("LOAD_OPERATOR_USER", "operator"))
    ap.add_argument("--operator-password", default=env.get("LOAD_OPERATOR_PASSWORD", ""))
    ext = env.get("LOAD_OPERATOR_EXT", "1001")
    ap.add_argument("--operator-ext", default=ext, help="the operator's extension")
    ap.add_argument(
        "--operator-sip-password",
        default=env.get(
            "LOAD_OPERATOR_SIP_PASSWORD", env.get(f"FREESWITCH_EXT_{ext}_PASSWORD", "")
        ),
    )
    ap.add_argument("--operator-port", type=int, default=int(env.get("LOAD_OPERATOR_PORT", "5092")))
    ap.add_argument("--law", choices=sorted(wav2pcap.ENCODERS), default="ulaw")
    ap.add_argument("--uas-ip", default="127.0.0.1")
    ap.add_argument("--uas-port", type=int, default=int(env.get("LOAD_UAS_PORT", "5090")))
    ap.add_argument(
        "--outbound-dialstring",
        default=env.get("LOAD_OUTBOUND_DIALSTRING", "sofia/gateway/pstn/15550123"),
    )
    ap.add_argument("--outbound-owner", default=env.get("LOAD_OUTBOUND_OWNER", "load-test"))
    ap.add_argument(
        "--campaign-dialstring",
        default=env.get("LOAD_CAMPAIGN_DIALSTRING", "sofia/gateway/pstn/{digits}"),
    )
    ap.add_argument("--esl-host", default=env.get("CALLCONTROL_ESL__HOST", "127.0.0.1"))
    ap.add_argument("--esl-port", type=int, default=int(env.get("CALLCONTROL_ESL__PORT", "8021")))
    ap.add_argument("--esl-password", default=env.get("CALLCONTROL_ESL__PASSWORD", ""))
    ap.add_argument(
        "--database-url",
        default=env.get("CALLCONTROL_DATABASE_URL") or env.get("DATABASE_URL"),
    )
    ap.add_argument("--min-success", type=float, default=float(env.get("LOAD_MIN_SUCCESS", "0.95")))
    ap.add_argument("--out", type=Path, help="working directory (default test-artifacts/load/…)")
    ap.add_argument(
        "--sipp-timeout", type=int, help="seconds before sipp gives up (default: sized)"
    )
    args = ap.parse_args(argv)
    if args.rate <= 0 or args.calls <= 0:
        ap.error("--rate and --calls must be positive")
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("sipp"):
        print("sipp not found (Debian: apt-get install sip-tester)", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = (args.out or REPO / "test-artifacts" / "load" / stamp).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # The scenarios play question.pcap, which sipp looks for next to the scenario file:
    # run copies of the scenarios from the working directory, beside the pcap.
    wav2pcap.wav_to_pcap(args.wav, workdir / "question.pcap", law=args.law)
    wav2pcap.wav_to_pcap(args.person_wav, workdir / "person.pcap", law=args.law)
    for file in [*SCENARIOS.values(), *HELPERS.values()]:
        shutil.copy(HERE / "scenarios" / file, workdir / file)
    host, _, _port = args.target.rpartition(":")
    local_ip = local_ip_for(host or args.target)
    auth = (args.sip_user, args.sip_password) if args.sip_password else None
    started = datetime.now(UTC)
    results: list[Result] = []
    for name in args.scenarios.split(","):
        print(f"--- {name}: {args.calls} calls at {args.rate:g}/s", flush=True)
        if name == "outbound":
            results.append(run_outbound(args, workdir))
            continue
        if name == "handoff":
            results.append(run_handoff(args, workdir, local_ip, auth))
            continue
        if name == "campaign":
            results.extend(run_campaign(args, workdir))
            continue
        timeout_s = args.sipp_timeout or int(args.calls / args.rate) + CALL_SECONDS[name] + 30
        cmd = sipp_command(
            workdir / SCENARIOS[name],
            target=args.target,
            rate=args.rate,
            calls=args.calls,
            workdir=workdir,
            name=name,
            timeout_s=timeout_s,
            local_ip=local_ip,
            service=args.service,
            caller=args.caller,
            auth=auth,
        )
        scenario_started = datetime.now(UTC)
        result = run_sipp(cmd, workdir, name, timeout_s)
        time.sleep(1.0)  # the last CDRs reach the database
        check_calls(result, *cdr_durations(args.database_url, scenario_started))
        results.append(result)
    latencies, why = voice_to_voice(args.database_url, started)
    print(report(results, latencies, why))
    print(f"(sipp logs and statistics in {workdir})")
    total = sum(r.calls for r in results)
    if not total:
        return 2
    rate = sum(r.successful for r in results) / total
    return 0 if rate >= args.min_success else 1


if __name__ == "__main__":
    sys.exit(main())
