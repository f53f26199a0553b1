"""Benchmark 1 (forwarding cost) and the audio-and-video half of benchmark 4 (memory).

For each meeting size N, Mosaic and Janus in turn (the order alternates from one size to the
next), on a fresh server process: N bots publish the replayed clip (VP8 ~600 kbit/s at 30 fps
and Opus) and subscribe to everyone else. Once every bot receives media and a warm-up has
passed, the server's CPU time (utime + stime from /proc) and the RTP packets the bots receive
are read at both ends of a window: the cost per forwarded packet is CPU seconds / packets.

Mosaic forwards at most six audio streams to each subscriber (the loudest, by design) where
Janus forwards every stream subscribed to, so packet counts are reported by kind as well.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.environment import Environment
from bench.meetings import janus_bots, janus_room, mosaic_bots, open_meeting
from bench.plan import Plan
from bench.servers import JanusProcess, MosaicProcess, ServerProcess
from bench.stats import line_fit, ratio, rounded
from mosaic.bots.base import Bot
from mosaic.bots.swarm import start_all, stop_all, wait_for_media

log = logging.getLogger(__name__)
SERVERS = ("mosaic", "janus")


def _kinds(bots: list[Bot]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for bot in bots:
        for kind, count in bot.report().kinds.items():
            totals[kind] = totals.get(kind, 0) + count
    return totals


async def _bots_for(server: ServerProcess, name: str, count: int, env: Environment) -> list[Bot]:
    if name.startswith("mosaic"):  # "mosaic-e2ee": the same bots, end-to-end encrypted
        meeting = await open_meeting(server.url, e2ee=name == "mosaic-e2ee")  # type: ignore[attr-defined]
        return mosaic_bots(meeting, count, env.media_address)
    room = await janus_room(server.url, publishers=count + 2)  # type: ignore[attr-defined]
    return janus_bots(server.url, room, count, env.media_address)  # type: ignore[attr-defined]


def _start_server(name: str, env: Environment, data_dir: Path) -> ServerProcess:
    if name.startswith("mosaic"):
        return MosaicProcess(data_dir, env.media_address).start()
    assert env.janus_interface is not None
    return JanusProcess(env.janus_interface).start()


def _restarts(bots: list[Bot]) -> dict[str, dict[str, int]]:
    """Connections each Mosaic bot gave up and had replaced, by kind (see
    `mosaic.client.watchdog`): a sign of trouble worth reading, not a failure."""
    found = {}
    for bot in bots:
        participant = getattr(bot, "participant", None)
        if participant is None:
            continue
        replaced = {k: w.replaced for k, w in participant.media.watchdogs.items() if w.replaced}
        if replaced:
            found[bot.name] = replaced
    return found


async def measure(name: str, count: int, plan: Plan, env: Environment) -> dict[str, Any]:
    """One server, one meeting of ``count`` publishers who each subscribe to all."""
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        server = _start_server(name, env, Path(data_dir))
        try:
            return await _measure(server, name, count, plan, env)
        finally:
            server.stop()


async def _measure(
    server: ServerProcess, name: str, count: int, plan: Plan, env: Environment
) -> dict[str, Any]:
    await asyncio.sleep(0.5)
    idle_start, idle_t0 = server.sample(), time.monotonic()
    await asyncio.sleep(plan.idle_s)
    before = server.sample()
    idle_cpu_per_s = (before.cpu_s - idle_start.cpu_s) / (time.monotonic() - idle_t0)
    bots = await _bots_for(server, name, count, env)
    try:
        started = await start_all(bots)
        flowing = await wait_for_media(started, minimum=50, timeout=plan.media_timeout_s)
        await asyncio.sleep(plan.warmup_s)
        s0, p0, k0 = server.sample(), sum(b.received() for b in bots), _kinds(bots)
        bench0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(plan.window_s)
        s1, p1, k1 = server.sample(), sum(b.received() for b in bots), _kinds(bots)
        bench1, t1 = time.process_time(), time.monotonic()
        silent = [b.name for b in bots if b.received() == 0]
        # What a silent bot's connections look like (MosaicBot.diagnose), for the record.
        diagnoses = {b.name: getattr(b, "diagnose", dict)() for b in bots if b.received() == 0}
        restarts = _restarts(bots)
        errors = {b.name: b.error for b in bots if b.error}
    finally:
        await stop_all(bots)
    seconds = t1 - t0
    cpu = s1.cpu_s - s0.cpu_s
    packets = p1 - p0
    return {
        "server": name,
        "publishers": count,
        "joined": len(started),
        "all_receiving": flowing and not silent,
        "silent_bots": silent,
        "silent_states": diagnoses,
        "restarts": restarts,
        "errors": errors,
        "window_s": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "cpu_per_s": round(cpu / seconds, 4),
        "system_share": round((s1.system_s - s0.system_s) / cpu, 3) if cpu else None,
        "idle_cpu_per_s": round(idle_cpu_per_s, 4),
        "packets": packets,
        "packets_per_s": round(packets / seconds, 1),
        "packets_per_s_by_kind": {k: round((k1[k] - k0.get(k, 0)) / seconds, 1) for k in k1},
        "us_per_packet": rounded(cpu / packets * 1e6 if packets else None, 2),
        "rss_before_mb": round(before.rss_bytes / 2**20, 1),
        "rss_mb": round(s1.rss_bytes / 2**20, 1),
        "rss_per_participant_kb": round((s1.rss_bytes - before.rss_bytes) / count / 1024, 1),
        "bench_cpu_per_s": round((bench1 - bench0) / seconds, 3),
    }


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    servers = SERVERS if env.janus_interface else ("mosaic",)
    runs: list[dict[str, Any]] = []
    for index, count in enumerate(plan.sizes):
        order = servers if index % 2 == 0 else tuple(reversed(servers))
        for name in order:
            print(f"  forwarding: {name}, {count} publishers ...", flush=True)
            result = await measure(name, count, plan, env)
            runs.append(result)
            print(
                f"    {result['packets_per_s']:.0f} packets/s, {result['cpu_per_s']:.3f} CPU-s/s,"
                f" {result['us_per_packet']} us/packet",
                flush=True,
            )
    return {"runs": runs, "comparison": compare(runs), "fit": fit(runs)}


def compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mosaic/Janus ratios per meeting size (where both ran)."""
    rows = []
    for count in sorted({r["publishers"] for r in runs}):
        by_server = {r["server"]: r for r in runs if r["publishers"] == count}
        mosaic, janus = by_server.get("mosaic"), by_server.get("janus")
        if mosaic is None or janus is None:
            continue
        rows.append(
            {
                "publishers": count,
                "us_per_packet_ratio": rounded(
                    ratio(mosaic["us_per_packet"], janus["us_per_packet"]), 2
                ),
                "cpu_per_s_ratio": rounded(ratio(mosaic["cpu_per_s"], janus["cpu_per_s"]), 2),
                "packets_per_s_ratio": rounded(
                    ratio(mosaic["packets_per_s"], janus["packets_per_s"]), 2
                ),
                "rss_per_participant_ratio": rounded(
                    ratio(mosaic["rss_per_participant_kb"], janus["rss_per_participant_kb"]), 2
                ),
            }
        )
    return rows


def fit(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per server, CPU-s/s against packets/s over the sizes: the slope is the marginal cost of
    a packet (fixed costs excluded), the intercept the cost of the meeting without packets."""
    result = {}
    for name in sorted({r["server"] for r in runs}):
        own = [r for r in runs if r["server"] == name]
        line = line_fit([r["packets_per_s"] for r in own], [r["cpu_per_s"] for r in own])
        memory = line_fit([r["publishers"] for r in own], [r["rss_mb"] * 1024 for r in own])
        if line is not None and memory is not None:
            slope, intercept = line
            result[name] = {
                "marginal_us_per_packet": round(slope * 1e6, 2),
                "intercept_cpu_per_s": round(intercept, 4),
                "marginal_rss_kb_per_participant": round(memory[0], 1),
            }
    mosaic, janus = result.get("mosaic"), result.get("janus")
    if mosaic and janus:
        result["marginal_ratio"] = rounded(
            ratio(mosaic["marginal_us_per_packet"], janus["marginal_us_per_packet"]), 2
        )
    return result
