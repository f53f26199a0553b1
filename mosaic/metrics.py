"""Prometheus metrics at /metrics, read from the running node at scrape time.

Nothing is counted twice on the forwarding path: packets and bytes are the down tracks' own
counters, summed when Prometheus asks. Only counts leave the node: no names, no meeting IDs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from mosaic.rtc import demux

if TYPE_CHECKING:
    from mosaic.cluster.node import Cluster
    from mosaic.cluster.registry import WorkerLoad
    from mosaic.services import Services
    from mosaic.signaling.rooms import Rooms

MEDIA_COUNTERS = {
    "packets_forwarded": "RTP packets sent to subscribers",
    "bytes_forwarded": "RTP payload bytes sent to subscribers",
    "nacks_received": "NACK feedback packets received from subscribers",
    "retransmissions": "packets resent to subscribers from the packet caches",
    "keyframe_requests": "keyframe requests (PLI) sent to publishers",
    "upstream_nacks": "lost packets asked again from publishers",
}


class LoopLag:
    """How late the event loop wakes up: the latency every packet and message pays."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.lag = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            self.lag = max(0.0, time.monotonic() - before - self.interval)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class NodeCollector(Collector):
    def __init__(self, services: Services, lag: LoopLag) -> None:
        self.services = services
        self.lag = lag

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        rooms = self.services.rooms.all()
        yield GaugeMetricFamily("mosaic_meetings", "live meetings on this node", value=len(rooms))
        participants = GaugeMetricFamily(
            "mosaic_participants", "participants on this node", labels=["state"]
        )
        admitted = sum(len(room.meeting.roster.admitted()) for room in rooms)
        waiting = sum(len(room.meeting.roster.waiting()) for room in rooms)
        participants.add_metric(["admitted"], admitted)
        participants.add_metric(["waiting"], waiting)
        yield participants
        totals = media_totals(self.services.rooms, self.services.cluster)
        yield GaugeMetricFamily(
            "mosaic_published_streams",
            "incoming RTP streams (a simulcast camera counts once per layer)",
            value=totals.get("published_streams", 0),
        )
        yield GaugeMetricFamily(
            "mosaic_forwarded_streams",
            "outgoing RTP streams now fed",
            value=totals.get("forwarded_streams", 0),
        )
        for name, help_text in MEDIA_COUNTERS.items():
            yield CounterMetricFamily(f"mosaic_{name}", help_text, value=totals.get(name, 0))
        # A meeting spread over workers (cluster mode): one relay stream per layer per track
        # per peer worker; "in" falls when no viewer here watches a track any more. The
        # meshes' own counters (`RelayMesh.stats`), prefixed relay_ in the media totals.
        relay = GaugeMetricFamily(
            "mosaic_relay_streams",
            "RTP streams relayed between workers now (a simulcast camera once per layer)",
            labels=["direction"],
        )
        relay.add_metric(["in"], totals.get("relay_relayed_in", 0))
        relay.add_metric(["out"], totals.get("relay_relayed_out", 0))
        yield relay
        relayed = CounterMetricFamily(
            "mosaic_relay_packets", "RTP packets relayed between workers", labels=["direction"]
        )
        relayed.add_metric(["in"], totals.get("relay_packets_in", 0))
        relayed.add_metric(["out"], totals.get("relay_packets_out", 0))
        yield relayed
        failures = CounterMetricFamily(
            "mosaic_join_failures", "refused join attempts by reason", labels=["reason"]
        )
        for reason, count in sorted(self.services.door.failures.items()):
            failures.add_metric([str(reason)], count)
        yield failures
        dropped = CounterMetricFamily(
            "mosaic_media_datagrams_dropped",
            "datagrams at media ports that were not STUN, DTLS, RTP or RTCP of their connection",
            labels=["reason"],
        )
        for reason, count in demux.dropped.counts.items():
            dropped.add_metric([reason], count)
        yield dropped
        yield GaugeMetricFamily(
            "mosaic_event_loop_lag_seconds",
            "how late the event loop last woke up",
            value=self.lag.lag,
        )


def media_totals(rooms: Rooms, cluster: Cluster | None = None) -> dict[str, int]:
    """The media counters of every room, live and closed, summed (packets forwarded...); in
    cluster mode also those of the slices this worker runs for meetings homed elsewhere."""
    totals = dict(rooms.closed_media_totals)
    sources = [getattr(room.media, "stats", None) for room in rooms.all()]
    if cluster is not None:
        sources.append(cluster.slice_stats)
    for stats in sources:
        if stats is not None:
            for name, value in stats().items():
                totals[name] = totals.get(name, 0) + value
    return totals


class ClusterCollector(Collector):
    """Every live worker's load, as the registry in Redis says (cluster mode only), so that
    any worker's /metrics shows the whole cluster. Read from Redis before each scrape
    (`refresh`): a collector's `collect` cannot await."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.workers: list[WorkerLoad] = []
        self.reachable = True

    async def refresh(self) -> None:
        from mosaic.cluster.link import ClusterUnavailable

        try:
            self.workers = await self.cluster.registry.live()
            self.reachable = True
        except ClusterUnavailable:
            self.workers, self.reachable = [], False

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "mosaic_cluster_redis_up", "1 if Redis answered this scrape", value=self.reachable
        )
        yield GaugeMetricFamily(
            "mosaic_cluster_workers", "live workers in the cluster", value=len(self.workers)
        )
        figures = {
            "cpu_percent": ("CPU of the worker's process, percent of one core", "cpu"),
            "packets_per_second": ("RTP packets the worker forwards per second", "pps"),
            "participants": ("admitted participants in its meetings", "participants"),
            "meetings": ("meetings the worker is home of", "meetings"),
            "media_participants": (
                "participants whose media the worker terminates (--worker-capacity)",
                "media_participants",
            ),
            "slices": ("meetings homed elsewhere whose media spread to it", "slices"),
        }
        for name, (help_text, attribute) in figures.items():
            family = GaugeMetricFamily(
                f"mosaic_cluster_worker_{name}", help_text, labels=["worker"]
            )
            for worker in self.workers:
                family.add_metric([worker.id], float(getattr(worker, attribute)))
            yield family


def registry_for(
    services: Services, lag: LoopLag
) -> tuple[CollectorRegistry, ClusterCollector | None]:
    """The node's metrics; in cluster mode also the cluster's, with the collector to refresh
    before each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(services, lag))
    cluster = None
    if services.cluster is not None:
        cluster = ClusterCollector(services.cluster)
        registry.register(cluster)
    return registry, cluster


async def refresh_cluster_metrics(collector: ClusterCollector | None) -> None:
    """Read the cluster's figures from Redis before a scrape (nothing in single mode)."""
    if collector is not None:
        await collector.refresh()
