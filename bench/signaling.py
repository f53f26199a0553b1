"""Benchmark 3 (join storms) and the signaling-only half of benchmark 4 (memory).

N signaling-only participants (a WebSocket each, no media) join one meeting: a few
*observers* first, one by one, then everyone else as fast as ``storm_concurrency`` joins in
flight allow. Every frame every client receives is counted and timed. Reported:

- the server's CPU time from the first join until the roster is quiet again;
- frames the server sent per join (replies and events, all clients together), and the
  busiest second's frames per connected client: without batching a storm sends each client
  one roster frame per join, so both grow with N (O(N²) frames in all); with batching they
  stay near the number of flushes;
- roster delay: for each (observer, newcomer) pair, from the newcomer's join reply to the
  observer's first roster frame naming it; p50, p95 and max;
- server RSS per participant once everyone is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.environment import Environment
from bench.meetings import MosaicMeeting, open_meeting
from bench.plan import Plan
from bench.servers import MosaicProcess
from bench.stats import percentile, rounded
from mosaic.client import parse_join_url
from mosaic.client.signaling import Event, SignalingClient

QUIET_S = 2.0  # the storm is over when no roster frame came for this long
STORM_TIMEOUT_S = 120.0


class Joiner:
    """One signaling-only participant that notes when each frame arrives."""

    def __init__(self, url: str, meeting_id: str, name: str, cookies: dict[str, str]) -> None:
        self.client = SignalingClient(url, cookies=cookies)
        self.meeting_id = meeting_id
        self.name = name
        self.id: str | None = None
        self.joined_at: float | None = None
        self.frames: list[tuple[float, str]] = []  # (arrival, type)
        self.seen: dict[str, float] = {}  # participant id -> first roster frame naming it
        self.client.on("*", self._on_frame)

    def _on_frame(self, event: Event) -> None:
        now = time.monotonic()
        kind = str(event.get("type"))
        self.frames.append((now, kind))
        if kind == "roster":
            for person in event.get("joined", ()):
                self.seen.setdefault(person["id"], now)

    async def join(self) -> None:
        await self.client.connect()
        result = await self.client.request("join", meeting=self.meeting_id, name=self.name)
        self.joined_at = time.monotonic()
        self.frames.append((self.joined_at, "reply"))
        self.id = result["self"]["id"]
        self.seen.setdefault(self.id, self.joined_at)
        for person in result.get("participants", ()):
            self.seen.setdefault(person["id"], self.joined_at)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), 5)


async def storm(
    server: MosaicProcess, meeting: MosaicMeeting, count: int, plan: Plan
) -> dict[str, Any]:
    url, meeting_id, _ = parse_join_url(meeting.join_url)
    joiners = [Joiner(url, meeting_id, f"guest {i}", meeting.cookies) for i in range(count)]
    observers, rest = joiners[: plan.observers], joiners[plan.observers :]
    before = server.sample()
    gate = asyncio.Semaphore(plan.storm_concurrency)

    async def enter(joiner: Joiner) -> None:
        async with gate:
            await joiner.join()

    try:
        start = time.monotonic()
        for observer in observers:
            await observer.join()
        async with asyncio.timeout(STORM_TIMEOUT_S):
            await asyncio.gather(*(enter(j) for j in rest))
            joins_done = time.monotonic()
            await _quiet(joiners, {j.id for j in joiners if j.id})
        settled = time.monotonic()
        after = server.sample()
        return _report(joiners, observers, before, after, start, joins_done, settled)
    finally:
        await asyncio.gather(*(j.close() for j in joiners))


async def _quiet(joiners: list[Joiner], everyone: set[str | None]) -> None:
    """Until every client has seen everyone (or nothing came for `QUIET_S`)."""
    while True:
        await asyncio.sleep(0.2)
        newest = max((j.frames[-1][0] for j in joiners if j.frames), default=0.0)
        if all(everyone <= j.seen.keys() for j in joiners):
            await asyncio.sleep(QUIET_S)
            return
        if time.monotonic() - newest > QUIET_S:
            return


def _report(
    joiners: list[Joiner],
    observers: list[Joiner],
    before: Any,
    after: Any,
    start: float,
    joins_done: float,
    settled: float,
) -> dict[str, Any]:
    count = len(joiners)
    frames = [f for j in joiners for f in j.frames if f[1] != "reply"]
    kinds = Counter(kind for _, kind in frames)
    per_second = Counter(int(arrival - start) for arrival, _ in frames)
    busiest = max(per_second.values(), default=0)
    delays = [
        max(0.0, observer.seen[j.id] - j.joined_at)
        for observer in observers
        for j in joiners
        if j is not observer and j.id in observer.seen and j.joined_at is not None
        and j.joined_at >= (observer.joined_at or 0)
    ]  # fmt: skip
    complete = sum(1 for j in joiners if all(o.id in j.seen for o in joiners if o.id is not None))
    cpu = after.cpu_s - before.cpu_s
    return {
        "participants": count,
        "joined": sum(1 for j in joiners if j.id),
        "saw_everyone": complete,
        "storm_s": round(joins_done - start, 2),
        "settled_s": round(settled - start, 2),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_ms_per_join": round(cpu / count * 1000, 2),
        "frames": len(frames) + count,
        "frames_per_join": round((len(frames) + count) / count, 2),
        "roster_frames_per_client": round(kinds["roster"] / count, 2),
        "frames_by_type": dict(kinds),
        "busiest_second_frames_per_client": round(busiest / count, 2),
        "roster_delay_p50_ms": rounded(_ms(percentile(delays, 0.5)), 1),
        "roster_delay_p95_ms": rounded(_ms(percentile(delays, 0.95)), 1),
        "roster_delay_max_ms": rounded(_ms(max(delays, default=None)), 1),
        "rss_before_mb": round(before.rss_bytes / 2**20, 1),
        "rss_mb": round(after.rss_bytes / 2**20, 1),
        "rss_per_participant_kb": round((after.rss_bytes - before.rss_bytes) / count / 1024, 1),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    runs = []
    for count in plan.storm_sizes:
        print(f"  signaling: {count} participants join ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
            server = MosaicProcess(Path(data_dir), env.media_address).start()
            try:
                meeting = await open_meeting(server.url)
                await asyncio.sleep(0.5)
                result = await storm(server, meeting, count, plan)
            finally:
                server.stop()
        runs.append(result)
        print(
            f"    {result['frames_per_join']} frames/join, roster p95"
            f" {result['roster_delay_p95_ms']} ms, {result['server_cpu_s']} CPU-s",
            flush=True,
        )
    return {"runs": runs}
