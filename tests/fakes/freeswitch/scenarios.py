"""Scripted call flows: callers arriving, phones that answer (or not), hangups and DTMF.

An inbound call runs the same events as the recorded sipp call to 9198
(esl-events-*-all-a-sipp-park-caller-hangup): STATE CS_NEW, STATE CS_INIT, CREATE,
CALLSTATE RINGING, STATE CS_ROUTING, STATE CS_EXECUTE, then the dialplan — ``set
outside_call``, ``export RFC2822_DATE``, one ``set`` per test variable, optionally
``answer``, then ``park`` (or ``socket host:port async full``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .channel import Codec, cause_from_str
from .media import Audio, as_audio

if TYPE_CHECKING:
    from .runner import ChannelRunner
    from .switch import FakeFreeSwitch

CODECS = {
    "PCMU": Codec("PCMU", 8000, 64000),
    "PCMA": Codec("PCMA", 8000, 64000),
    "L16": Codec("L16", 8000, 128000),
}


@dataclass(frozen=True)
class Extension:
    """A phone to dial: ``user/<ext>``, ``sofia/<profile>/<ext>@…``, ``loopback/<ext>``."""

    behavior: str = "answer"  # answer | no_answer | busy | reject | unregistered
    answer_after: float = 0.5
    ring_after: float = 0.02
    audio: Audio | None = None  # what the called party says once answered
    hangup_after: float | None = None  # the called party hangs up this long after answering
    hangup_cause: str = "NORMAL_CLEARING"

    @classmethod
    def answers(
        cls, after: float = 0.5, *, audio: Audio | None = None, hangup_after: float | None = None
    ) -> Extension:
        return cls(
            "answer",
            answer_after=after,
            ring_after=min(0.02, after),
            audio=audio,
            hangup_after=hangup_after,
        )

    @classmethod
    def never_answers(cls) -> Extension:
        return cls("no_answer")

    @classmethod
    def busy(cls, after: float = 0.05) -> Extension:
        return cls("busy", answer_after=after)

    @classmethod
    def rejects(cls, after: float = 0.05) -> Extension:
        return cls("reject", answer_after=after)

    @classmethod
    def unregistered(cls) -> Extension:
        return cls("unregistered")


class Scenarios:
    def __init__(self, switch: FakeFreeSwitch) -> None:
        self.sw = switch

    async def inbound_call(
        self,
        *,
        caller: str = "1000",
        caller_name: str | None = None,
        destination: str = "9198",
        variables: dict[str, str] | None = None,
        answer: bool = False,
        app: str = "park",
        app_arg: str = "",
        socket: str | None = None,
        audio: Audio | bytes | str | Path | None = None,
        audio_rate: int | None = None,
        voice_starts: str = "fork",
        codec: str = "PCMU",
        ptime_ms: int | None = None,
        uuid: str | None = None,
        context: str = "public",
        wait: bool = True,
        timeout: float = 5.0,
    ) -> str:
        """A caller dials ``destination``; returns the channel UUID once it is parked.

        ``socket="127.0.0.1:PORT async full"`` runs the outbound-socket dialplan instead of
        ``park`` (then it returns once the socket app started). ``audio`` is what the caller
        says; it starts when the first audio fork connects (``voice_starts="fork"``), on
        answer (``"answer"``) or at once (``"now"``).
        """
        sw = self.sw
        port = 5060 + (sw.sessions_since_startup % 50) * 2
        name = f"sofia/external/{caller}@127.0.0.1:{port}"
        ch = sw.new_channel(
            direction="inbound",
            name=name,
            destination=destination,
            uuid=uuid,
            caller_id_name=caller_name or caller,
            caller_id_number=caller,
            username=caller,
            dialplan="XML",
            context=context,
            network_addr="127.0.0.1",
            ptime_ms=ptime_ms,
        )
        call_id = f"{sw.sessions_since_startup}-{abs(hash(ch.uuid)) % 100000}@127.0.0.1"
        for key, value in (
            ("sip_from_user", caller),
            ("sip_from_port", str(port)),
            ("sip_from_uri", f"{caller}@127.0.0.1:{port}"),
            ("sip_from_host", "127.0.0.1"),
            ("channel_name", name),
            ("sip_call_id", call_id),
            ("sip_network_ip", "127.0.0.1"),
            ("sip_network_port", str(port)),
            ("sip_req_user", destination),
            ("sip_req_uri", f"{destination}@127.0.0.1:5080"),
            ("sip_to_user", destination),
            ("sip_to_uri", f"{destination}@127.0.0.1:5080"),
            ("sofia_profile_name", "external"),
            ("max_forwards", "70"),
            ("endpoint_disposition", "DELAYED NEGOTIATION"),
            ("call_uuid", ch.uuid),
        ):
            ch.set_var(key, value)
        media = sw.media_of(ch)
        media.voice_trigger = voice_starts
        if audio is not None:
            media.say(as_audio(audio, audio_rate), sw.now())
        if voice_starts == "now":
            media.start_voice(sw.now())
        ch.codec_pref = CODECS.get(codec.upper(), Codec(codec.upper(), 8000, 64000))

        profile = ch.profile
        ch.profile = None
        sw.set_running_state(ch, "CS_NEW")
        ch.profile = profile
        sw.set_running_state(ch, "CS_INIT")
        ch.state = "CS_ROUTING"
        sw.channel_event(ch, "CHANNEL_CREATE")
        ch.running_state = "CS_ROUTING"
        sw.set_callstate(ch, "RINGING")
        sw.channel_event(ch, "CHANNEL_STATE", extended=False)
        sw.set_running_state(ch, "CS_EXECUTE")

        plan_vars = dict(variables or {})

        async def dialplan(runner: ChannelRunner) -> None:
            await runner.execute("set", "outside_call=true")
            sw.fire_event(
                "API", [("API-Command", "strftime"), ("API-Command-Argument", "%a, %d %b %Y %T %z")]
            )
            date = time.strftime("%a, %d %b %Y %H:%M:%S %z")
            await runner.execute("export", f"RFC2822_DATE={date}")
            for key, value in plan_vars.items():
                await runner.execute("set", f"{key}={value}")
            if answer:
                await runner.execute("answer")
            if socket is not None:
                await runner.execute("socket", socket)
            else:
                await runner.execute(app, app_arg)

        sw.start_runner(ch, dialplan)
        if wait:
            if socket is not None:
                await sw.wait_until(
                    lambda: (
                        sw.runners.get(ch.uuid) is None
                        or sw.runners[ch.uuid].current_app == "socket"
                    ),
                    timeout,
                )
            else:
                await sw.wait_until(
                    lambda: ch.down or sw.state_matches(ch.uuid, "parked") or app != "park", timeout
                )
        return ch.uuid

    async def far_end_hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        ch = self.sw.channels.get(uuid)
        if ch is None:
            return
        ch.set_var("sip_hangup_disposition", "recv_bye")
        self.sw.hangup(ch, cause_from_str(cause))

    async def caller_dtmf(self, uuid: str, digits: str, *, interval: float = 0.1) -> None:
        ch = self.sw.channel(uuid)
        runner = self.sw.runners.get(uuid)
        media = self.sw.media_of(ch)
        for digit in digits:
            if ch.down:
                return
            if runner is not None and runner.playing:
                media.dtmf.append(digit)  # only a playback reads DTMF; park drops it
            self.sw.channel_event(
                ch,
                "DTMF",
                after=[("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "RTP")],
            )
            if runner is not None:
                runner.poke()
            await asyncio.sleep(interval)
