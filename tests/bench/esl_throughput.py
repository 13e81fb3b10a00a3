"""ESL throughput: call setups per second through the real service, and added latency.

The FreeSWITCH emulator runs in its own process as the load generator (so it has
its own core, as a real FreeSWITCH would): it offers inbound calls at a fixed
rate, each parked with ``callcontrol_action=bot``; the service answers each one
(``uuid_answer``), hands it to the (stand-in) bot, and writes its CDR when the
caller hangs up half a second later. Measured:

* sustained call setups/s (calls answered by the service per second of the run);
* ``service_event_handling_ms``: callcontrol's own latency per event — from its bytes
  being read off the socket to the event being applied, recorded and published (what
  it causes is sent right after); this is the figure the p99 < 5 ms target is about;
* ``added_latency_ms``: seen from the emulator, CHANNEL_PARK fired → the CHANNEL_ANSWER
  that the service's ``uuid_answer`` caused; it also contains the emulator's own
  Python pauses (its event history grows for the whole run);
* CDRs written, and calls lost (parked but never answered or never CDR'd).

Target: 100 setups/s for 60 s with p99 < 5 ms added.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from callcontrol.cli import settle_heap
from callcontrol.logs import configure_logging
from callcontrol.store.models import Cdr
from tests.harness import RecordingHandover, make_settings, running_service

# -- the load generator (runs in its own process) -------------------------------------


async def _generate(port_file: Path, rate: float, duration: float, hold: float) -> dict[str, Any]:
    from tests.fakes.freeswitch import FakeFreeSwitch

    async with FakeFreeSwitch() as sw:
        port_file.write_text(str(sw.esl_port))
        while not sw.faults.clients():  # wait for the service to connect
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        uuids: list[str] = []
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        n = 0

        async def one(index: int) -> None:
            uuid = await sw.inbound_call(
                caller=f"{1000 + index % 9000}",
                destination="5000",
                variables={"callcontrol_action": "bot"},
                wait=True,
                timeout=30,
            )
            uuids.append(uuid)
            try:
                await sw.wait_for_channel_state(uuid, "CS_EXECUTE", timeout=10)
                await sw.wait_until(lambda: sw.channel(uuid).answered, timeout=10)
            except (TimeoutError, KeyError):
                return
            await asyncio.sleep(hold)
            await sw.far_end_hangup(uuid)

        while (elapsed := time.monotonic() - start) < duration:
            due = int(elapsed * rate) + 1
            while n < due:
                task = asyncio.create_task(one(n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            await asyncio.sleep(0.002)
        offered_for = time.monotonic() - start
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(1.0)
        # Added latency: CHANNEL_PARK → CHANNEL_ANSWER (caused by the service's uuid_answer).
        parked: dict[str, int] = {}
        answered: dict[str, int] = {}
        for event in sw.events:
            headers = dict(event.headers)
            uid = headers.get("Unique-ID", "")
            name = headers.get("Event-Name")
            stamp = int(headers.get("Event-Date-Timestamp", "0"))
            if name == "CHANNEL_PARK" and uid not in parked:
                parked[uid] = stamp
            elif name == "CHANNEL_ANSWER" and uid not in answered:
                answered[uid] = stamp
        added_ms = sorted(
            (answered[u] - parked[u]) / 1000 for u in uuids if u in parked and u in answered
        )
        first = min(answered.values(), default=0)
        last = max(answered.values(), default=0)
        span = (last - first) / 1e6 or 1.0
        return {
            "offered": n,
            "offered_rate": n / offered_for,
            "answered": len(answered),
            "never_answered": len([u for u in uuids if u not in answered]),
            "setups_per_s": (len(answered) - 1) / span if len(answered) > 1 else 0.0,
            "added_latency_ms": _summary(added_ms),
        }


def _summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(pct(95), 3),
        "p99": round(pct(99), 3),
        "max": round(ordered[-1], 3),
    }


# -- the service side ---------------------------------------------------------------------


async def _serve(
    rate: float, duration: float, hold: float, workdir: Path, database_url: str | None
) -> dict[str, Any]:
    port_file = workdir / "esl.port"
    generator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bench.esl_throughput",
            "--generate",
            str(port_file),
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--hold",
            str(hold),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        while not port_file.exists() or not port_file.read_text():
            if generator.poll() is not None:
                raise RuntimeError("the load generator exited early")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text())
        settings = make_settings(workdir, database_url=database_url, esl_port=port)
        handover = RecordingHandover()
        async with running_service(settings, handover=handover) as service:
            settle_heap()  # as `callcontrol serve` does once the worker is up
            samples: list[float] = []
            histogram = service.metrics.event_latency
            observe = histogram.observe

            def record(value: float, exemplar: Any = None) -> None:
                samples.append(value * 1000)
                observe(value)

            histogram.observe = record  # type: ignore[method-assign]
            out, _ = await asyncio.to_thread(generator.communicate, timeout=duration + 120)
            load = json.loads(out.strip().splitlines()[-1])
            await asyncio.sleep(1.0)
            await service.flush()
            async with service.sessions() as session:
                cdrs = (await session.execute(select(func.count()).select_from(Cdr))).scalar_one()
            return {
                **load,
                "handed_to_bot": len(handover.handles),
                "cdrs_written": int(cdrs),
                "service_event_handling_ms": _summary(samples),
                "database": service.engine.url.get_backend_name(),
            }
    finally:
        if generator.poll() is None:
            generator.kill()


def run(
    rate: float = 100.0, duration: float = 60.0, hold: float = 0.5, database_url: str | None = None
) -> dict[str, Any]:
    configure_logging("INFO", json_logs=True)  # as deployed: JSON lines, INFO per call
    with tempfile.TemporaryDirectory(prefix="cc-bench-esl-") as tmp:
        result = asyncio.run(_serve(rate, duration, hold, Path(tmp), database_url))
    result.update(
        {
            "target": {"setups_per_s": 100, "added_latency_p99_ms": 5},
            "rate_asked": rate,
            "duration_s": duration,
            "cpus": os.cpu_count(),
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generate", type=Path)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--hold", type=float, default=0.5)
    args = parser.parse_args()
    if args.generate:
        result = asyncio.run(_generate(args.generate, args.rate, args.duration, args.hold))
        print(json.dumps(result))
        return
    print(json.dumps(run(args.rate, args.duration, args.hold), indent=2))


if __name__ == "__main__":
    main()
