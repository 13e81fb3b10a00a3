"""freeswitch/conf and dialplan/: well-formed, complete, env-driven, and routing as designed.

The tree is pre-processed the way FreeSWITCH 1.10 does it (tests/deploy/fsconf.py) with the
environment docker compose gives the freeswitch container, then checked."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from callcontrol.config import Settings
from tests.deploy import fsconf
from tests.deploy.conftest import DIDS

ALL_XML = sorted([*fsconf.CONF.rglob("*.xml"), *fsconf.DIALPLAN.rglob("*.xml")])
# Passwords FreeSWITCH's sample configs and the drachtio image ship with.
KNOWN_DEFAULTS = {"clucon", "cluecon", "1234", "jambonzr0ck$", "password", "secret", "changeme"}


def _settings_env_names(prefix: str = "CALLCONTROL_") -> set[str]:
    """Every environment name callcontrol's Settings reads (one level of nesting)."""
    names: set[str] = set()
    for name, fld in Settings.model_fields.items():
        aliases = getattr(fld.validation_alias, "choices", None)
        if aliases:
            names.update(str(a) for a in aliases)
            continue
        names.add(f"{prefix}{name.upper()}")
        sub = fld.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields"):
            for subname, subfld in sub.model_fields.items():
                names.add(f"{prefix}{name.upper()}__{subname.upper()}")
                if subfld.alias:
                    names.add(f"{prefix}{name.upper()}__{subfld.alias.upper()}")
    return names


def _env_read_by_vars() -> dict[str, str]:
    """{environment variable: global variable} for every one vars.xml reads."""
    text = (fsconf.CONF / "vars.xml").read_text(encoding="utf-8")
    found = re.findall(r'cmd="exec-set" data="(\w+)=printenv (\w+) \| grep \.', text)
    return {envname: var for var, envname in found}


# ------------------------------------------------------------------ structure


@pytest.mark.parametrize("path", ALL_XML, ids=lambda p: str(p.relative_to(fsconf.REPO)))
def test_each_file_is_well_formed_xml(path: Path) -> None:
    ET.parse(path)


def test_preprocessed_tree_is_one_document_including_every_file(fs: fsconf.Preprocessed) -> None:
    root = fs.xml()
    assert root.tag == "document" and root.get("type") == "freeswitch/xml"
    assert {s.get("name") for s in root.findall("section")} == {
        "configuration",
        "dialplan",
        "directory",
    }
    # No orphan: every XML file of both trees is reached from freeswitch.xml.
    assert sorted(set(fs.files)) == ALL_XML
    # Only the pre-processor commands we model and mean to use.
    assert {cmd for cmd, _ in fs.commands} <= {"set", "exec-set", "include"}


def test_no_x_pre_process_hidden_in_comments() -> None:
    """FreeSWITCH runs <X-PRE-PROCESS> even inside XML comments; ours only appear as tags."""
    for path in ALL_XML:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<!--.*?-->", text, re.S):
            assert "X-PRE-PROCESS" not in m.group(0).upper(), path
            assert "<include>" not in m.group(0) and "<?" not in m.group(0), path


def test_every_configuration_has_its_module(fs: fsconf.Preprocessed) -> None:
    root = fs.xml()
    configs = {
        c.get("name") for c in root.iterfind("./section[@name='configuration']/configuration")
    }
    loaded = fsconf.module_list(root)
    needed = {
        "mod_sofia": "sofia.conf",
        "mod_event_socket": "event_socket.conf",
        "mod_console": "console.conf",
        "mod_logfile": "logfile.conf",
        "mod_opus": "opus.conf",
    }
    for module, conf in needed.items():
        assert module in loaded
        assert conf in configs
    assert {"switch.conf", "acl.conf", "modules.conf"} <= configs
    assert len(loaded) == len(set(loaded))


def test_mod_audio_fork_and_the_used_modules_are_loaded(fs: fsconf.Preprocessed) -> None:
    loaded = fsconf.module_list(fs.xml())
    for module in (
        "mod_audio_fork",
        "mod_sofia",
        "mod_event_socket",
        "mod_dptools",
        "mod_commands",
        "mod_dialplan_xml",
        "mod_sndfile",
        "mod_native_file",
        "mod_tone_stream",
    ):
        assert module in loaded, module
    # mod_audio_fork needs the core and media up: loaded after the endpoint and formats.
    assert loaded.index("mod_audio_fork") > loaded.index("mod_sofia")
    # Every application the dialplan uses comes from a loaded module (all of them are in
    # mod_dptools, plus socket from mod_event_socket).
    apps = {
        a.get("application")
        for a in fs.xml().iterfind(".//section[@name='dialplan']//*[@application]")
    }
    assert apps <= {"set", "park", "socket", "hangup", "ring_ready", "bridge", "transfer"}


# ------------------------------------------------------------------ secrets


def test_no_default_password_in_any_file() -> None:
    for path in [*ALL_XML, fsconf.REPO / ".env.example", fsconf.REPO / "docker-compose.yml"]:
        text = path.read_text(encoding="utf-8").lower()
        assert "cluecon" not in text, path
        assert "jambonzr0ck" not in text, path
        assert not re.search(r'name="(default_)?password" value="(1234|[^"$]+)"', text), path


def _passwords(root: ET.Element) -> dict[str, str]:
    out = {}
    for p in root.iter("param"):
        if "password" in (p.get("name") or "") and p.get("name") != "allow-empty-password":
            out[p.get("name", "") + "@" + str(id(p))] = p.get("value", "")
    return out


def test_secrets_come_from_the_environment(fs: fsconf.Preprocessed, fs_env: dict[str, str]) -> None:
    root = fs.xml()
    esl = fsconf.params(root, "event_socket.conf")
    assert esl["password"] == fs_env["CALLCONTROL_ESL__PASSWORD"]
    users = {u.get("id"): u for u in root.iterfind(".//section[@name='directory']//user")}
    assert set(users) == {"1000", "1001", "1002", "1003"}
    for uid, user in users.items():
        pw = user.find("./params/param[@name='password']")
        assert pw is not None
        assert pw.get("value") == fs_env[f"FREESWITCH_EXT_{uid}_PASSWORD"]
    domain_params = {
        p.get("name"): p.get("value")
        for p in root.iterfind(".//section[@name='directory']/domain/params/param")
    }
    assert domain_params["allow-empty-password"] == "false"


@pytest.mark.parametrize("blank", [False, True], ids=["unset", "empty"])
def test_a_missing_secret_locks_instead_of_defaulting(blank: bool) -> None:
    """Unset or empty secret variables give random 48-hex-digit secrets, never a default,
    never empty (mod_event_socket would turn an empty password into ClueCon)."""
    env = dict.fromkeys(_env_read_by_vars(), "") if blank else {}
    pre = fsconf.preprocess(env=env)
    root = pre.xml()
    values = list(_passwords(root).values())
    assert len(values) == 6  # ESL, PSTN gateway, 4 extensions
    for value in values:
        assert re.fullmatch(r"[0-9a-f]{48}", value), value
        assert value.lower() not in KNOWN_DEFAULTS
    assert len(set(values)) == len(values)
    # Non-secret settings keep their defaults when the variable is empty.
    assert fsconf.params(root, "event_socket.conf")["listen-port"] == "8021"
    assert fsconf.profile_params(root, "internal")["sip-ip"] == fsconf.CORE_VARS["local_ip_v4"]


# ------------------------------------------------------------------ event socket


def test_event_socket_matches_callcontrol_settings(
    fs: fsconf.Preprocessed,
    compose_config: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = fs.xml()
    esl = fsconf.params(root, "event_socket.conf")
    services = compose_config["services"]
    assert isinstance(services, dict)
    cc_env = {
        k: v
        for k, v in services["callcontrol"]["environment"].items()
        if k.startswith("CALLCONTROL_") or k.endswith("_URL")
    }
    for key in list(Settings.model_fields):
        monkeypatch.delenv(f"CALLCONTROL_{key.upper()}", raising=False)
    for key, value in cc_env.items():
        monkeypatch.setenv(key, str(value))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.esl.host == esl["listen-ip"]
    assert settings.esl.port == int(esl["listen-port"])
    assert settings.esl.password.get_secret_value() == esl["password"]
    # The ACL lets callcontrol's address in, and nothing else by default.
    acl = root.find(
        "./section[@name='configuration']/configuration[@name='acl.conf']"
        f"/network-lists/list[@name='{esl['apply-inbound-acl']}']"
    )
    assert acl is not None and acl.get("default") == "deny"
    import ipaddress

    nets = [ipaddress.ip_network(n.get("cidr", "")) for n in acl.iterfind("node[@type='allow']")]
    assert any(ipaddress.ip_address(settings.esl.host) in n for n in nets)
    assert all(n.prefixlen >= 8 for n in nets)


def test_vars_read_callcontrol_settings_by_their_own_names() -> None:
    """Every CALLCONTROL_* variable FreeSWITCH reads is a real callcontrol setting."""
    read = _env_read_by_vars()
    known = _settings_env_names()
    shared = {k for k in read if k.startswith("CALLCONTROL_")}
    assert shared == {
        "CALLCONTROL_ESL__PASSWORD",
        "CALLCONTROL_ESL__PORT",
        "CALLCONTROL_ESL__MODE",
        "CALLCONTROL_CALLS__NO_ANSWER_TIMEOUT",
    }
    assert shared <= known
    # The mode values FreeSWITCH understands are the ones callcontrol accepts.
    mode = Settings.model_fields["esl"].annotation.model_fields["mode"]  # type: ignore[union-attr]
    assert set(mode.annotation.__args__) == {"inbound", "outbound"}


# ------------------------------------------------------------------ dialplan


def _route(pre: fsconf.Preprocessed, context: str, dest: str, **gvars: str) -> fsconf.Route:
    root = pre.xml()
    return fsconf.route(
        root, context, dest, pre.globals | gvars, users=fsconf.directory_users(root)
    )


@pytest.mark.parametrize("did", [*DIDS, "+" + DIDS[0]])
def test_a_configured_did_reaches_the_bot_inbound_mode(fs: fsconf.Preprocessed, did: str) -> None:
    r = _route(fs, "public", did)
    assert r.extensions == ["callcontrol-did"]
    assert r.sets()["callcontrol_action"] == "bot"
    assert r.sets()["callcontrol_owner"] == did.lstrip("+")
    assert r.actions[-1] == ("park", "")
    assert "socket" not in r.apps()


def test_a_configured_did_reaches_the_bot_outbound_mode(fs: fsconf.Preprocessed) -> None:
    r = _route(fs, "public", DIDS[1], callcontrol_mode="outbound")
    assert r.sets()["callcontrol_action"] == "bot"
    sockets = [d for a, d in r.actions if a == "socket"]
    assert sockets[0] == f"{fs.globals['callcontrol_socket']} async full"
    assert len(sockets) == 2 and all(s.endswith(" async full") for s in sockets)
    assert "park" not in r.apps()
    # Nobody listening: a clean failure, not a call stuck in the dialplan.
    assert r.actions[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")


@pytest.mark.parametrize("dest", ["15559999", "9000", "1000", "", "155501000", "x15550100"])
def test_unknown_dids_are_rejected(fs: fsconf.Preprocessed, dest: str) -> None:
    r = _route(fs, "public", dest)
    assert r.extensions == ["unknown-did"]
    assert r.actions == [("hangup", "UNALLOCATED_NUMBER")]


def test_without_configured_dids_every_pstn_call_is_rejected(fs_bare: fsconf.Preprocessed) -> None:
    for dest in ("15550100", "", "+", "0"):
        assert _route(fs_bare, "public", dest).actions == [("hangup", "UNALLOCATED_NUMBER")]


def test_the_bot_number_goes_straight_to_the_bot(
    fs: fsconf.Preprocessed, fs_env: dict[str, str]
) -> None:
    number = fs_env["FREESWITCH_BOT_NUMBER"]
    r = _route(fs, "default", number)
    assert r.sets() == {"callcontrol_action": "bot", "callcontrol_owner": number}
    assert r.actions[-1] == ("park", "")
    assert "ring_ready" not in r.apps()


def test_extension_calls_go_through_callcontrol_for_the_takeover(fs: fsconf.Preprocessed) -> None:
    r = _route(fs, "default", "1001")
    assert r.extensions == ["callcontrol-extension"]
    sets = r.sets()
    assert sets["callcontrol_action"] == "extension"
    assert sets["callcontrol_extension"] == "${destination_number}"
    assert r.apps()[-2:] == ["ring_ready", "park"]


def test_outbound_mode_without_workers_still_rings_the_extension_for_the_timeout(
    fs: fsconf.Preprocessed, fs_env: dict[str, str]
) -> None:
    r = _route(fs, "default", "1002", callcontrol_mode="outbound")
    apps = r.apps()
    assert apps.index("socket") < apps.index("bridge")
    assert ("set", f"call_timeout={fs_env['CALLCONTROL_CALLS__NO_ANSWER_TIMEOUT']}") in r.actions
    assert ("bridge", f"user/${{destination_number}}@{fs.globals['domain']}") in r.actions


def test_unknown_extensions_and_numbers_are_rejected_in_default(fs: fsconf.Preprocessed) -> None:
    for dest in ("1099", "42", "*97"):
        assert _route(fs, "default", dest).actions == [("hangup", "UNALLOCATED_NUMBER")]


def test_pstn_numbers_from_extensions_use_the_gateway(
    fs: fsconf.Preprocessed, fs_env: dict[str, str]
) -> None:
    r = _route(fs, "default", "+4930123456")
    assert r.actions == [("transfer", "+4930123456 XML outbound")]
    out = _route(fs, "outbound", "+4930123456")
    gateway = fs_env["FREESWITCH_PSTN_GATEWAY"]
    assert ("bridge", f"sofia/gateway/{gateway}/+4930123456") in out.actions
    assert _route(fs, "outbound", "12").actions == [("hangup", "UNALLOCATED_NUMBER")]


def test_the_gateway_is_named_and_configured_from_the_environment(
    fs_env: dict[str, str], user_env: dict[str, str]
) -> None:
    env = fs_env | {
        "FREESWITCH_PSTN_GATEWAY": "carrier1",
        "FREESWITCH_PSTN_PROXY": "sip.carrier.test:5060",
        "FREESWITCH_PSTN_USERNAME": "acct42",
        "FREESWITCH_PSTN_PASSWORD": "s3cr3t-from-env",
        "FREESWITCH_PSTN_REGISTER": "true",
        "FREESWITCH_PSTN_CALLER_ID": "15550100",
    }
    pre = fsconf.preprocess(env=env)
    gw = pre.xml().find(".//profile[@name='external']/gateways/gateway")
    assert gw is not None and gw.get("name") == "carrier1"
    p = {x.get("name"): x.get("value") for x in gw.iter("param")}
    assert p["proxy"] == p["realm"] == "sip.carrier.test:5060"
    assert (p["username"], p["password"], p["register"]) == ("acct42", "s3cr3t-from-env", "true")
    out = _route(pre, "outbound", "15550123")
    assert ("bridge", "sofia/gateway/carrier1/15550123") in out.actions
    assert ("set", "effective_caller_id_number=15550100") in out.actions
    # Default: a proxy that can never resolve, no registration.
    bare = fsconf.preprocess(env={}).xml().find(".//gateway")
    assert bare is not None
    q = {x.get("name"): x.get("value") for x in bare.iter("param")}
    assert q["proxy"].endswith(".invalid") and q["register"] == "false"


# ------------------------------------------------------------------ timeouts, media, SIP


def test_no_answer_timeout_is_the_configured_one(
    fs: fsconf.Preprocessed,
    fs_bare: fsconf.Preprocessed,
    env_example: dict[str, str],
    compose_config: dict[str, object],
) -> None:
    default = Settings.model_fields["calls"].default_factory().no_answer_timeout  # type: ignore[misc]
    configured = env_example["CALLCONTROL_CALLS__NO_ANSWER_TIMEOUT"]
    assert float(configured) == default
    assert float(fs_bare.globals["callcontrol_no_answer_timeout"]) == default
    assert fs.globals["callcontrol_no_answer_timeout"] == configured
    services = compose_config["services"]
    assert isinstance(services, dict)
    for svc in ("freeswitch", "callcontrol"):
        assert services[svc]["environment"]["CALLCONTROL_CALLS__NO_ANSWER_TIMEOUT"] == configured
    # A different value flows through to the dialplan's fallback ring time.
    pre = fsconf.preprocess(env={"CALLCONTROL_CALLS__NO_ANSWER_TIMEOUT": "17"})
    r = _route(pre, "default", "1000", callcontrol_mode="outbound")
    assert ("set", "call_timeout=17") in r.actions


def test_rtp_range_matches_the_environment_and_compose(
    fs: fsconf.Preprocessed,
    fs_bare: fsconf.Preprocessed,
    env_example: dict[str, str],
    compose_config: dict[str, object],
) -> None:
    core = fsconf.params(fs.xml(), "switch.conf")
    start, end = int(core["rtp-start-port"]), int(core["rtp-end-port"])
    assert (start, end) == (
        int(env_example["FREESWITCH_RTP_START_PORT"]),
        int(env_example["FREESWITCH_RTP_END_PORT"]),
    )
    bare = fsconf.params(fs_bare.xml(), "switch.conf")
    assert (int(bare["rtp-start-port"]), int(bare["rtp-end-port"])) == (start, end)
    assert 1024 < start < end <= 65535 and start % 2 == 0
    services = compose_config["services"]
    assert isinstance(services, dict)
    freeswitch = services["freeswitch"]
    if freeswitch.get("network_mode") == "host":
        # The range is the host's own ports: nothing to map, nothing may be mapped.
        assert "ports" not in freeswitch
    else:  # pragma: no cover - the compose file uses host networking today
        mapped = " ".join(str(p) for p in freeswitch.get("ports", []))
        assert f"{start}-{end}" in mapped
    sip = {int(fs_env_val) for fs_env_val in (env_example["FREESWITCH_INTERNAL_SIP_PORT"],)}
    assert sip == {int(fsconf.profile_params(fs.xml(), "internal")["sip-port"])}


def test_sip_profiles(fs: fsconf.Preprocessed, env_example: dict[str, str]) -> None:
    internal = fsconf.profile_params(fs.xml(), "internal")
    external = fsconf.profile_params(fs.xml(), "external")
    assert internal["auth-calls"] == "true"
    assert internal["context"] == "public"  # unauthenticated → public, never default
    assert external["context"] == "public"
    assert external["apply-inbound-acl"] == "pstn_trunks"
    assert internal["sip-port"] == env_example["FREESWITCH_INTERNAL_SIP_PORT"]
    assert external["sip-port"] == env_example["FREESWITCH_EXTERNAL_SIP_PORT"]
    assert internal["inbound-codec-prefs"] == env_example["FREESWITCH_INTERNAL_CODECS"]
    assert external["inbound-codec-prefs"] == env_example["FREESWITCH_EXTERNAL_CODECS"]
    for prof in (internal, external):
        assert "stun:" not in prof["ext-rtp-ip"]  # no lookups to outside servers
    root = fs.xml()
    variables = {
        v.get("name"): v.get("value")
        for v in root.iterfind(".//section[@name='directory']/domain/variables/variable")
    }
    assert variables["user_context"] == "default"


def test_nat_setting_drives_both_profiles() -> None:
    pre = fsconf.preprocess(
        env={"FREESWITCH_BIND_IP": "10.0.0.5", "FREESWITCH_EXTERNAL_IP": "203.0.113.7"}
    )
    for name in ("internal", "external"):
        prof = fsconf.profile_params(pre.xml(), name)
        assert prof["sip-ip"] == prof["rtp-ip"] == "10.0.0.5"
        assert prof["ext-sip-ip"] == prof["ext-rtp-ip"] == "203.0.113.7"


def test_env_example_covers_every_variable_freeswitch_reads(
    env_example: dict[str, str], compose_config: dict[str, object]
) -> None:
    read = set(_env_read_by_vars())
    services = compose_config["services"]
    assert isinstance(services, dict)
    assert read == set(services["freeswitch"]["environment"])
    assert read <= set(env_example)


@pytest.mark.parametrize("which", ["fs", "fs_bare"])
def test_the_rtp_range_is_even_at_both_ends(which: str, request: pytest.FixtureRequest) -> None:
    """FreeSWITCH allocates RTP ports in even pairs (switch_core_port_allocator.c): an
    odd end is "Rounding odd end port" in its log and one port less than configured."""
    conf: fsconf.Preprocessed = request.getfixturevalue(which)
    start, end = int(conf.globals["rtp_start_port"]), int(conf.globals["rtp_end_port"])
    assert start % 2 == 0 and end % 2 == 0 and start < end
    switch = fsconf.params(conf.xml(), "switch.conf")
    assert switch["rtp-start-port"] == str(start) and switch["rtp-end-port"] == str(end)
