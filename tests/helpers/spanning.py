"""A meeting spread over workers, for tests: two `mosaic serve` workers sharing Redis with a
small `--worker-capacity`, the meeting's home claimed before anyone joins (so every WebSocket
goes to it), and what a test reads of it: where media is (the heartbeats, as `mosaic cluster
status` shows them), each worker's /metrics, frames and audio at each participant."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mosaic.client import Participant, join, parse_join_url
from mosaic.cluster.link import RedisLink
from mosaic.cluster.placement import Placement
from mosaic.cluster.registry import Registry
from mosaic.cluster.status import cluster_status
from tests.helpers.api import Account, signup
from tests.helpers.cluster_nodes import Node, workers_of_one_machine
from tests.helpers.participants import LOOPBACK

BACK_WITHIN_S = 5.0
FIRST_FRAME_WITHIN_S = 1.0
# A frame gap a viewer on the surviving worker may see when the other worker dies: one
# keyframe round trip (the viewer's PLI to the server, the server's to the publisher, the
# keyframe back: ~3 loopback hops, and one frame interval of the 15 fps camera), with the
# machine's scheduling noise; a gap past it means the survivor's media was disturbed.
KEYFRAME_ROUND_TRIP_S = 0.5


@dataclass
class Spanned:
    """A meeting whose home is ``home`` and whose media may spread to ``other``."""

    nodes: list[Node]
    redis_url: str
    account: Account
    join_url: str
    meeting_id: str
    home: Node
    other: Node
    people: list[Participant] = field(default_factory=list)

    async def join(self, name: str) -> Participant:
        """Someone joins through the home worker (as a meeting-aware balancer sends them)."""
        person = await join(self.home.link(self.join_url), name=name, local_addresses=LOOPBACK)
        self.people.append(person)
        return person


async def _claim_home(redis_url: str, meeting_id: str) -> str:
    """The meeting's home, claimed as the first join's worker claims it (the least-loaded
    live worker, `Placement.claim`): done here first so the test knows it before anyone
    joins, and every WebSocket goes to it."""
    link = RedisLink(redis_url)
    try:
        return await Placement(link, Registry(link, "test", dict, dict)).claim(meeting_id)
    finally:
        await link.close()


@asynccontextmanager
async def spanned_meeting(
    tmp_path: Path, redis_url: str, capacity: int, *args: str
) -> AsyncIterator[Spanned]:
    with workers_of_one_machine(
        tmp_path / "data", redis_url, "--worker-capacity", str(capacity), *args
    ) as nodes:
        account = await signup(nodes[0].url)
        created = await account.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        home_id = await _claim_home(redis_url, meeting_id)
        home = next(node for node in nodes if node.worker == home_id)
        other = next(node for node in nodes if node.worker != home_id)
        spanned = Spanned(nodes, redis_url, account, created["join_url"], meeting_id, home, other)
        try:
            yield spanned
        finally:
            for person in spanned.people:
                await person.leave()
            await account.client.aclose()
            for node in nodes:  # shown by pytest for a failed test only
                print(f"--- {node.worker} ({'home' if node is home else 'other'}):")
                lines = [line for line in node.server.log.splitlines() if " DEBUG " not in line]
                print("\n".join(lines[-60:]))


async def media_on(spanned: Spanned, home: int, other: int, timeout: float = 8.0) -> None:
    """Wait until the heartbeats say the home terminates ``home`` participants' media and the
    other worker ``other`` (as `mosaic cluster status` shows them)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        seen = {w["id"]: w["media_participants"] for w in await cluster_status(spanned.redis_url)}
        if seen.get(spanned.home.worker) == home and seen.get(spanned.other.worker) == other:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"media participants by worker: {seen}, wanted {home} and {other}")


def metric(node: Node, name: str, **labels: str) -> float:
    """One sample of a worker's /metrics."""
    text = httpx.get(f"{node.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in {node.url}/metrics")


async def relay_streams(node: Node, direction: str, wanted: int, timeout: float = 5.0) -> float:
    """Wait until ``node`` receives (``in``) or sends (``out``) ``wanted`` relay streams; the
    last figure read."""
    deadline = time.monotonic() + timeout
    while True:
        value = metric(node, "mosaic_relay_streams", direction=direction)
        if value == wanted or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def first_frame(viewer: Participant, sender: Participant, timeout: float = 15.0) -> float:
    """When ``viewer`` decoded a frame of ``sender``'s camera (monotonic seconds)."""
    try:
        await viewer.wait_until(lambda: viewer.track_of(sender.id) is not None, timeout=timeout)
        track = viewer.track_of(sender.id)
        assert track is not None
        await asyncio.wait_for(track.recv(), timeout)
    except TimeoutError:
        packets = {mid: tap.packets for mid, tap in viewer.media.received.items()}
        raise AssertionError(
            f"{viewer.name} decoded no frame of {sender.name}'s camera in {timeout} s:"
            f" slots {viewer.media.slots}, packets {packets}"
        ) from None
    return time.monotonic()


async def hears(listener: Participant, speaker: Participant, packets: int = 20) -> None:
    """``listener`` receives ``speaker``'s microphone (its slot's packets grow)."""

    def slot() -> str | None:
        return listener.media.slot_of(speaker.id, "microphone")

    await listener.wait_until(lambda: slot() is not None, timeout=15)
    mid = slot()
    assert mid is not None
    await listener.wait_until(
        lambda: mid in listener.media.received and listener.media.received[mid].packets > packets,
        timeout=15,
    )


def tile(*people: Participant) -> list[dict[str, object]]:
    return [{"participant": p.id, "source": "camera", "width": 160, "height": 90} for p in people]


@dataclass
class FrameClock:
    """Every frame of one sender's camera a viewer decodes, timed, in the background; follows
    the track when the viewer's media starts afresh (a new track)."""

    viewer: Participant
    sender: Participant
    times: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> FrameClock:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            current = self.viewer.track_of(self.sender.id)
            if current is None:
                await asyncio.sleep(0.02)
                continue
            track = current
            try:
                await asyncio.wait_for(track.recv(), 0.2)
            except Exception:  # none within 0.2 s, or a track ended by a restart: look again
                await asyncio.sleep(0.01)
                continue
            self.times.append(time.monotonic())

    def gaps(self, since: float, until: float) -> float:
        """The longest time without a frame between ``since`` and ``until``."""
        inside = [since, *(t for t in self.times if since <= t <= until), until]
        return max(b - a for a, b in itertools.pairwise(inside))

    def fps(self, since: float, until: float) -> float:
        return sum(since <= t <= until for t in self.times) / (until - since)

    def first_after(self, since: float) -> float | None:
        return next((t for t in self.times if t > since), None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def worker_ports(nodes: list[Node]) -> set[int]:
    """Every UDP port the workers' processes have open now (`ss`): their ICE sockets and
    their relay sockets. A datagram from one of these to another is relay traffic (a
    client's sockets belong to the test's process)."""
    pids = {node.server.pid for node in nodes}
    listing = subprocess.run(["ss", "-uanpH"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in listing.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            local = line.split()[3]
            ports.add(int(local.rsplit(":", 1)[1]))
    return ports
