"""``api``/``bgapi`` commands (mod_commands, mod_audio_fork) with FreeSWITCH's exact replies."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .channel import Channel, cause_from_str
from .fsargs import separate_string
from .runner import PrivateMessage
from .show import show_calls_json, show_channels_json, status_text

if TYPE_CHECKING:
    from .switch import FakeFreeSwitch

Handler = Callable[["FakeFreeSwitch", str], Awaitable[str]]
_HANDLERS: dict[str, Handler] = {}


def _api(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = fn
        return fn

    return register


async def execute_api(sw: FakeFreeSwitch, command: str, arg: str | None) -> str:
    """switch_api_execute: run the command, fire the API event on success, return the output."""
    handler = _HANDLERS.get(command.lower())
    if handler is None:
        return f"-ERR {command} Command not found!\n"
    output = await handler(sw, arg or "")
    headers = [("API-Command", command)]
    if arg:
        headers.append(("API-Command-Argument", arg))
    sw.fire_event("API", headers)
    return output


def _locate(sw: FakeFreeSwitch, uid: str) -> Channel | None:
    ch = sw.channels.get(uid.strip())
    return ch if ch is not None and not ch.destroyed else None


@_api("status")
async def _status(sw: FakeFreeSwitch, arg: str) -> str:
    return status_text(
        started_at=sw.started_at,
        sessions_since_startup=sw.sessions_since_startup,
        session_count=len(sw.channels),
        peak=sw.peak_sessions,
        max_sessions=sw.config.max_sessions,
        sps=sw.config.sessions_per_second,
    )


@_api("version")
async def _version(sw: FakeFreeSwitch, arg: str) -> str:
    from .show import VERSION

    return f"FreeSWITCH Version {VERSION} ({VERSION})\n"


@_api("show")
async def _show(sw: FakeFreeSwitch, arg: str) -> str:
    words = arg.split()
    if not words or words[0].lower() not in ("channels", "calls"):
        return (
            "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|"
            "channels [count|like <match string>]|...\n"
        )
    what = words[0].lower()
    channels = [c for c in sw.channels.values() if not c.destroyed]
    if len(words) >= 3 and words[-2].lower() == "as" and words[-1].lower() == "json":
        if what == "channels":
            return show_channels_json(channels, sw.config.hostname)
        return show_calls_json(channels, sw.config.hostname)
    if len(words) >= 2 and words[1].lower() == "count":
        count = (
            len(channels)
            if what == "channels"
            else sum(1 for c in channels if c.bridge_role != "callee")
        )
        return f"\n{count} total.\n"
    import json

    text = (
        show_channels_json(channels, sw.config.hostname)
        if what == "channels"
        else show_calls_json(channels, sw.config.hostname)
    )
    rows = json.loads(text).get("rows", [])
    if not rows:
        return "\n0 total.\n"
    lines = [",".join(rows[0].keys())] + [",".join(row.values()) for row in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"


@_api("uuid_exists")
async def _uuid_exists(sw: FakeFreeSwitch, arg: str) -> str:
    return "true" if arg and _locate(sw, arg) is not None else "false"


@_api("uuid_kill")
async def _uuid_kill(sw: FakeFreeSwitch, arg: str) -> str:
    if not arg:
        return "-USAGE: <uuid> [cause]\n"
    uid, _, cause = arg.partition(" ")
    ch = _locate(sw, uid)
    if ch is None:
        return "-ERR No such channel!\n"
    sw.hangup(ch, cause_from_str(cause))
    return "+OK\n"


@_api("uuid_answer")
async def _uuid_answer(sw: FakeFreeSwitch, arg: str) -> str:
    ch = _locate(sw, arg) if arg else None
    if ch is None or not sw.answer(ch):
        return "-ERROR\n"
    return "+OK\n"


@_api("uuid_pre_answer")
async def _uuid_pre_answer(sw: FakeFreeSwitch, arg: str) -> str:
    ch = _locate(sw, arg) if arg else None
    if ch is None or not sw.pre_answer(ch):
        return "-ERROR\n"
    return "+OK\n"


@_api("uuid_bridge")
async def _uuid_bridge(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 4)
    if len(argv) < 2:
        return "-USAGE: <uuid> <other_uuid>\n"
    a = _locate(sw, argv[0])
    for candidate in argv[1:3]:
        b = _locate(sw, candidate)
        if a is not None and b is not None and a is not b and a.up and b.up:
            await sw.originator.uuid_bridge(a, b)
            return f"+OK {candidate}\n"
    return "-ERR Invalid uuid\n"


@_api("uuid_transfer")
async def _uuid_transfer(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 5)
    if len(argv) < 2 or len(argv) > 5:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    ch = _locate(sw, argv[0])
    if ch is None:
        return "-ERR No such channel!\n"
    rest = argv[1:]
    targets = [ch]
    if rest[0].startswith("-"):
        leg = rest[0][1:].lower()
        rest = rest[1:]
        partner = _locate(sw, ch.partner_uuid or "")
        if leg == "bleg" and partner is not None:
            targets = [partner]
        elif leg == "both" and partner is not None:
            targets = [partner, ch]
    if not rest:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    ok = all(sw.transfer(t, rest[0], *rest[1:3]) for t in targets)
    return "+OK\n" if ok else "-ERR\n"


@_api("uuid_park")
async def _uuid_park(sw: FakeFreeSwitch, arg: str) -> str:
    ch = _locate(sw, arg) if arg else None
    runner = sw.runners.get(ch.uuid) if ch else None
    if runner is None:
        return "-ERR Usage: uuid_park <uuid>\n"
    runner.transfer_to([("park", "")])
    return "+OK\n"


@_api("uuid_broadcast")
async def _uuid_broadcast(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 4)
    if len(argv) < 2:
        return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
    ch = _locate(sw, argv[0])
    if ch is None:
        return "-ERR invalid uuid\n"
    legs = (argv[2] if len(argv) > 2 else "aleg").lower()
    app, path = "playback", argv[1]
    if "::" in path:
        app, _, path = path.partition("::")
    targets = []
    if "aleg" in legs or "both" in legs:
        targets.append(ch)
    partner = _locate(sw, ch.partner_uuid or "")
    if ("bleg" in legs or "both" in legs) and partner is not None:
        targets.append(partner)
    for target in targets:
        sw.post(target.uuid, PrivateMessage.execute(app, path, event_lock=True, lead_frames=5))
    return "+OK Message sent\n"


@_api("uuid_break")
async def _uuid_break(sw: FakeFreeSwitch, arg: str) -> str:
    if not arg:
        return "-USAGE: <uuid> [all]\n"
    uid, _, flag = arg.partition(" ")
    ch = _locate(sw, uid)
    if ch is None:
        return "-ERR No such channel!\n"
    all_ = "all" in flag
    targets = [ch]
    partner = _locate(sw, ch.partner_uuid or "")
    if "both" in flag and partner is not None:
        targets.append(partner)
    for target in targets:
        runner = sw.runners.get(target.uuid)
        if runner is None:
            continue
        if all_:
            runner.flush()
        runner.set_break(2 if all_ else 1)
    return "+OK\n"


@_api("uuid_record")
async def _uuid_record(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 5)
    usage = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
    if len(argv) < 3:
        return usage
    ch = _locate(sw, argv[0])
    if ch is None:
        return "-ERR Cannot locate session!\n"
    action, path = argv[1].lower(), argv[2]
    if action == "start":
        limit = int(argv[3]) if len(argv) > 3 and argv[3].isdigit() else 0
        return (
            "+OK Success\n"
            if sw.recorder.start(ch, path, limit)
            else "-ERR Cannot record session!\n"
        )
    if action == "stop":
        return (
            "+OK Success\n" if sw.recorder.stop(ch, path) else "-ERR Cannot stop record session!\n"
        )
    if action in ("mask", "unmask", "pause", "resume"):
        return (
            "+OK Success\n"
            if sw.recorder.active(ch, path)
            else f"-ERR Cannot {action} recording session!\n"
        )
    return usage


@_api("uuid_send_dtmf")
async def _uuid_send_dtmf(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 2)
    if len(argv) < 2:
        return "-USAGE: <uuid> <dtmf_data>\n"
    ch = _locate(sw, argv[0])
    if ch is None:
        return "-ERR Cannot locate session!\n"
    ch.sent_dtmf.append(argv[1])
    return f"+OK {argv[0]} sent DTMF {argv[1]}.\n"


@_api("uuid_setvar")
async def _uuid_setvar(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 3)
    if len(argv) not in (2, 3):
        return "-USAGE: <uuid> <var> [value]\n"
    ch = _locate(sw, argv[0])
    if ch is None:
        return "-ERR No such channel!\n"
    ch.set_var(argv[1], argv[2] if len(argv) == 3 else None)
    return "+OK\n"


@_api("uuid_getvar")
async def _uuid_getvar(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 4)
    if len(argv) < 2:
        return "-USAGE: <uuid> <var>\n"
    ch = _locate(sw, argv[0])
    if ch is None:
        return "-ERR No such channel!\n"
    return ch.variables.get(argv[1], "_undef_")


@_api("hupall")
async def _hupall(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 11) if arg else []
    cause = cause_from_str(argv[0], "MANAGER_REQUEST") if argv else "MANAGER_REQUEST"
    pairs = [(argv[i], argv[i + 1]) for i in range(1, len(argv) - 1, 2)]
    for ch in list(sw.channels.values()):
        if all(ch.variables.get(k) == v for k, v in pairs):
            sw.hangup(ch, cause)
    if not pairs:
        return f"+OK hangup all channels with cause {cause}\n"
    dots = "" if len(pairs) == 1 else "..."
    name, value = pairs[0]
    return f"+OK hangup all channels matching [{name}]=[{value}]{dots} with cause: {cause}\n"


@_api("fsctl")
async def _fsctl(sw: FakeFreeSwitch, arg: str) -> str:
    argv = separate_string(arg, 6)
    if not argv:
        return "-USAGE: [api_expansion [on|off]|recover|send_sighup|hupall|pause|...]\n"
    what = argv[0].lower()
    value = int(argv[1]) if len(argv) > 1 and argv[1].lstrip("-").isdigit() else 0
    if what == "max_sessions":
        if value > 0:
            sw.config.max_sessions = value
        return f"+OK max sessions: {sw.config.max_sessions}\n"
    if what == "sps":
        if value > 0:
            sw.config.sessions_per_second = value
        return f"+OK sessions per second: {sw.config.sessions_per_second}\n"
    if what == "hupall":
        for ch in list(sw.channels.values()):
            sw.hangup(ch, "MANAGER_REQUEST")
        return "+OK\n"
    if what in (
        "pause",
        "resume",
        "send_sighup",
        "reclaim_mem",
        "flush_db_handles",
        "calibrate_clock",
    ):
        return "+OK\n"
    if what == "last_sps":
        return "+OK last sessions per second: 0\n"
    if what == "sps_peak_reset":
        return "+OK max sessions per second counter reset\n"
    return "-ERR INVALID COMMAND\n"


@_api("originate")
async def _originate(sw: FakeFreeSwitch, arg: str) -> str:
    return await sw.originator.api_originate(arg)


@_api("uuid_audio_fork")
async def _uuid_audio_fork(sw: FakeFreeSwitch, arg: str) -> str:
    return await sw.forks.api(arg)


@_api("strftime")
async def _strftime(sw: FakeFreeSwitch, arg: str) -> str:
    return time.strftime(arg or "%Y-%m-%d %T")


@_api("echo")
async def _echo(sw: FakeFreeSwitch, arg: str) -> str:
    return arg


@_api("reloadxml")
async def _reloadxml(sw: FakeFreeSwitch, arg: str) -> str:
    return "+OK [Success]\n"
