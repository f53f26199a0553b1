"""What a worker does so that its meetings outlive it: journal their live state, hand them
over when it is told to stop, and take them back after Redis returns empty.

- Live state: every room of this worker writes its journal to Redis
  (`mosaic.cluster.journal`), so that if this worker dies (kill -9, a machine lost), the
  meeting's next home, claimed by the first participant to resume anywhere, reads it back.
- Graceful drain (SIGTERM in cluster mode): the worker says it is draining (placement stops
  choosing it), lets its journals reach Redis, releases each meeting it is home of and
  closes its participants' sockets with 1012 ("service restart"); both clients resume at
  once with their token, land on any worker, and the meeting is claimed by a live one.
  Participants see a media reconnect, nothing else.
- Redis stopped and started: running meetings never needed it to forward media. When it is
  back (empty: Redis runs without persistence), this worker re-asserts its meetings as their
  home and rewrites their live state whole (`Recovery`); its registry heartbeat re-announces
  it and its bus re-subscribes by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mosaic.cluster.journal import Recovery, RedisJournals
from mosaic.cluster.link import ClusterUnavailable
from mosaic.cluster.node import Cluster
from mosaic.signaling.rooms import Rooms

log = logging.getLogger(__name__)

# WebSocket close code "Service Restart" (RFC 6455 registry): both clients resume at once.
CLOSE_MOVING = 1012


class Failover:
    def __init__(self, cluster: Cluster, rooms: Rooms) -> None:
        self.cluster = cluster
        self.rooms = rooms
        self.journals = RedisJournals(cluster.link)
        self.recovery = Recovery(cluster.link, self.reassert, on_answer=self.rewrite_stale)
        self.draining = False

    async def start(self) -> None:
        self.rooms.keep_live_state(self.journals)
        self.cluster.placement.hold = self.recovery.settling
        await self.recovery.start()

    async def reassert(self) -> None:
        """Redis is back (and may be empty): this worker is again the home of the meetings it
        runs, and their live state is written whole. A meeting another worker claimed while
        Redis was away (it cannot have: joins needed Redis) would be closed here, its people
        resuming on that home."""
        rooms = self.rooms.all()
        lost = await self.cluster.placement.reassert(room.id for room in rooms)
        for room in rooms:
            if room.id in lost:
                log.warning("meeting %s has another home now: closing this copy", room.id)
                await self.rooms.hand_over(room.id, CLOSE_MOVING, "moving")
            else:
                room.journal.rewrite(room.live_state())
        await self.journals.wait()

    def rewrite_stale(self) -> None:
        """Rooms whose journal missed a write (Redis was briefly away) write it whole."""
        for room in self.rooms.all():
            if getattr(room.journal, "stale", False):
                room.journal.rewrite(room.live_state())

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Hand every meeting of this worker to the live ones, then close its sockets with
        1012 so that their clients resume there."""
        if self.draining:
            return
        self.draining = True
        log.info("draining: handing %d meetings to other workers", len(self.rooms))
        registry, placement = self.cluster.registry, self.cluster.placement
        registry.set_draining()
        try:
            await asyncio.wait_for(registry.beat(), timeout_s)  # placement sees it now
        except (ClusterUnavailable, TimeoutError):
            log.warning("could not say this worker is draining (Redis away)")
        await self.journals.wait(timeout=timeout_s)
        for room in self.rooms.all():
            # Redis away: a home whose worker is gone is claimed anew anyway.
            with contextlib.suppress(ClusterUnavailable, TimeoutError):
                await asyncio.wait_for(placement.release(room.id), timeout_s)
        await self.rooms.close_all(code=CLOSE_MOVING, reason="moving to another worker")

    async def stop(self) -> None:
        await self.recovery.stop()
        await self.journals.wait()
