"""``make bench``: every benchmark, each result written to bench-results/<name>.json.

    python -m tests.bench                  # all of them (~10 minutes on 2 cores)
    python -m tests.bench voice_latency    # one or several by name

Each benchmark runs in its own process so one's threads and caches cannot skew
another's numbers. A summary table is printed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(os.environ.get("CALLCONTROL_BENCH_DIR", "bench-results"))


def _esl() -> dict[str, Any]:
    from tests.bench.esl_throughput import run

    return run(rate=100, duration=60)


def _voice() -> dict[str, Any]:
    from tests.bench.voice_latency import run

    return run()


def _forks() -> dict[str, Any]:
    from tests.bench.fork_capacity import run

    return run((50, 100, 200, 250), seconds=20)


def _console() -> dict[str, Any]:
    from tests.bench.console_live import run

    return run(calls=50, seconds=15)


def _stages() -> dict[str, Any]:
    from tests.bench.pipeline_stages import measure_pipeline_stages

    return measure_pipeline_stages()


def _retrieval() -> dict[str, Any]:
    from tests.bench.retrieval_scale import run

    return run()


def _faults() -> dict[str, Any]:
    from tests.bench.faults import run

    return run()


def _barge() -> dict[str, Any]:
    from tests.bench.stream_barge_in import run

    return run()


def _transcripts() -> dict[str, Any]:
    from tests.bench.transcription import run

    return run()


def _real_fs() -> dict[str, Any]:
    """Only with a real FreeSWITCH (CALLCONTROL_TEST_ESL); both playback paths."""
    from tests.bench.real_fs_latency import run

    if not os.environ.get("CALLCONTROL_TEST_ESL"):
        return {"skipped": "no real FreeSWITCH: set CALLCONTROL_TEST_ESL=host:port:password"}
    return {mode: run(mode) for mode in ("file", "stream")}


BENCHES: dict[str, Callable[[], dict[str, Any]]] = {
    "retrieval_scale": _retrieval,
    "esl_throughput": _esl,
    "voice_latency": _voice,
    "fork_capacity": _forks,
    "console_live": _console,
    "pipeline_stages": _stages,
    "faults": _faults,
    "stream_barge_in": _barge,
    "real_fs_latency": _real_fs,
    "transcription": _transcripts,
}


def _headline(name: str, result: dict[str, Any]) -> str:
    try:
        if name == "esl_throughput":
            lat = result["service_event_handling_ms"]
            return (
                f"{result['setups_per_s']:.0f} setups/s, event handling p50 {lat['p50']} ms "
                f"p99 {lat['p99']} ms, {result['cdrs_written']}/{result['offered']} CDRs"
            )
        if name == "voice_latency":
            v = result["voice_to_voice_ms"]
            return f"voice-to-voice p50 {v['p50']} ms, p95 {v['p95']} ms"
        if name == "stream_barge_in":
            v = result["bot_voice_after_barge_in_ms"]
            return f"bot heard after the barge-in decision: p50 {v['p50']} ms, max {v['max']} ms"
        if name == "fork_capacity":
            return f"{result['max_realtime']} concurrent forks in real time, no drops"
        if name == "faults":
            k, e = result["kill_and_restart"], result["esl_auth_refused"]
            silent = result["esl_silent"]["detected_and_reconnected_s"]
            return (
                f"silent ESL peer replaced in {silent} s;"
                f" fds {e['descriptors_before']}→{e['descriptors_after']} over"
                f" {e['refused_logins']} refused logins; kill -9: CDRs {k['cdrs_per_call']},"
                f" {k['rows_left_open']} rows open; db cut: {result['database_cut']}"
            )
        if name == "transcription":
            return (
                f"{result['audio_minutes_per_minute']} min of calls per min;"
                f" live v2v p50 {result['voice_to_voice_ms_no_transcripts']['p50']} →"
                f" {result['voice_to_voice_ms_with_backlog']['p50']} ms with a backlog"
            )
        if name == "console_live":
            return json.dumps({k: v for k, v in result.items() if not isinstance(v, dict | list)})
    except (KeyError, TypeError):
        pass
    return "see the JSON file"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--one":
        result = BENCHES[argv[1]]()
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{argv[1]}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        return 0
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {unknown}; choose from {list(BENCHES)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        started = time.monotonic()
        print(f"== {name} …", flush=True)
        done = subprocess.run([sys.executable, "-m", "tests.bench", "--one", name], check=False)
        if done.returncode != 0:
            failed.append(name)
            print(f"   {name} failed (exit {done.returncode})", flush=True)
            continue
        result = json.loads((OUT / f"{name}.json").read_text())
        print(f"   {_headline(name, result)}  [{time.monotonic() - started:.0f} s]", flush=True)
    print(f"results in {OUT}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
