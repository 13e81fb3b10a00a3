"""docker-compose.yml helpers for the deploy tests: loading, the compose-spec schema,
variable interpolation (the Compose Specification's rules), .env files, and finding a real
`docker compose` binary when one is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
SCHEMA = Path(__file__).resolve().parent / "data" / "compose-spec.json"


class InterpolationError(Exception):
    pass


def load_raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def load_schema() -> dict[str, Any]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=value lines; # comments and blank lines ignored (no quoting used in ours)."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=value: {line!r}"
        env[key.strip()] = value.strip()
    return env


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def interpolate_str(text: str, env: Mapping[str, str]) -> str:
    """Compose interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e},
    ${VAR:+r}, ${VAR+r}; defaults may themselves contain ${...}."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if text.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text.startswith("${", j):
                    depth += 1
                    j += 2
                    continue
                if text[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise InterpolationError(f"unterminated ${{ in {text!r}")
            out.append(_expr(text[i + 2 : j - 1], env))
            i = j
            continue
        m = re.match(_NAME, text[i + 1 :])
        if m:
            out.append(env.get(m.group(0), ""))
            i += 1 + m.end()
            continue
        raise InterpolationError(f"bad $ in {text!r}")
    return "".join(out)


def _expr(body: str, env: Mapping[str, str]) -> str:
    m = re.match(rf"({_NAME})(:?[-?+])?(.*)$", body, re.S)
    if not m:
        raise InterpolationError(f"bad expression ${{{body}}}")
    name, op, rest = m.group(1), m.group(2), m.group(3)
    value = env.get(name)
    if op is None:
        if rest:
            raise InterpolationError(f"bad expression ${{{body}}}")
        return value or ""
    empty_counts = op.startswith(":")
    missing = value is None or (empty_counts and value == "")
    kind = op[-1]
    if kind == "-":
        return interpolate_str(rest, env) if missing else str(value)
    if kind == "?":
        if missing:
            raise InterpolationError(f"{name}: {interpolate_str(rest, env)}")
        return str(value)
    return "" if missing else interpolate_str(rest, env)  # "+"


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_str(node, env)
    if isinstance(node, list):
        return [interpolate(x, env) for x in node]
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    return node


def referenced_variables(node: Any) -> set[str]:
    """Every variable name the file interpolates (including inside defaults)."""
    names: set[str] = set()
    if isinstance(node, str):
        text = node.replace("$$", "")
        names.update(re.findall(r"\$\{(" + _NAME + ")", text))
        names.update(re.findall(r"\$(" + _NAME + ")", text))
    elif isinstance(node, list):
        for x in node:
            names |= referenced_variables(x)
    elif isinstance(node, dict):
        for v in node.values():
            names |= referenced_variables(v)
    return names


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def compose_binary() -> list[str] | None:
    """A real Compose CLI if one is installed: the v2 plugin (`docker compose`), or a
    standalone `docker-compose` (v2, or Debian's v1.29 — CI installs that one)."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0 and "v2" in probe.stdout:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        probe = subprocess.run([standalone, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return [standalone]
    return None


def compose_is_v1(cli: list[str]) -> bool:
    probe = subprocess.run([*cli, "version"], capture_output=True, text=True, check=False)
    return "version 1." in probe.stdout
