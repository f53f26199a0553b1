"""Benchmark 5: what the cluster costs and what it buys (``--only cluster``).

* **Scaling**: the same load, several 4-person meetings of bots (each publishing the replayed
  clip and receiving the three others), on one worker and on two (``mosaic serve --workers
  2 --redis-url``), meetings added step by step. Per step: the packets/s the bots receive,
  the server's CPU (every worker process, and redis-server apart), the load generator's own
  CPU, and how much of the expected media arrived (packets/s per meeting against the first
  step's): where that falls under 90 %, frames have started to drop.
* **Cost of the cluster**: join latency (join -> first decoded frame) and the signaling round
  trip (``ping``) on one plain process, and on a cluster of two processes where the client's
  WebSocket lands on the worker that is *not* the meeting's home (relayed over Redis).
* **Redis operations** (``INFO commandstats``, all commands): per join, and per second of a
  running 4-person meeting, net of the workers' idle heartbeats.
* **Failover**: ``kill -9`` of a meeting's home worker (2 workers on one port, 4 bots): the
  time until every bot receives media again, over several trials.

Every process runs on this machine: the load generator competes with the servers for the
same cores, which is why its share is reported next to every figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench.environment import Environment
from bench.join_latency import first_frame_after_join
from bench.plan import Plan
from bench.procstat import cpu_times
from bench.servers import MosaicProcess, free_port
from bench.stats import percentile, rounded
from mosaic.bots.base import Bot, MediaMode
from mosaic.bots.mosaic_bot import MosaicBot
from mosaic.bots.swarm import start_all, stop_all, wait_for_media
from mosaic.client import join, parse_join_url

DELIVERED_FLOOR = 0.9  # below this share of the expected media, frames are being dropped


# -- processes -------------------------------------------------------------------------------


class RedisProcess:
    """Debian's redis-server on a free loopback port, nothing saved."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.root = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.root), "--save", "", "--appendonly", "no",
             "--protected-mode", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return self

    async def ready(self) -> None:
        client = aioredis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        try:
            while True:
                with contextlib.suppress(Exception):
                    await client.ping()
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants alive now: the
    supervisor of ``--workers N`` and its workers."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            user, system = cpu_times(current)
            total += user + system
        todo.extend(children.get(current, []))
    return total


def cluster_server(data_dir: Path, env: Environment, redis_url: str, **kw: Any) -> MosaicProcess:
    workers = kw.pop("workers", 1)
    args = ("--redis-url", redis_url, "--workers", str(workers), "--signups-per-hour", "10000")
    return MosaicProcess(data_dir, env.media_address, extra_args=args, **kw)


# -- meetings ----------------------------------------------------------------------------------


class Host:
    """One signed-in account that opens as many meetings as the benchmark needs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def sign_in(self) -> Host:
        account = {
            "email": f"bench-{os.urandom(6).hex()}@example.org",
            "password": "correct horse battery staple",
        }
        signup = await self.client.post("/api/auth/signup", json={"name": "Bench", **account})
        signup.raise_for_status()
        (await self.client.post("/api/auth/login", json=account)).raise_for_status()
        return self

    @property
    def cookies(self) -> dict[str, str]:
        return dict(self.client.cookies.items())

    async def meeting(self) -> str:
        """A new meeting without passcode or waiting room; its join URL."""
        response = await self.client.post(
            "/api/meetings",
            json={
                "topic": "bench",
                "settings": {"waiting_room": False, "passcode_required": False},
            },
            headers={"X-CSRF-Token": self.cookies.get("mosaic_csrf", ""), "Origin": self.base_url},
        )
        response.raise_for_status()
        return str(response.json()["join_url"])

    async def close(self) -> None:
        await self.client.aclose()


def on(base_url: str, join_url: str) -> str:
    """The invitation, for a client whose WebSocket is to reach ``base_url``."""
    _, meeting_id, passcode = parse_join_url(join_url)
    return f"{base_url}/m/{meeting_id}" + (f"#pwd={passcode}" if passcode else "")


def bots_for(
    join_url: str, cookies: dict[str, str], env: Environment, n: int, tag: str
) -> list[Bot]:
    return [
        MosaicBot(
            join_url,
            f"{tag}-{i}",
            cookies=cookies,
            mode=MediaMode.VIDEO,
            local_addresses=[env.media_address],
        )
        for i in range(n)
    ]


async def commands(client: aioredis.Redis) -> int:
    """Every command Redis has run since it started (INFO commandstats, summed)."""
    stats = await client.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values() if isinstance(v, dict))


# -- scaling ------------------------------------------------------------------------------------


async def _step(
    server: MosaicProcess, redis_pid: int, host: Host, meetings: int, plan: Plan, env: Environment
) -> dict[str, Any]:
    bots: list[Bot] = []
    for m in range(meetings):
        bots += bots_for(await host.meeting(), host.cookies, env, 4, f"m{m}")
    try:
        started = await start_all(bots)
        flowing = await wait_for_media(started, minimum=50, timeout=plan.media_timeout_s)
        await asyncio.sleep(plan.warmup_s)
        c0, r0, p0 = tree_cpu(server.pid), tree_cpu(redis_pid), sum(b.received() for b in bots)
        b0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(plan.cluster_window_s)
        c1, r1, p1 = tree_cpu(server.pid), tree_cpu(redis_pid), sum(b.received() for b in bots)
        b1, t1 = time.process_time(), time.monotonic()
    finally:
        await stop_all(bots)
    seconds = t1 - t0
    packets = p1 - p0
    cpu = c1 - c0
    return {
        "meetings": meetings,
        "bots": len(bots),
        "joined": len(started),
        "all_receiving": flowing,
        "packets_per_s": round(packets / seconds, 1),
        "server_cpu_per_s": round(cpu / seconds, 3),
        "redis_cpu_per_s": round((r1 - r0) / seconds, 4),
        "load_generator_cpu_per_s": round((b1 - b0) / seconds, 3),
        "us_per_packet": rounded(cpu / packets * 1e6 if packets else None, 1),
    }


async def scaling(plan: Plan, env: Environment, redis: RedisProcess) -> dict[str, Any]:
    configs: dict[str, Any] = {}
    for workers in (1, 2):
        print(f"  cluster scaling: {workers} worker(s) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
            server = cluster_server(Path(data_dir), env, redis.url, workers=workers).start(60)
            host = await Host(server.url).sign_in()
            steps: list[dict[str, Any]] = []
            try:
                for meetings in plan.cluster_meetings:
                    step = await _step(server, redis.process.pid, host, meetings, plan, env)  # type: ignore[union-attr]
                    base = steps[0]["packets_per_s"] / steps[0]["meetings"] if steps else None
                    step["delivered"] = (
                        round(step["packets_per_s"] / (base * meetings), 3) if base else 1.0
                    )
                    steps.append(step)
                    print(
                        f"    {meetings} meetings: {step['packets_per_s']:.0f} packets/s,"
                        f" server {step['server_cpu_per_s']:.2f} CPU-s/s, {step['us_per_packet']}"
                        f" us/packet, bots {step['load_generator_cpu_per_s']:.2f} CPU-s/s,"
                        f" delivered {step['delivered']}",
                        flush=True,
                    )
                    if step["delivered"] < DELIVERED_FLOOR * 0.8:
                        break  # well past the knee: more only slows the benchmark
            finally:
                await host.close()
                server.stop()
        clean = [s for s in steps if s["delivered"] >= DELIVERED_FLOOR]
        top = max(clean, key=lambda s: s["packets_per_s"]) if clean else None
        loaded = [s for s in steps if s["us_per_packet"] is not None]
        configs[f"{workers}_workers"] = {
            "steps": steps,
            "max_clean_packets_per_s": top["packets_per_s"] if top else None,
            "drops_from_meetings": next(
                (s["meetings"] for s in steps if s["delivered"] < DELIVERED_FLOOR), None
            ),
            "us_per_packet_median": rounded(
                percentile([s["us_per_packet"] for s in loaded], 0.5), 1
            ),
            "packets_per_s_per_server_core": rounded(
                top["packets_per_s"] / top["server_cpu_per_s"]
                if top and top["server_cpu_per_s"]
                else None,
                0,
            ),
        }
    one, two = configs["1_workers"], configs["2_workers"]
    if one["us_per_packet_median"] and two["us_per_packet_median"]:
        configs["us_per_packet_ratio_2_to_1"] = round(
            two["us_per_packet_median"] / one["us_per_packet_median"], 3
        )
    if one["max_clean_packets_per_s"] and two["max_clean_packets_per_s"]:
        configs["capacity_ratio_2_to_1"] = round(
            two["max_clean_packets_per_s"] / one["max_clean_packets_per_s"], 3
        )
    return configs


# -- cost of the cluster: latency, round trip, Redis operations ---------------------------------


async def _first_frame(
    url: str, cookies: dict[str, str], env: Environment, name: str
) -> float | None:
    """A viewer's join -> first frame; None for a join that failed (the machine was busy)."""
    try:
        return await first_frame_after_join(url, cookies, env, name)
    except Exception:
        return None


async def _round_trips(url: str, cookies: dict[str, str], env: Environment, n: int) -> list[float]:
    participant = await join(
        url, name="pinger", cookies=cookies, local_addresses=[env.media_address]
    )
    try:
        found = []
        for _ in range(n):
            started = time.perf_counter()
            await participant.request("ping")
            found.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        return found
    finally:
        await participant.leave()


def _summary(samples: list[float], trials: int) -> dict[str, Any]:
    return {
        "trials": trials,
        "succeeded": len(samples),
        "p50_ms": rounded(_ms(percentile(samples, 0.5)), 1),
        "p95_ms": rounded(_ms(percentile(samples, 0.95)), 1),
        "max_ms": rounded(_ms(max(samples, default=None)), 1),
        "samples_ms": [round(x * 1000, 1) for x in samples],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def _measure_path(
    nodes: list[str],
    host: Host,
    env: Environment,
    plan: Plan,
    redis_client: aioredis.Redis | None,
) -> dict[str, Any]:
    """A publisher joins through the first node; viewers and pings go through a node that
    is *not* the meeting's home (read in Redis) when there are two, else the only one."""
    join_url = await host.meeting()
    _, meeting_id, _ = parse_join_url(join_url)
    publisher = MosaicBot(
        on(nodes[0], join_url),
        "publisher",
        cookies=host.cookies,
        local_addresses=[env.media_address],
    )
    await publisher.start()
    try:
        await asyncio.sleep(1.0)
        base = nodes[0]
        if redis_client is not None:
            home = await redis_client.get(f"mosaic:home:{meeting_id}")
            async with httpx.AsyncClient(timeout=10) as client:
                for node in nodes:
                    worker = (await client.get(f"{node}/healthz")).json().get("worker")
                    if worker != home:
                        base = node
        ops0 = await commands(redis_client) if redis_client is not None else 0
        t0 = time.monotonic()
        joins = []
        for i in range(plan.python_trials):
            sample = await _first_frame(on(base, join_url), host.cookies, env, f"viewer{i}")
            if sample is not None:
                joins.append(sample)
            await asyncio.sleep(0.3)
        ops1 = await commands(redis_client) if redis_client is not None else 0
        pings = await _round_trips(on(base, join_url), host.cookies, env, plan.cluster_pings)
        return {
            "join_to_first_frame": _summary(joins, plan.python_trials),
            "ping_round_trip": _summary(pings, plan.cluster_pings),
            "relayed": base != nodes[0] or len(nodes) == 1,
            "_ops": ops1 - ops0,
            "_seconds": time.monotonic() - t0,
            "_joins": plan.python_trials,
        }
    finally:
        await publisher.stop()


async def cost(plan: Plan, env: Environment, redis: RedisProcess) -> dict[str, Any]:
    result: dict[str, Any] = {}
    print("  cluster cost: one process ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        single = MosaicProcess(
            Path(data_dir), env.media_address, extra_args=("--signups-per-hour", "10000")
        ).start()
        host = await Host(single.url).sign_in()
        try:
            local = await _measure_path([single.url], host, env, plan, None)
        finally:
            await host.close()
            single.stop()
    for key in ("_ops", "_seconds", "_joins", "relayed"):
        local.pop(key)
    result["one_process"] = local
    print("  cluster cost: through Redis, from the other worker ...", flush=True)
    client = aioredis.Redis.from_url(redis.url, decode_responses=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        first = cluster_server(Path(data_dir), env, redis.url).start(60)
        second = cluster_server(Path(data_dir), env, redis.url).start(60)
        host = await Host(first.url).sign_in()
        try:
            # Idle: the workers' heartbeats alone.
            idle0, t0 = await commands(client), time.monotonic()
            await asyncio.sleep(plan.cluster_window_s)
            idle_rate = (await commands(client) - idle0) / (time.monotonic() - t0)
            relayed = await _measure_path([first.url, second.url], host, env, plan, client)
            ops, joins = relayed.pop("_ops"), relayed.pop("_joins")
            ops -= idle_rate * relayed.pop("_seconds")
            result["through_redis"] = relayed
            # A running 4-person meeting: its commands per second, net of heartbeats.
            join_url = await host.meeting()
            bots = bots_for(on(first.url, join_url), host.cookies, env, 2, "a") + bots_for(
                on(second.url, join_url), host.cookies, env, 2, "b"
            )
            try:
                await start_all(bots)
                await wait_for_media(bots, minimum=50, timeout=plan.media_timeout_s)
                await asyncio.sleep(plan.warmup_s)
                m0, t0 = await commands(client), time.monotonic()
                await asyncio.sleep(plan.cluster_window_s)
                running = (await commands(client) - m0) / (time.monotonic() - t0)
            finally:
                await stop_all(bots)
            result["redis_ops"] = {
                "idle_per_s_two_workers": round(idle_rate, 1),
                "per_join": round(ops / joins, 1),
                "per_join_note": "a viewer joins through the non-home worker, receives its first"
                " frame and leaves; net of the idle heartbeats",
                "running_4_person_meeting_per_s": round(running - idle_rate, 1),
            }
        finally:
            await host.close()
            await client.aclose()
            second.stop()
            first.stop()
    for key in ("join_to_first_frame", "ping_round_trip"):
        a, b = result["one_process"][key], result["through_redis"][key]
        result.setdefault("added_ms", {})[key] = {
            q: rounded(b[q] - a[q], 1) if a[q] is not None and b[q] is not None else None
            for q in ("p50_ms", "p95_ms")
        }
    return result


# -- failover -----------------------------------------------------------------------------------


def _pid_of(worker_id: str) -> int:
    """Worker ids are host-pid-xxxx (mosaic.cluster.node.new_worker_id)."""
    return int(worker_id.rsplit("-", 2)[1])


async def _live_workers(client: aioredis.Redis) -> int:
    return len(await client.pubsub_channels("mosaic:bus:*"))


async def failover(plan: Plan, env: Environment, redis: RedisProcess) -> dict[str, Any]:
    print("  cluster failover: kill -9 of the home worker ...", flush=True)
    client = aioredis.Redis.from_url(redis.url, decode_responses=True)
    samples: list[float] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        server = cluster_server(Path(data_dir), env, redis.url, workers=2).start(60)
        host = await Host(server.url).sign_in()
        try:
            for trial in range(plan.failover_trials):
                for _ in range(150):  # the supervisor replaces the killed worker
                    if await _live_workers(client) >= 2:
                        break
                    await asyncio.sleep(0.2)
                join_url = await host.meeting()
                _, meeting_id, _ = parse_join_url(join_url)
                bots = bots_for(join_url, host.cookies, env, 4, f"t{trial}")
                try:
                    started = await start_all(bots)
                    if len(started) < 4 or not await wait_for_media(
                        bots, minimum=50, timeout=plan.media_timeout_s
                    ):
                        failures.append(f"trial {trial}: media never flowed")
                        continue
                    home = await client.get(f"mosaic:home:{meeting_id}")
                    if home is None:
                        failures.append(f"trial {trial}: no home")
                        continue
                    os.kill(_pid_of(home), signal.SIGKILL)
                    killed = time.monotonic()
                    await asyncio.sleep(0.05)  # what was already on the wire
                    marks = {b.name: b.received() for b in bots}
                    back: dict[str, float] = {}
                    while len(back) < len(bots) and time.monotonic() - killed < 20:
                        for b in bots:
                            if b.name not in back and b.received() > marks[b.name]:
                                back[b.name] = time.monotonic() - killed
                        await asyncio.sleep(0.01)
                    if len(back) < len(bots):
                        failures.append(
                            f"trial {trial}: {len(bots) - len(back)} bots not back in 20 s"
                        )
                    else:
                        samples.append(max(back.values()))
                        print(
                            f"    trial {trial}: every bot back in {samples[-1]:.2f} s", flush=True
                        )
                finally:
                    await stop_all(bots)
        finally:
            await host.close()
            await client.aclose()
            server.stop()
    return {
        "trials": plan.failover_trials,
        "succeeded": len(samples),
        "p50_s": rounded(percentile(samples, 0.5), 2),
        "max_s": rounded(max(samples, default=None), 2),
        "samples_s": [round(s, 2) for s in samples],
        "failures": failures,
    }


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    if shutil.which("redis-server") is None:
        return {"skipped": "redis-server is not installed"}
    redis = RedisProcess().start()
    await redis.ready()
    result: dict[str, Any] = {"failed": {}}
    try:
        for name, part in (("scaling", scaling), ("cost", cost), ("failover", failover)):
            if name not in plan.cluster_parts:
                continue
            try:
                result[name] = await part(plan, env, redis)
            except Exception as exc:
                result["failed"][name] = f"{type(exc).__name__}: {exc}"
                print(f"    {name} failed: {exc}", flush=True)
    finally:
        redis.stop()
    return result
