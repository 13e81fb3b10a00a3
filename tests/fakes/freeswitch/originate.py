"""``originate``, the ``bridge`` application and ``uuid_bridge``, against test-configured phones.

The far ends are :class:`~.scenarios.Extension` objects (answer after N s, never answer,
busy, unregistered, reject). Event sequences follow the originate recordings
(esl-events-*-b-originate-fail): OUTGOING, STATE CS_INIT, CREATE, ORIGINATE, STATE
CS_ROUTING, STATE CS_CONSUME_MEDIA, then PROGRESS/CALLSTATE RINGING, and ANSWER or HANGUP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .channel import Channel, cause_from_str
from .fsargs import separate_string
from .runner import ChannelRunner, Plan

if TYPE_CHECKING:
    from .switch import FakeFreeSwitch


@dataclass(frozen=True, slots=True)
class DialTarget:
    endpoint: str  # "user" | "sofia" | "loopback" | "error"
    extension: str
    channel_name: str
    variables: tuple[tuple[str, str], ...]


def parse_dialstring(dialstring: str) -> DialTarget:
    """``{a=b,c=d}[e=f]endpoint/...``; only the first leg of a ``,``/``|`` list is dialled."""
    variables: list[tuple[str, str]] = []
    rest = dialstring.strip()
    while rest[:1] in ("{", "[", "<"):
        close = {"{": "}", "[": "]", "<": ">"}[rest[0]]
        inner, _, rest = rest[1:].partition(close)
        for item in _split_vars(inner):
            key, _, value = item.partition("=")
            if key.strip():
                variables.append((key.strip(), value.strip().strip("'")))
    leg = rest.split("|")[0].split(",")[0].strip()
    kind, _, target = leg.partition("/")
    kind = kind.lower()
    if kind == "user":
        ext = target.split("@")[0]
        name = f"sofia/internal/{target}"
    elif kind == "sofia":
        _, _, user = target.partition("/")
        ext = user.split("@")[0]
        name = leg
    elif kind == "loopback":
        ext = target.split("/")[0]
        name = f"loopback/{ext}-a"
    else:
        ext = target
        name = leg
    return DialTarget(kind, ext, name, tuple(variables))


def _split_vars(inner: str) -> list[str]:
    out, current, quoted = [], [], False
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\" and i + 1 < len(inner):
            current.append(inner[i + 1])
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    out.append("".join(current))
    return out


class Originator:
    def __init__(self, switch: FakeFreeSwitch) -> None:
        self.sw = switch

    # ------------------------------------------------------------------ api originate
    async def api_originate(self, arg: str) -> str:
        argv = separate_string(arg, 10)
        if len(argv) < 2 or len(argv) > 7:
            return (
                "-USAGE: <call url> <exten>|&<application_name>(<app_args>) "
                "[<dialplan>] [<context>] "
                "[<cid_name>] [<cid_num>] [<timeout_sec>]\n"
            )
        args: list[str | None] = [None if a.lower() == "undef" else a for a in argv]
        args += [None] * 7
        dialstring, exten, dialplan, context, cid_name, cid_num, timeout = args[:7]
        assert dialstring is not None and exten is not None
        plan: Plan
        if exten.startswith("&") and len(exten) > 1:
            app, _, app_arg = exten[1:].partition("(")
            plan = [(app, app_arg.rstrip(")"))]
            then_execute = True
        else:
            plan = self.sw.dialplan_for(exten, context or "default")
            then_execute = False
        ch, cause = await self.originate(
            dialstring,
            timeout=int(timeout) if timeout and timeout.isdigit() else 60,
            cid_name=cid_name,
            cid_num=cid_num,
            then=plan,
            then_execute=then_execute,
        )
        if ch is None:
            return f"-ERR {cause}\n"
        return f"+OK {ch.uuid}\n"

    async def originate(
        self,
        dialstring: str,
        *,
        timeout: int = 60,
        cid_name: str | None = None,
        cid_num: str | None = None,
        then: Plan | None = None,
        then_execute: bool = True,
        cancel_if: Callable[[], bool] | None = None,
    ) -> tuple[Channel | None, str]:
        """Dial; returns (answered channel, "") or (None, cause). ``then`` runs after answer."""
        target = parse_dialstring(dialstring)
        variables = dict(target.variables)
        if target.endpoint == "error":
            return None, cause_from_str(target.extension, "NORMAL_TEMPORARY_FAILURE")
        ext = self.sw.extensions.get(target.extension)
        if target.endpoint == "user" and ext is None:
            return None, "SUBSCRIBER_ABSENT"
        if ext is not None and ext.behavior == "unregistered":
            return None, "USER_NOT_REGISTERED"
        uid = variables.get("origination_uuid")
        if uid and uid in self.sw.channels:
            return None, "DESTINATION_OUT_OF_ORDER"
        timeout = int(variables.get("originate_timeout", timeout) or timeout)
        ch = self.sw.new_channel(
            direction="outbound",
            name=target.channel_name,
            destination=target.extension,
            uuid=uid,
            caller_id_name=variables.get("origination_caller_id_name", cid_name or ""),
            caller_id_number=variables.get("origination_caller_id_number", cid_num or "0000000000"),
            context="default",
            source="src/switch_ivr_originate.c",
            callee_id_name="Outbound Call",
            callee_id_number=target.extension,
        )
        for key, value in target.variables:
            ch.set_var(key, value)
        ch.set_var("originate_timeout", str(timeout))
        ch.set_var("originate_early_media", "true")
        ch.set_var("originate_endpoint", target.endpoint)
        result: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def leg(runner: ChannelRunner) -> None:
            cause = await self._dial(runner, ext, timeout, cancel_if)
            if cause:
                self.sw.hangup(ch, cause)
                if not result.done():
                    result.set_result(cause)
                await asyncio.sleep(0)
                return
            if not result.done():
                result.set_result("")
            if then is not None:
                if then_execute:
                    self.sw.set_running_state(ch, "CS_EXECUTE")
                    await runner.run_plan(then)
                else:
                    await self.sw.routed_plan(then)(runner)

        self.sw.start_runner(ch, leg)
        try:
            cause = await asyncio.shield(result)
        except asyncio.CancelledError:
            if not result.done():
                self.sw.hangup(ch, "ORIGINATOR_CANCEL")
            raise
        if cause:
            await asyncio.sleep(0)
            return None, cause
        return ch, ""

    async def _dial(
        self, runner: ChannelRunner, ext: object, timeout: int, cancel_if: Callable[[], bool] | None
    ) -> str:
        from .scenarios import Extension

        sw, ch = self.sw, runner.ch
        ch.running_state, ch.state = "CS_NONE", "CS_INIT"
        sw.channel_event(ch, "CHANNEL_OUTGOING")
        sw.set_running_state(ch, "CS_INIT")
        ch.state = "CS_ROUTING"
        ch.running_state = "CS_INIT"
        sw.channel_event(ch, "CHANNEL_CREATE")
        sw.channel_event(ch, "CHANNEL_ORIGINATE")
        sw.set_running_state(ch, "CS_ROUTING")
        sw.set_running_state(ch, "CS_CONSUME_MEDIA")
        if not isinstance(ext, Extension):
            await runner.sleep(0.02)
            return "NO_ROUTE_DESTINATION"
        deadline = sw.now() + timeout

        async def until(t: float) -> bool:
            """Wait until time t; False if the leg was hung up or the caller gave up."""
            while ch.up and sw.now() < t:
                if cancel_if is not None and cancel_if():
                    return False
                await runner.wait(min(t - sw.now(), 0.05))
            return ch.up and not (cancel_if is not None and cancel_if())

        assert ch.profile is not None
        if ext.behavior in ("busy", "reject"):
            ok = await until(sw.now() + ext.answer_after)
            if not ok:
                return ch.hangup_cause or "ORIGINATOR_CANCEL"
            ch.profile.network_addr = "127.0.0.1"  # the far end answered the INVITE
            return "USER_BUSY" if ext.behavior == "busy" else "CALL_REJECTED"
        if not await until(sw.now() + min(ext.ring_after, timeout)):
            return ch.hangup_cause or "ORIGINATOR_CANCEL"
        ch.profile.network_addr = "127.0.0.1"
        ch.profile.callee_id_name = ch.profile.callee_id_number  # 180 Ringing carries the callee
        sw.ring_ready(ch)
        if ext.behavior == "no_answer" or ext.answer_after >= timeout:
            if not await until(deadline):
                return ch.hangup_cause or "ORIGINATOR_CANCEL"
            return "NO_ANSWER"
        if not await until(sw.now() + max(0.0, ext.answer_after - ext.ring_after)):
            return ch.hangup_cause or "ORIGINATOR_CANCEL"
        sw.far_end_answered(ch)
        media = sw.media_of(ch)
        if ext.audio is not None:
            media.say(ext.audio, sw.now())  # held until the voice starts, right below
        media.start_voice(sw.now())
        if ext.hangup_after is not None:
            sw.tasks.spawn(
                self._hang_up_later(ch, ext.hangup_after, ext.hangup_cause), name="far-end hangup"
            )
        return ""

    async def _hang_up_later(self, ch: Channel, seconds: float, cause: str) -> None:
        await asyncio.sleep(seconds)
        self.sw.hangup(ch, cause)

    # ------------------------------------------------------------------ bridging
    async def bridge_app(self, runner: ChannelRunner, dialstring: str) -> None:
        a = runner.ch
        b, cause = await self.originate(
            dialstring,
            then=self._bridged_plan(),
            cancel_if=lambda: a.down or runner.redirect is not None,
        )
        if b is None:
            a.set_var("originate_disposition", cause)
            a.set_var("DIALSTATUS", cause)
            if a.up and runner.redirect is None:
                self.sw.hangup(a, cause)
            return
        if a.up and not a.answered:
            self.sw.answer(a)
        if a.down:
            self.sw.hangup(b, "ORIGINATOR_CANCEL")
            return
        self.sw.bridge(a, b)
        while a.up and a.partner_uuid is not None and runner.redirect is None:
            await runner.wait(None)

    def _bridged_plan(self) -> Callable[[ChannelRunner], Awaitable[None]]:
        async def bridged(runner: ChannelRunner) -> None:
            self.sw.set_running_state(runner.ch, "CS_EXCHANGE_MEDIA")
            while runner.ch.up and runner.redirect is None:
                await runner.interruptible_wait(None)
                runner.break_flag = 0

        return bridged

    async def uuid_bridge(self, a: Channel, b: Channel) -> None:
        ready = {a.uuid: asyncio.Event(), b.uuid: asyncio.Event()}
        bridged = self._bridged_plan()

        def plan_for(ch: Channel) -> Callable[[ChannelRunner], Awaitable[None]]:
            async def plan(runner: ChannelRunner) -> None:
                ready[ch.uuid].set()
                await bridged(runner)

            return plan

        for ch in (a, b):
            runner = self.sw.runners.get(ch.uuid)
            if runner is not None:
                runner.transfer_to(plan_for(ch))
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready.values())), 2.0)
        except TimeoutError:
            return
        if a.up and b.up:
            self.sw.bridge(a, b)
