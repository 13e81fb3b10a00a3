"""The live-feed benchmark runs and its report means what it says (a small load)."""

from __future__ import annotations

import pytest

from tests.bench.console_live import run

pytestmark = pytest.mark.slow


def test_console_live_bench_small() -> None:
    report = run(calls=5, seconds=2.5)
    assert report["published"] > 5 * 6
    assert report["received"] == report["published"] and report["lost"] == 0
    assert report["kept_up"] is True
    assert report["lag_ms"]["p99"] is not None and report["lag_ms"]["p99"] < 250
