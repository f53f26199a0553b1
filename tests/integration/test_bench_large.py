"""`python -m bench --quick --only large` runs end to end: Mosaic's and Janus's bots publish
simulcast cameras and view thumbnails, and the figures have their shape (never their values:
those belong to a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_the_quick_large_meeting_bench_measures_thumbnails_on_every_server(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "large", "--out", str(tmp_path)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,  # a busy machine: a missed step is measured again
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (path,) = tmp_path.glob("*.json")
    section = json.loads(path.read_text())["large"]
    assert "Largest meeting at >= 24 fps" in done.stdout
    runs: dict[str, dict[str, Any]] = {}
    for run in section["runs"]:  # per server its better attempt (a busy machine has bad seconds)
        best = runs.get(run["server"])
        if best is None or run.get("frames_per_s", 0) > best.get("frames_per_s", 0):
            runs[run["server"]] = run
    assert "mosaic-2-workers" in runs
    # The meeting spread over both workers (each terminates some of its media).
    assert all(n > 0 for n in runs["mosaic-2-workers"]["media_per_worker"]), runs
    if "janus" in section["skipped"]:
        warnings.warn(f"Janus NOT tested: {section['skipped']['janus']}", stacklevel=1)
    for server, run in runs.items():
        assert run["joined"] == run["people"] and run["viewers"] == run["people"], (server, run)
        # The viewers got frames, from each camera's smallest layer (a 160x90 frame is one
        # packet; the full layer's take three or more).
        assert run["frames_per_s"] > 0 and run["video_packets_per_frame"] < 1.5, (server, run)
        for key in ("server_cpu_per_s", "bots_cpu_per_s", "packets_per_s", "fps_mean_p5"):
            assert run[key] >= 0, (server, key)
