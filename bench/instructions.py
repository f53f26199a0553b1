"""Instructions per forwarded packet: a figure that does not move with the machine's load.

`bench.replay` (a fixed replay through the real forwarding path) runs twice under
``valgrind --tool=callgrind``: ``short`` steps, then ``long`` steps, both after making the
same packets. The difference of the two instruction totals, over the difference of the
packets forwarded, is the user-space cost of one forwarded packet in steady state: start-up,
imports, the meeting's set-up and its first keyframes cancel out. Callgrind counts user
space only; the kernel's share (``sendto``) comes from a run without valgrind (user and
system CPU from `os.times`), which is as noisy as any timing here.

Deterministic to a few parts in ten thousand from run to run (random SSRCs and tokens are
seeded): compare commits by this figure, not by microseconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.environment import Environment
from bench.plan import Plan
from mosaic.rtc.fastpath import PURE_ENV

PUBLISHERS = 4
SHORT, LONG = 150, 300  # steps of 20 ms; the first ~25 wait for a keyframe


async def _run(command: list[str], env: dict[str, str] | None = None) -> tuple[str, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}: {err.decode()[-2000:]}")
    return out.decode(), err.decode()


def _replay_command(publishers: int, steps: int, total: int) -> list[str]:
    return [
        sys.executable, "-m", "bench.replay",
        "--publishers", str(publishers), "--steps", str(steps), "--total-steps", str(total),
    ]  # fmt: skip


async def counted(
    publishers: int, steps: int, total: int, folder: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """One replay under callgrind: its JSON line plus ``instructions`` (callgrind's total)."""
    out_file = folder / f"callgrind.{steps}"
    command = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
        *_replay_command(publishers, steps, total),
    ]  # fmt: skip
    out, _ = await _run(command, env)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    for line in out_file.read_text().splitlines():
        if line.startswith("totals:"):
            result["instructions"] = int(line.split()[1])
    annotated, _ = await _run(["callgrind_annotate", "--inclusive=yes", str(out_file)])
    result["stages"] = _stages(annotated)
    return result


# Compiled functions whose instructions (callees included) make the stages of the C side:
# SRTP both ways, and the system calls' user-space halves. The rest is Python: parsing,
# statistics, caching, rewriting, the router's clock (`python -m bench.profile` splits it).
STAGES = {
    "srtp_unprotect": "SRTP unprotect",
    "srtp_protect": "SRTP protect (RTP)",
    "srtp_protect_rtcp": "SRTP protect (RTCP)",
    "sock_sendto": "socket.sendto (user side)",
    # The compiled send path (`mosaic.rtc.fastpath`): stamp, numbering, SRTP protect and
    # sendto in one call (protect is counted in its own stage as well).
    "Forwarder_send": "compiled send (stamp, number, protect, sendto)",
    # The compiled fan-out (`fastpath.fanout`): for every receiver the rewrite and the send
    # above, in one call per packet received (the send is then counted here, not above).
    "fanout": "compiled fan-out (rewrite and send, every receiver)",
}
_LINE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+\S*:(\w+)")


def _stages(annotated: str) -> dict[str, int]:
    """Inclusive instructions of the `STAGES` functions, from ``callgrind_annotate``."""
    found: dict[str, int] = {}
    for line in annotated.splitlines():
        match = _LINE.match(line)
        if match and match.group(2) in STAGES and match.group(2) not in found:
            found[match.group(2)] = int(match.group(1).replace(",", ""))
    return found


async def measure(
    publishers: int = PUBLISHERS, short: int = SHORT, long: int = LONG, *, pure: bool = False
) -> dict:
    """The per-packet figures of the replay at ``publishers`` (see the module's text); on
    the pure-Python send path when ``pure`` (MOSAIC_PURE_PYTHON=1, `mosaic.rtc.fastpath`)."""
    env = {**os.environ, PURE_ENV: "1"} if pure else None
    with tempfile.TemporaryDirectory() as folder:
        first = await counted(publishers, short, long, Path(folder), env)
        second = await counted(publishers, long, long, Path(folder), env)
    forwarded = second["forwarded"] - first["forwarded"]
    received = second["received"] - first["received"]
    instructions = second["instructions"] - first["instructions"]
    stages = {
        name: round((second["stages"].get(name, 0) - first["stages"].get(name, 0)) / forwarded)
        for name in STAGES
    }
    out, _ = await _run(_replay_command(publishers, long, long), env)
    native = json.loads(out.strip().splitlines()[-1])
    cpu = native["user_s"] + native["system_s"]
    every_packet = all(r["sink_rtp"] == r["forwarded"] for r in (first, second, native))
    return {
        "publishers": publishers,
        "steps": [short, long],
        "forwarded": forwarded,
        "received": received,
        "instructions": instructions,
        "instructions_per_forwarded_packet": round(instructions / forwarded),
        "instructions_per_received_packet": round(instructions / received),
        "stages_per_forwarded_packet": stages,
        "all_delivered": every_packet,
        "runs": [first, second],
        "native": native,
        "kernel_share": round(native["system_s"] / cpu, 3) if cpu else None,
        # Whether the compiled send path forwarded (MOSAIC_PURE_PYTHON=1, or not built: no).
        "fastpath": bool(native.get("fastpath")),
        "native_us_per_forwarded_packet": round(cpu / native["forwarded"] * 1e6, 2),
    }


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed (scripts/system-deps.sh installs it)"}
    if plan.name == "quick":
        return await measure(2, 40, 80)
    result = await measure()
    if result["fastpath"]:
        # What the compiled send path buys, in the same run: the pure-Python path's figure.
        pure = await measure(pure=True)
        result["pure_python"] = {
            key: pure[key]
            for key in (
                "instructions_per_forwarded_packet",
                "instructions_per_received_packet",
                "stages_per_forwarded_packet",
                "all_delivered",
                "kernel_share",
                "native_us_per_forwarded_packet",
            )
        }
    return result


def lines(section: dict[str, Any]) -> list[str]:
    """The section of the printed table."""
    if "skipped" in section:
        return [f"instructions: skipped: {section['skipped']}"]
    return [
        f"Instructions per forwarded packet (callgrind, fixed replay, {section['publishers']}"
        f" publishers, {'compiled' if section.get('fastpath') else 'pure-Python'} send path):"
        f" {section['instructions_per_forwarded_packet']:,}"
        f" ({section['instructions_per_received_packet']:,} per packet received);"
        f" every packet delivered: {section['all_delivered']};"
        f" kernel share of CPU (native run): {section['kernel_share']}",
        "  of which (per forwarded packet): "
        + ", ".join(
            f"{STAGES[name]} {count:,}"
            for name, count in section["stages_per_forwarded_packet"].items()
            if count
        ),
    ] + (
        [
            "  pure-Python send path (MOSAIC_PURE_PYTHON=1), same run:"
            f" {section['pure_python']['instructions_per_forwarded_packet']:,}"
        ]
        if "pure_python" in section
        else []
    )
