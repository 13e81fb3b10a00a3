"""The sipp scenarios load and run in the real sipp (Debian sip-tester).

sipp exits 1 both for a failed call and for a scenario it cannot parse, so a scenario counts
as valid when sipp got as far as running it: it printed its final statistics screen, and (for
the callers) it sent the INVITE and gave up on the closed port's silence (UDP retransmission
timeout), which a parse error never reaches."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.load import run, wav2pcap

HERE = Path(__file__).resolve().parent
SCENARIO_FILES = sorted((HERE / "scenarios").glob("*.xml"))
PARSE_ERROR = re.compile(
    r"Unable to load or parse|Invalid|Unknown (element|action|keyword)|error", re.I
)

pytestmark = pytest.mark.skipif(not shutil.which("sipp"), reason="sipp (sip-tester) not installed")


def _workdir(tmp_path: Path) -> Path:
    # The scenarios play question.pcap from sipp's working directory; sipp loads it at parse time.
    wav2pcap.wav_to_pcap(run.DEFAULT_WAV, tmp_path / "question.pcap")
    wav2pcap.wav_to_pcap(run.PERSON_WAV, tmp_path / "person.pcap")
    return tmp_path


def _sipp(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sipp", *args, "-m", "1", "-timeout", "3s", "-nostdin"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_scenario_is_used_by_the_runner() -> None:
    used = [*run.SCENARIOS.values(), *run.HELPERS.values()]
    assert sorted(used) == [p.name for p in SCENARIO_FILES]


@pytest.mark.parametrize(
    "path", [p for p in SCENARIO_FILES if p.name.startswith("uac_")], ids=lambda p: p.stem
)
def test_caller_scenario_runs_against_a_closed_port(path: Path, tmp_path: Path) -> None:
    cwd = _workdir(tmp_path)
    sets = {"caller": "1000"}
    if path.stem == "uac_register":
        sets = {"ext": "1001", "contact_host": "127.0.0.1", "contact_port": "5092", "expires": "60"}
    closed = run.free_udp_port()  # bound then released: nobody listens there
    errors = cwd / "errors.log"
    proc = _sipp(
        [
            "-sf",
            str(path),
            f"127.0.0.1:{closed}",
            "-i",
            "127.0.0.1",
            "-p",
            str(run.free_udp_port()),
            "-s",
            "9000",
            *[arg for key, value in sets.items() for arg in ("-set", key, value)],
            "-max_retrans",
            "0",
            "-trace_err",
            "-error_file",
            str(errors),
        ],
        cwd,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Test Terminated" in out, out  # the statistics screen: the scenario ran
    assert "Outgoing calls created" in out
    log = errors.read_text()
    assert "UDP retransmission timeout" in log, log  # it sent the INVITE and got no answer
    assert "Unable to load or parse" not in out


@pytest.mark.parametrize("name", ["uas_answer", "uas_operator", "uas_busy", "uas_no_answer"])
def test_uas_scenario_waits_for_a_call(name: str, tmp_path: Path) -> None:
    cwd = _workdir(tmp_path)
    path = HERE / "scenarios" / f"{name}.xml"
    proc = _sipp(["-sf", str(path), "-i", "127.0.0.1", "-p", str(run.free_udp_port())], cwd)
    out = proc.stdout + proc.stderr
    # 97: stopped by the global timeout with no call, after loading the scenario.
    assert proc.returncode == 97, out
    assert "Test Terminated" in out and "Incoming calls created" in out
    assert "Unable to load or parse" not in out


def test_a_broken_scenario_is_told_apart(tmp_path: Path) -> None:
    """Negative control: the checks above would catch a scenario sipp cannot load."""
    cwd = _workdir(tmp_path)
    broken = tmp_path / "broken.xml"
    text = (HERE / "scenarios" / "uac_hangup_at_once.xml").read_text(encoding="iso-8859-1")
    broken.write_text(text.replace("<pause ", "<pauze "), encoding="iso-8859-1")
    proc = _sipp(["-sf", str(broken), "127.0.0.1:9", "-max_retrans", "0"], cwd)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Test Terminated" not in out
    assert PARSE_ERROR.search(out), out


def test_scenarios_do_what_their_names_say() -> None:
    text = {p.stem: p.read_text(encoding="iso-8859-1") for p in SCENARIO_FILES}
    assert 'play_pcap_audio="question.pcap"' in text["uac_question"]
    assert 'play_pcap_audio="question.pcap"' in text["uas_answer"]
    assert "play_pcap_audio" not in text["uac_silent"]
    assert "play_pcap_audio" not in text["uac_hangup_at_once"]
    assert 'play_pcap_audio="person.pcap"' in text["uac_handoff"]
    assert "play_pcap_audio" not in text["uas_operator"]
    for name in ("uac_question", "uac_hangup_at_once", "uac_silent", "uac_handoff"):
        # Digest challenge handled (the internal profile), From user settable.
        assert 'response="407"' in text[name] and "[authentication]" in text[name]
        assert '<Global variables="caller"/>' in text[name]
        assert "a=rtpmap:0 PCMU/8000" in text[name]
        # The INVITE's 200 OK records its route and Contact: ACK and BYE go to [next_url].
        assert text[name].count('<recv response="200" rtd="true" rrs="true"') == 2
        assert "ACK [next_url] SIP/2.0" in text[name] and "BYE [next_url] SIP/2.0" in text[name]
    assert '<recv request="INVITE"' in text["uas_answer"]
    assert '<recv request="INVITE"' in text["uas_operator"]
    # The operator's extension registers with digest, pointing at the operator's UAS.
    register = text["uac_register"]
    assert "REGISTER sip:" in register and "[authentication]" in register
    assert "Contact: <sip:[$ext]@[$contact_host]:[$contact_port]>" in register


@pytest.mark.parametrize("name", ["uac_hangup_at_once"])
def test_the_caller_acks_and_hangs_up_with_a_request_uri(name: str, tmp_path: Path) -> None:
    """Without rrs="true" on the 200 OK, [next_url] is empty: sipp sent "ACK  SIP/2.0"
    and "BYE  SIP/2.0", FreeSWITCH ignored them, and "hang up at once" calls lasted 21 s
    while sipp still counted them as successful."""
    cwd = _workdir(tmp_path)
    port = run.free_udp_port()
    uas = subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(HERE / "scenarios" / "uas_answer.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "1",
            "-timeout",
            "20s",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(tmp_path / "uas_messages.log"),
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        caller = _sipp(
            [
                "-sf",
                str(HERE / "scenarios" / f"{name}.xml"),
                f"127.0.0.1:{port}",
                "-s",
                "9000",
                "-i",
                "127.0.0.1",
                "-p",
                str(run.free_udp_port()),
            ],
            cwd,
        )
        assert "Successful call" in caller.stdout + caller.stderr
    finally:
        uas.terminate()
        uas.communicate(timeout=20)
    received = (tmp_path / "uas_messages.log").read_text(encoding="utf-8", errors="replace")
    request_lines = re.findall(r"^(ACK|BYE) (\S*) ?SIP/2\.0", received, re.M)
    methods = {method for method, _uri in request_lines}
    assert methods == {"ACK", "BYE"}, received[-2000:]
    assert all(uri.startswith("sip:") for _method, uri in request_lines), request_lines
