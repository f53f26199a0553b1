"""``python -m bench`` (``make bench``): run the benchmarks, print a table, write
``bench/results/<timestamp>.json``.

    python -m bench                     # the full plan, about 10 minutes on 2 cores
    python -m bench --quick             # a few seconds of each: does the harness work?
    python -m bench --only forwarding   # some benchmarks only (forwarding, join, signaling)
    python -m bench --only cluster      # 1 vs 2 workers, the cost of Redis, failover
    python -m bench --only instructions # instructions per forwarded packet (callgrind, ~3 min)
    python -m bench --only e2ee         # the server's cost of end-to-end encryption
    python -m bench --only large        # the largest meeting at >= 24 fps per viewed tile
    python -m bench --out DIR           # write the JSON elsewhere

Run as root, it moves itself into a network namespace of its own first (see
`bench.environment`); ``--no-netns`` forbids that (Janus is then skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    adaptation,
    cluster,
    e2ee,
    environment,
    forwarding,
    instructions,
    join_latency,
    large,
    report,
    signaling,
)
from bench.plan import FULL, QUICK, Plan
from mosaic.bots.clips import audio_clip, video_clip

BENCHES = {
    "forwarding": forwarding.run,
    "join": join_latency.run,
    "signaling": signaling.run,
    "adaptation": adaptation.run,
    "cluster": cluster.run,
    "instructions": instructions.run,
    "e2ee": e2ee.run,
    "large": large.run,
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny runs: check the harness")
    parser.add_argument(
        "--only", default="", help="comma-separated: " + ", ".join(BENCHES) + " (default: all)"
    )
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="folder for the JSON")
    parser.add_argument("--no-netns", action="store_true", help="stay in this network namespace")
    parser.add_argument(environment.NETNS_FLAG, action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def run_all(plan: Plan, env: environment.Environment, only: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    clip_t0 = time.process_time()
    video, audio = video_clip(), audio_clip()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": plan.as_dict(),
        "environment": {
            **env.as_dict(),
            "machine": platform.machine(),
            "cpus": _cpus(),
            "python": platform.python_version(),
        },
        "clips": {
            "video_kbps": round(video.bitrate / 1000, 1),
            "video_frames": len(video.frames),
            "audio_kbps": round(audio.bitrate / 1000, 1),
            "encode_cpu_s": round(time.process_time() - clip_t0, 2),
        },
        "failed": {},
    }
    for name in only:
        print(f"{name} ...", flush=True)
        try:
            results[name] = await BENCHES[name](plan, env)
        except Exception as exc:
            traceback.print_exc()
            results["failed"][name] = f"{type(exc).__name__}: {exc}"
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    in_namespace = args.in_netns
    if not in_namespace and not args.no_netns and environment.can_unshare():
        environment.reexec_in_namespace(sys.argv[1:] if argv is None else argv)
    if in_namespace:
        environment.set_up_namespace()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # aiortc and aioice complain about every packet the bots drop on purpose.
    for noisy in ("aiortc", "aioice"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    plan = QUICK if args.quick else FULL
    only = [b.strip() for b in args.only.split(",") if b.strip()] or list(plan.benches)
    unknown = [b for b in only if b not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    env = environment.describe(in_namespace)
    if env.janus_problem:
        print(f"!! Janus will be skipped: {env.janus_problem}", flush=True)
    results = asyncio.run(run_all(plan, env, only))
    path = report.write(results, args.out)
    print()
    print(report.text(results))
    print(f"\nwritten: {path}")
    print(json.dumps({"result_file": str(path)}))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
