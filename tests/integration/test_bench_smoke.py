"""`make bench`'s harness, run small (`python -m bench --quick`) so it cannot rot unnoticed.

It checks that every benchmark ran and wrote well-formed figures, never what they are:
timings belong to `make bench` on a quiet machine, not to a test suite."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-results")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    files = list(out.glob("*.json"))
    assert len(files) == 1, done.stdout[-2000:]
    assert "Forwarding cost" in done.stdout  # the table was printed
    return json.loads(files[0].read_text())


def number(value: Any) -> bool:
    return isinstance(value, int | float) and value >= 0


@pytest.mark.timeout(120)
def test_the_quick_bench_measures_mosaic_forwarding_joins_storms_and_memory(
    results: dict[str, Any],
) -> None:
    assert results["failed"] == {}
    mosaic = [r for r in results["forwarding"]["runs"] if r["server"] == "mosaic"]
    assert [r["publishers"] for r in mosaic] == [2]
    run = mosaic[0]
    assert run["joined"] == 2 and run["packets"] > 0, run
    for key in ("cpu_s", "cpu_per_s", "us_per_packet", "rss_mb", "rss_per_participant_kb"):
        assert number(run[key]), key
    assert run["packets_per_s_by_kind"]["video"] > 0 and run["packets_per_s_by_kind"]["audio"] > 0

    python = results["join"]["python"]
    assert python["succeeded"] == python["trials"] > 0
    assert number(python["p50_ms"]) and number(python["p95_ms"])
    browser = results["join"]["browser"]
    assert "skipped" in browser or number(browser["p50_ms"])

    storm = results["signaling"]["runs"][0]
    assert storm["joined"] == storm["participants"] == storm["saw_everyone"]
    for key in ("server_cpu_s", "frames_per_join", "roster_delay_p95_ms", "rss_per_participant_kb"):
        assert number(storm[key]), key


@pytest.mark.timeout(120)
def test_the_quick_bench_measures_janus_on_the_same_load(results: dict[str, Any]) -> None:
    problem = results["environment"]["janus_problem"]
    if problem:
        warnings.warn(f"Janus comparison NOT tested: {problem}", stacklevel=1)
        pytest.skip(f"Janus comparison not tested: {problem}")
    janus = [r for r in results["forwarding"]["runs"] if r["server"] == "janus"]
    assert len(janus) == 1 and janus[0]["joined"] == 2 and janus[0]["packets"] > 0, janus
    assert number(janus[0]["us_per_packet"])
    (row,) = results["forwarding"]["comparison"]
    assert number(row["us_per_packet_ratio"])
