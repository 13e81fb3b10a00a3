"""How many concurrent mod_audio_fork streams the media layer keeps in real time.

Each simulated fork sends 16 kHz mono L16 in 20 ms frames, paced in real time, through
the real :class:`~callcontrol.media.fork_server.ForkServer` into a consumer that runs the
streaming Silero VAD + endpointer (:class:`~callcontrol.media.listen.CallAudioInput` on one
shared, batching :class:`~callcontrol.media.vad.VadWorker`). The audio is FreeSWITCH's
recorded caller speech (3 s, looped, each call at a different offset).

The forks are played by a separate client process (like FreeSWITCH would be), so the
server process's CPU figures are its own. A level is "real time" when no frame was
dropped or lost, the VAD kept up (max lag under ``max_vad_lag_ms``) and the client
could keep its pace.

    run(concurrency_list=(50, 100, 200)) -> dict      # the maintainer's `make bench`
    python tests/bench/fork_capacity.py 50 100 200    # prints the JSON
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REC = (
    Path(__file__).parents[1]
    / "data"
    / "recordings"
    / "freeswitch-1.10.12"
    / "ws-fork-mono-16k.audio-L16LE-16000Hz-1ch.raw"
)
SUBPROTOCOL = "audio.drachtio.org"
PHASES = 10  # frames of different calls are spread over the 20 ms period, as from a switch


def run(
    concurrency_list: tuple[int, ...] | list[int] = (50, 100, 150, 200),
    *,
    seconds: float = 10.0,
    frame_ms: int = 20,
    max_vad_lag_ms: float = 300.0,
    max_send_lag_ms: float = 100.0,
) -> dict[str, Any]:
    """Run each concurrency level in turn; returns ``{"levels": [...], "max_realtime": N}``."""
    levels = [
        asyncio.run(_level(n, seconds, frame_ms, max_vad_lag_ms, max_send_lag_ms))
        for n in concurrency_list
    ]
    ok = [lv["calls"] for lv in levels if lv["realtime"]]
    top = max(levels, key=lambda lv: lv["calls"]) if levels else None
    return {
        "bench": "fork_capacity",
        "cpus": os.cpu_count(),
        "seconds_per_level": seconds,
        "frame_ms": frame_ms,
        "levels": levels,
        "max_realtime": max(ok) if ok else 0,
        # What an otherwise idle machine could carry, from the CPU cost of the largest
        # level (server + the client standing in for FreeSWITCH). A shared box (load
        # average well above 0) fails levels that this estimate says fit.
        "estimated_forks_on_idle_cpus": _estimate(top) if top else 0,
    }


def _estimate(level: dict[str, Any]) -> int:
    per_fork = level["cpu_server_ms_per_fork_second"] + level["cpu_client_ms_per_fork_second"]
    if per_fork <= 0:
        return 0
    cpus = os.cpu_count() or 1
    # the server's Python work shares one GIL: it can use at most one CPU
    return int(min(1000 * cpus / per_fork, 1000 / level["cpu_server_ms_per_fork_second"]))


# --- server side (this process) ------------------------------------------------------------


async def _level(
    calls: int, seconds: float, frame_ms: int, max_vad_lag_ms: float, max_send_lag_ms: float
) -> dict[str, Any]:
    from callcontrol.config import ForkSettings
    from callcontrol.media.base import ForkLink
    from callcontrol.media.codecs import Int16Array
    from callcontrol.media.endpoint import EndpointEvent
    from callcontrol.media.fork_server import ForkServer
    from callcontrol.media.fork_wire import ForkMetadata, new_fork_token
    from callcontrol.media.listen import CallAudioInput
    from callcontrol.media.silero import SileroModel
    from callcontrol.media.vad import VadWorker

    events: list[int] = [0]

    class Consumer:
        def __init__(self, worker: VadWorker) -> None:
            self.input = CallAudioInput(worker, self.on_event, keep_seconds=5.0)
            self.closed = False

        def on_event(self, event: EndpointEvent) -> None:
            events[0] += 1

        def on_audio(self, samples: Int16Array, sample_rate: int) -> bool:
            return self.input.feed(samples, sample_rate)

        def on_text(self, text: str) -> None:
            pass

        def on_close(self, code: int, reason: str) -> None:
            self.closed = True

    class Registry:
        def __init__(self, worker: VadWorker) -> None:
            self.worker = worker
            self.tokens = {f"bench-{i:04d}": new_fork_token() for i in range(calls)}
            self.consumers: dict[str, Consumer] = {}

        def expected_token(self, call_id: str) -> str | None:
            return self.tokens.get(call_id)

        def attach(self, call_id: str, metadata: ForkMetadata, link: ForkLink) -> Consumer:
            consumer = Consumer(self.worker)
            self.consumers[call_id] = consumer
            return consumer

    model = SileroModel()
    settings = ForkSettings(port=0)
    loop_lag = _LoopLag()
    async with VadWorker(model) as worker:
        registry = Registry(worker)
        async with ForkServer(registry, settings, host="127.0.0.1") as server:
            probe = asyncio.create_task(loop_lag.run())
            try:
                cpu0, wall0 = os.times(), time.monotonic()
                client = await _run_client(server.port, registry.tokens, seconds, frame_ms)
                wall = time.monotonic() - wall0
                cpu1 = os.times()
                # let the VAD finish what was already received, then read the counters
                drain_start = time.monotonic()
                while any(c.input.backlog_ms >= 32 for c in registry.consumers.values()):
                    if time.monotonic() - drain_start > 15:
                        break
                    await asyncio.sleep(0.01)
                drain_s = time.monotonic() - drain_start
            finally:
                probe.cancel()
                await asyncio.wait([probe])
        stats, vad = server.stats, worker.stats
        consumers = list(registry.consumers.values())
        lags = sorted(c.input.vad_max_lag_ms for c in consumers)
        for c in consumers:
            c.input.close()

    sent = client["frames_sent"]
    lost = sent - stats.frames_received
    server_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    client_cpu = (cpu1.children_user - cpu0.children_user) + (
        cpu1.children_system - cpu0.children_system
    )
    result: dict[str, Any] = {
        "calls": calls,
        "connected": len(consumers),
        "frames_sent": sent,
        "frames_received": stats.frames_received,
        "frames_dropped": stats.frames_dropped,
        "frames_lost": lost,
        "refused": dict(stats.refused),
        "consumer_errors": stats.consumer_errors,
        "endpoint_events": events[0],
        "vad_max_lag_ms": round(max(lags, default=0.0), 1),
        "vad_median_call_max_lag_ms": round(statistics.median(lags), 1) if lags else 0.0,
        "vad_batches": vad.batches,
        "vad_mean_batch": round(vad.chunks / vad.batches, 1) if vad.batches else 0.0,
        "vad_busy_s": round(vad.busy_s, 2),
        "server_loop_max_lag_ms": round(loop_lag.max_ms, 1),
        "client_send_lag_ms": client["send_lag_ms"],
        "client_connect_s": client["connect_s"],
        "wall_s": round(wall, 2),
        "cpu_server_s": round(server_cpu, 2),
        "cpu_client_s": round(client_cpu, 2),
        "vad_drain_after_s": round(drain_s, 2),
        "cpu_server_pct_of_one_core": round(100 * server_cpu / wall, 1),
        "cpu_client_pct_of_one_core": round(100 * client_cpu / wall, 1),
        # cost model, meaningful even on a busy machine: CPU ms per second of one fork
        "cpu_server_ms_per_fork_second": round(1000 * server_cpu / (calls * wall), 2),
        "cpu_client_ms_per_fork_second": round(1000 * client_cpu / (calls * wall), 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    why_not = []
    if result["connected"] != calls:
        why_not.append(f"only {result['connected']} of {calls} forks connected")
    if stats.frames_dropped or lost:
        why_not.append(f"{stats.frames_dropped} frames dropped, {lost} lost")
    if result["vad_max_lag_ms"] > max_vad_lag_ms:
        why_not.append(f"VAD lag {result['vad_max_lag_ms']} ms > {max_vad_lag_ms:g}")
    if client["send_lag_ms"]["p99"] > max_send_lag_ms:
        # the client process could not keep real time: the machine, not the server
        why_not.append(f"client send lag p99 {client['send_lag_ms']['p99']} ms")
    result["realtime"] = not why_not
    result["why_not"] = why_not
    return result


class _LoopLag:
    """How late the server's event loop wakes up a 10 ms sleeper."""

    def __init__(self) -> None:
        self.max_ms = 0.0

    async def run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            self.max_ms = max(self.max_ms, (time.monotonic() - t - 0.01) * 1000)


async def _run_client(
    port: int, tokens: dict[str, str], seconds: float, frame_ms: int
) -> dict[str, Any]:
    job = {"port": port, "calls": sorted(tokens.items()), "seconds": seconds, "frame_ms": frame_ms}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    out, _ = await proc.communicate(json.dumps(job).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"bench client failed with {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


# --- client side (the child process: plays FreeSWITCH) --------------------------------------


async def _client(job: dict[str, Any]) -> dict[str, Any]:
    from websockets.asyncio.client import ClientConnection, connect

    port, seconds, frame_ms = job["port"], job["seconds"], job["frame_ms"]
    audio = REC.read_bytes()
    step = 16 * frame_ms * 2  # bytes per frame at 16 kHz mono
    frames = [audio[i : i + step] for i in range(0, len(audio) - step + 1, step)]
    calls: list[tuple[str, str]] = [tuple(c) for c in job["calls"]]  # type: ignore[misc]

    t0 = time.monotonic()
    conns: list[ClientConnection] = []
    gate = asyncio.Semaphore(32)

    async def open_one(call_id: str, token: str) -> ClientConnection:
        async with gate:
            ws = await connect(
                f"ws://127.0.0.1:{port}/fork/{call_id}",
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                compression=None,
                ping_interval=None,
                open_timeout=30,
            )
            meta = {"callId": call_id, "token": token, "rate": 16000, "mix": "mono"}
            await ws.send(json.dumps(meta, separators=(",", ":")))
            return ws

    conns = list(await asyncio.gather(*(open_one(c, t) for c, t in calls)))
    connect_s = time.monotonic() - t0

    period = frame_ms / 1000
    tick = period / PHASES
    n_ticks = int(seconds / tick)
    sent = 0
    lags: list[float] = []
    start = time.monotonic() + 0.05
    for k in range(n_ticks):
        due = start + k * tick
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, time.monotonic() - due) * 1000)
        frame_no = k // PHASES
        for i in range(k % PHASES, len(conns), PHASES):
            await conns[i].send(frames[(frame_no + i * 7) % len(frames)])
            sent += 1
    await asyncio.gather(*(ws.close() for ws in conns))
    lags.sort()
    return {
        "frames_sent": sent,
        "connect_s": round(connect_s, 2),
        "send_lag_ms": {
            "p50": round(lags[len(lags) // 2], 1),
            "p99": round(lags[int(len(lags) * 0.99)], 1),
            "max": round(lags[-1], 1),
        },
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--client"]:
        job = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(_client(job))))
        return
    levels = [int(a) for a in argv] or [50, 100, 150, 200]
    print(json.dumps(run(levels), indent=2))


if __name__ == "__main__":
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),  # stdout carries the JSON
    )
    main(sys.argv[1:])
