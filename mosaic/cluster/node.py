"""The cluster as one worker sees it: its Redis link, the registry, placement and the bus.

Built by `Services.start` when ``--redis-url`` is set (`Services.cluster`); None otherwise,
and then nothing in Mosaic touches Redis.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mosaic.cluster.bus import Bus
from mosaic.cluster.link import RedisLink
from mosaic.cluster.placement import MediaPlacement, Placement
from mosaic.cluster.registry import Registry


def new_worker_id() -> str:
    """host-pid-xxxx: readable in `mosaic cluster status`, unique even when a restarted
    worker reuses a pid (the random part)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass
class Cluster:
    link: RedisLink
    registry: Registry
    placement: Placement
    bus: Bus | None
    worker_id: str
    # Which worker terminates each new media participant of a meeting homed here (a meeting
    # spreads its media past --worker-capacity): `mosaic.signaling.span` asks it.
    media_placement: MediaPlacement
    # The routers of the slices this worker runs for meetings homed elsewhere (set by
    # `mosaic.signaling.slices`): their participants count in this worker's media load.
    slice_routers: Callable[[], Iterable[Any]] = lambda: ()
    # Their media counters summed (routers' and relay meshes': `relayed_in`, `relayed_out`...),
    # added to this worker's /metrics (set by `mosaic.signaling.slices`).
    slice_stats: Callable[[], dict[str, int]] = dict

    @classmethod
    async def open(
        cls,
        url: str,
        announce: Callable[[], dict[str, str]],
        load: Callable[[], dict[str, float]],
        worker_id: str | None = None,
        worker_capacity: int = 50,  # Settings' default (mosaic.config: cluster imports no config)
    ) -> Cluster:
        """Connect, subscribe to this worker's bus channel, then announce it (in that
        order: from its first heartbeat on, the registry sees it alive). Raises
        `ClusterUnavailable` when Redis does not answer: a worker does not start without it."""
        worker_id = worker_id or new_worker_id()
        link = RedisLink(url)
        registry = Registry(link, worker_id, announce, load)
        bus = Bus(link, worker_id)
        try:
            await link.call(link.redis.ping())
            await bus.start()
            await registry.start()
        except BaseException:
            await bus.stop()
            await link.close()
            raise
        return cls(
            link,
            registry,
            Placement(link, registry),
            bus,
            worker_id,
            MediaPlacement(registry, worker_capacity),
        )

    async def close(self) -> None:
        """Leave the cluster cleanly: no more heartbeats, the hash deleted, unsubscribed."""
        await self.registry.stop()
        if self.bus is not None:
            await self.bus.stop()
        with contextlib.suppress(Exception):
            await self.link.close()
