"""A small model of how FreeSWITCH 1.10 reads our configuration, for the deploy tests.

* :func:`preprocess` follows ``preprocess()`` in ``src/switch_xml.c``: the file is read line by
  line; ``$${name}`` is replaced by the global variable (or nothing); a line holding
  ``<include>``, ``</include>`` or ``<?`` is dropped; a line holding ``<X-PRE-PROCESS …/>`` is
  dropped after running it (``set``, ``env-set``, ``exec-set``, ``include``), even inside a
  comment.  ``include`` globs relative to the including file's directory, in sorted order.
* :func:`route` follows ``parse_exten()`` in ``mod_dialplan_xml.c`` for flat conditions:
  a passing condition queues its actions (``$1``… substituted when the expression has a group),
  a failing one its anti-actions; ``break`` defaults to ``on-false``; an extension matches when
  its last evaluated condition proceeded; ``continue="true"`` keeps hunting.

Only what our files use is modelled; anything else raises, so a new construct is noticed.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "freeswitch" / "conf"
DIALPLAN = REPO / "dialplan"
# docker-compose.yml mounts ./dialplan at <conf>/dialplan.
MOUNTS = {CONF / "dialplan": DIALPLAN}

# Variables the FreeSWITCH core sets before it reads freeswitch.xml (switch_core.c).
CORE_VARS = {
    "local_ip_v4": "192.0.2.10",
    "local_mask_v4": "255.255.255.0",
    "hostname": "fs-test",
    "base_dir": "/usr/local/freeswitch",
    "conf_dir": "/usr/local/freeswitch/conf",
    "log_dir": "/usr/local/freeswitch/log",
}

_PP = re.compile(r"<x-pre-process\b", re.IGNORECASE)
_ATTR = re.compile(r'(\w[\w-]*)\s*=\s*"([^"]*)"')


class PreprocessError(Exception):
    pass


@dataclass
class Preprocessed:
    text: str
    globals: dict[str, str]
    files: list[Path] = field(default_factory=list)
    commands: list[tuple[str, str]] = field(default_factory=list)

    def xml(self) -> ET.Element:
        return ET.fromstring(self.text)


def _expand(line: str, gvars: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        if line.startswith("$${", i):
            end = line.find("}", i + 3)
            if end < 0:
                raise PreprocessError(f"unterminated $${{ in {line!r}")
            out.append(gvars.get(line[i + 3 : end], ""))
            i = end + 1
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def _split_set(data: str) -> tuple[str, str] | None:
    if "=" not in data:
        return None
    name, val = data.split("=", 1)
    return name.rstrip(" "), val.lstrip(" ")


def preprocess(
    path: Path = CONF / "freeswitch.xml",
    env: Mapping[str, str] | None = None,
    mounts: Mapping[Path, Path] = MOUNTS,
) -> Preprocessed:
    """Pre-process ``path`` like FreeSWITCH would with ``env`` as its environment."""
    environ = dict(env or {})
    gvars = dict(CORE_VARS)
    result = Preprocessed(text="", globals=gvars)
    lines: list[str] = []

    def resolve(cwd: Path, pattern: str) -> list[Path]:
        full = Path(pattern) if pattern.startswith("/") else cwd / pattern
        parent = Path(os.path.normpath(full.parent))
        parent = mounts.get(parent, parent)
        return [Path(p) for p in sorted(glob.glob(str(parent / full.name)))]

    def run(file: Path, depth: int) -> None:
        if depth > 100:
            raise PreprocessError("include recursion")
        result.files.append(file)
        for raw in file.read_text(encoding="utf-8").splitlines(keepends=True):
            line = _expand(raw, gvars)
            if "<include>" in raw or "</include>" in raw or "<?" in raw:
                continue
            if "<!--#" in line:
                raise PreprocessError(f"{file}: <!--# directives are not modelled")
            m = _PP.search(line)
            if m:
                attrs = dict(_ATTR.findall(line[m.end() :]))
                cmd, data = attrs.get("cmd", ""), attrs.get("data", "")
                result.commands.append((cmd, data))
                if cmd == "set":
                    kv = _split_set(data)
                    if kv:
                        gvars[kv[0]] = kv[1]
                elif cmd == "env-set":
                    name, _, val = data.partition("=")
                    if val.startswith("$") and val[1:] in environ:
                        gvars[name] = environ[val[1:]]
                elif cmd == "exec-set":
                    kv = _split_set(data)
                    if kv:
                        out = subprocess.run(
                            ["/bin/sh", "-c", kv[1]],
                            env=environ | {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                            capture_output=True,
                            text=True,
                            timeout=10,
                            check=False,
                        ).stdout
                        if out:
                            gvars[kv[0]] = out.rstrip(" \n")
                elif cmd == "include":
                    for inc in resolve(file.parent, data):
                        run(inc, depth + 1)
                else:
                    raise PreprocessError(f"{file}: X-PRE-PROCESS cmd={cmd!r} not modelled")
                continue
            lines.append(line)

    run(Path(path), 0)
    result.text = "".join(lines)
    return result


# ---------------------------------------------------------------- dialplan


@dataclass
class Route:
    context: str
    destination: str
    extensions: list[str]
    actions: list[tuple[str, str]]

    def apps(self) -> list[str]:
        return [a for a, _ in self.actions]

    def sets(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for app, data in self.actions:
            if app == "set" and "=" in data:
                k, v = data.split("=", 1)
                out[k] = v
        return out


_VAR = re.compile(r"\$\{([^${}]*)\}")


def expand_runtime(
    text: str, chan: Mapping[str, str], apis: Mapping[str, Callable[[str], str]]
) -> str:
    """Expand ``${var}`` and ``${api(args)}`` innermost first (switch_channel_expand_variables)."""
    while True:
        m = _VAR.search(text)
        if not m:
            return text
        inner = m.group(1)
        call = re.fullmatch(r"(\w+)\((.*)\)", inner, re.S)
        if call:
            if call.group(1) not in apis:
                raise KeyError(f"API {call.group(1)} not modelled")
            val = apis[call.group(1)](call.group(2))
        else:
            val = chan.get(inner, "")
        text = text[: m.start()] + val + text[m.end() :]


def _substitute(data: str, match: re.Match[str]) -> str:
    def rep(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return (match.group(n) or "") if n <= (match.re.groups) else ""

    return re.sub(r"\$(\d)", rep, data)


def route(
    doc: ET.Element,
    context: str,
    destination: str,
    gvars: Mapping[str, str],
    chan: Mapping[str, str] | None = None,
    users: set[str] | None = None,
) -> Route:
    """Hunt ``destination`` in ``context`` and return the queued applications."""
    ctx = doc.find(f"./section[@name='dialplan']/context[@name='{context}']")
    if ctx is None:
        raise KeyError(f"no context {context}")
    # A channel variable that is not set falls back to the global one (switch_channel.c).
    variables = dict(gvars) | dict(chan or {}) | {"destination_number": destination}
    known = users or set()

    def user_exists(args: str) -> str:
        parts = args.split()
        return "true" if len(parts) >= 2 and parts[0] == "id" and parts[1] in known else "false"

    apis = {"user_exists": user_exists}
    matched: list[str] = []
    actions: list[tuple[str, str]] = []
    for ext in ctx.findall("extension"):
        proceed = False
        queued: list[tuple[str, str]] = []
        for cond in ext.findall("condition"):
            if cond.find("condition") is not None:
                raise NotImplementedError("nested conditions are not modelled")
            fld, expr = cond.get("field"), cond.get("expression")
            brk = cond.get("break", "on-false")
            match: re.Match[str] | None = None
            if fld is None and expr is None:
                passed = True
            else:
                assert fld is not None and expr is not None
                value = (
                    expand_runtime(fld, variables, apis)
                    if "$" in fld
                    else {"destination_number": destination}.get(fld, variables.get(fld, ""))
                )
                match = re.search(expr, value)
                passed = match is not None
            if passed:
                proceed = True
                for act in cond.findall("action"):
                    data = act.get("data", "")
                    if match is not None and "(" in (expr or ""):
                        data = _substitute(data, match)
                    queued.append((act.get("application", ""), data))
            else:
                antis = cond.findall("anti-action")
                queued.extend((a.get("application", ""), a.get("data", "")) for a in antis)
                proceed = bool(antis)
            if (passed and brk == "on-true") or (not passed and brk == "on-false"):
                break
            if brk == "always":
                break
        if proceed:
            matched.append(ext.get("name", "?"))
            actions.extend(queued)
            if ext.get("continue", "false") != "true":
                break
    return Route(context, destination, matched, actions)


def directory_users(doc: ET.Element) -> set[str]:
    return {u.get("id", "") for u in doc.iterfind("./section[@name='directory']//user")}


def module_list(doc: ET.Element) -> list[str]:
    conf = doc.find("./section[@name='configuration']/configuration[@name='modules.conf']")
    assert conf is not None
    return [m.get("module", "") for m in conf.iterfind("./modules/load")]


def params(doc: ET.Element, config: str, path: str = "./settings/param") -> dict[str, str]:
    conf = doc.find(f"./section[@name='configuration']/configuration[@name='{config}']")
    if conf is None:
        raise KeyError(config)
    return {p.get("name", ""): p.get("value", "") for p in conf.iterfind(path)}


def profile_params(doc: ET.Element, profile: str) -> dict[str, str]:
    prof = doc.find(
        "./section[@name='configuration']/configuration[@name='sofia.conf']"
        f"/profiles/profile[@name='{profile}']"
    )
    if prof is None:
        raise KeyError(profile)
    return {p.get("name", ""): p.get("value", "") for p in prof.iterfind("./settings/param")}
