"""Does the console's live feed keep up with 50 concurrent calls?

A real worker (its bus in-process, or Redis with ``redis_url``) and its console on
uvicorn; ``calls`` emulated calls publish what call control and the dialog publish —
call snapshots on ``calls`` (ringing, answered, bot, hangup), ``partial`` transcripts
while the caller speaks, ``turn`` messages with their latency waterfall, timeline
``event``\\ s — each stamped with the time it was sent. One signed-in browser stand-in,
in its own process, holds the live websocket subscribed to ``calls`` and ``call.*``
(every call's transcript: more than any one page asks for) and measures how late each
message arrives.

"Kept up": nothing lost, no resync, p99 lag under ``max_lag_ms``.

    run(calls=50, seconds=10) -> dict          # the maintainer's `make bench`
    python -m tests.bench.console_live 50 10   # prints the JSON
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


def run(
    calls: int = 50,
    seconds: float = 10.0,
    *,
    redis_url: str | None = None,
    partial_hz: float = 4.0,
    max_lag_ms: float = 250.0,
) -> dict[str, Any]:
    return asyncio.run(_bench(calls, seconds, redis_url, partial_hz, max_lag_ms))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _bench(
    calls: int, seconds: float, redis_url: str | None, partial_hz: float, max_lag_ms: float
) -> dict[str, Any]:
    import structlog

    from callcontrol.live.redis import RedisBus, RedisLiveState
    from tests.console.conftest import add_user, console_settings, running_service, serve, sign_in

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40)  # errors only
    )
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        tmp_path = Path(tmp)
        settings = console_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}")
        prefix = f"ccbench{os.getpid()}"
        live = RedisLiveState(redis_url, prefix=prefix) if redis_url else None
        bus = RedisBus(redis_url, prefix=prefix) if redis_url else None
        async with running_service(settings, live=live, bus=bus) as service:
            await add_user(service, "bench")
            async with serve(service) as url:
                async with httpx.AsyncClient(base_url=url) as http:
                    await sign_in(http, "bench")
                    cookie = f"cc_session={http.cookies['cc_session']}"
                client = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.bench.console_live",
                    "--client",
                    url.replace("http://", "ws://") + "/ws/live?topics=calls,call.*",
                    cookie,
                    str(calls),
                    str(seconds + 30.0),
                    stdout=subprocess.PIPE,
                    cwd=str(Path(__file__).resolve().parents[2]),
                )
                assert client.stdout is not None
                ready = await asyncio.wait_for(client.stdout.readline(), 20)
                assert ready.strip() == b"ready", ready
                started = time.monotonic()
                counts = await asyncio.gather(
                    *(_call(service, i, seconds, partial_hz) for i in range(calls))
                )
                publish_s = time.monotonic() - started
                out, _ = await asyncio.wait_for(client.communicate(), seconds + 30)
                report = json.loads(out.decode().strip().splitlines()[-1])
        if redis_url:
            import redis.asyncio as aioredis

            r = aioredis.Redis.from_url(redis_url)
            keys = [k async for k in r.scan_iter(f"{prefix}:*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()
    published = sum(counts)
    lags = report["lags_ms"]
    p99 = _percentile(lags, 0.99)
    lost = published - report["received"]
    return {
        "bench": "console_live",
        "bus": "redis" if redis_url else "in-process",
        "cpus": os.cpu_count(),
        "calls": calls,
        "seconds": round(publish_s, 2),
        "published": published,
        "received": report["received"],
        "lost": lost,
        "resyncs": report["resyncs"],
        "frames": report["frames"],
        "events_per_s": round(report["received"] / publish_s, 1),
        "lag_ms": {
            "p50": _round(_percentile(lags, 0.5)),
            "p95": _round(_percentile(lags, 0.95)),
            "p99": _round(p99),
            "max": _round(max(lags) if lags else None),
            "mean": _round(statistics.fmean(lags) if lags else None),
        },
        "max_lag_ms": max_lag_ms,
        "kept_up": lost == 0 and report["resyncs"] == 0 and p99 is not None and p99 <= max_lag_ms,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def _call(service: Any, index: int, seconds: float, partial_hz: float) -> int:
    """One emulated call: what call control and the dialog publish. Returns messages sent."""
    rng = random.Random(index)
    bus, live = service.bus, service.live
    call_id = f"bench-{index:04d}"
    topic = f"call.{call_id}"
    sent = 0
    now = time.monotonic
    snapshot: dict[str, Any] = {
        "id": call_id,
        "caller": f"+1555{index:07d}",
        "callee": "9198",
        "handled_by": "none",
        "worker": "bench",
        "created_at": "2026-01-01T00:00:00+00:00",
    }

    async def call_state(state: str, handled_by: str) -> None:
        nonlocal sent
        snapshot.update(state=state, handled_by=handled_by, sent_at=now())
        if state == "hangup":
            await live.delete("calls", call_id)
        else:
            await live.put("calls", call_id, dict(snapshot))
        await bus.publish("calls", dict(snapshot))
        sent += 1

    await asyncio.sleep(rng.uniform(0, 0.5))
    end = now() + seconds - 0.5
    await call_state("ringing", "none")
    await asyncio.sleep(0.05)
    await call_state("answered", "none")
    await call_state("bot", "bot")
    seq = 0
    words = "when is the weekly meeting and where can I park my car please".split()
    while now() < end:
        # the caller speaks ~1.5 s: partial transcripts grow
        spoken: list[str] = []
        for _ in range(int(1.5 * partial_hz)):
            spoken.append(rng.choice(words))
            await bus.publish(
                topic,
                {
                    "type": "partial",
                    "speaker": "caller",
                    "text": " ".join(spoken),
                    "sent_at": now(),
                },
            )
            sent += 1
            await asyncio.sleep(1 / partial_hz)
        await bus.publish(
            topic,
            {
                "type": "turn",
                "speaker": "caller",
                "seq": seq,
                "text": " ".join(spoken),
                "timings": {},
                "sent_at": now(),
            },
        )
        await bus.publish(
            topic, {"type": "event", "name": "end_of_speech", "data": {}, "sent_at": now()}
        )
        sent += 2
        seq += 1
        await asyncio.sleep(0.8)  # the bot thinks, then answers
        await bus.publish(
            topic,
            {
                "type": "turn",
                "speaker": "bot",
                "seq": seq,
                "text": "The meeting is on Tuesday.",
                "timings": {
                    "stt_done": 0.3,
                    "retrieval_done": 0.35,
                    "llm_first_token": 0.6,
                    "first_audio_sent": 0.78,
                    "playback_started": 0.82,
                },
                "sent_at": now(),
            },
        )
        sent += 1
        seq += 1
        await asyncio.sleep(1.2)
    await call_state("hangup", "bot")
    return sent


# -- the browser stand-in (its own process) ------------------------------------------
async def _client(url: str, cookie: str, calls: int, seconds: float) -> dict[str, Any]:
    """Read until every call has hung up (or ``seconds`` passed)."""
    from websockets.asyncio.client import connect

    lags: list[float] = []
    received = frames = resyncs = 0
    ended: set[str] = set()
    async with connect(url, additional_headers={"Cookie": cookie}, max_size=None) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot"
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        while len(ended) < calls:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                raw = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                break
            arrived = time.monotonic()
            frame = json.loads(raw)
            frames += 1
            if frame["type"] == "resync":
                resyncs += 1
                continue
            for message in frame.get("messages", []):
                data = message["data"]
                sent_at = data.get("sent_at")
                received += 1
                if message["topic"] == "calls" and data.get("state") == "hangup":
                    ended.add(data["id"])
                if isinstance(sent_at, int | float):
                    lags.append((arrived - sent_at) * 1000)
    return {"received": received, "frames": frames, "resyncs": resyncs, "lags_ms": lags}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--client":
        url, cookie, calls, seconds = argv[1], argv[2], int(argv[3]), float(argv[4])
        print(json.dumps(asyncio.run(_client(url, cookie, calls, seconds))), flush=True)
        return
    calls = int(argv[0]) if argv else 50
    seconds = float(argv[1]) if len(argv) > 1 else 10.0
    redis_url = argv[2] if len(argv) > 2 else None
    print(json.dumps(run(calls, seconds, redis_url=redis_url), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
