"""Everything a node runs, built once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mosaic.config import Settings
from mosaic.domain.settings import InstancePolicy
from mosaic.mail import Mailer, mailer_for
from mosaic.rtc.aiortc_bridge import (
    check_versions,
    configure_media_network,
    parse_port_range,
)
from mosaic.security.device import DeviceCookies
from mosaic.security.signing import load_or_create_key
from mosaic.security.throttle import (
    Gate,
    GateRule,
    Limits,
    Throttle,
    ThrottleRule,
    guessing_throttle,
)
from mosaic.security.turn import ice_servers_for
from mosaic.signaling.door import Door, join_throttles
from mosaic.signaling.media_gate import router_factory
from mosaic.signaling.recording import RecordingDesk
from mosaic.signaling.resume import ResumeTokens
from mosaic.signaling.room import RoomServices
from mosaic.signaling.rooms import MediaFactory, Rooms
from mosaic.store.audit import Audit
from mosaic.store.db import Database
from mosaic.store.meetings import Meetings
from mosaic.store.recordings import Recordings
from mosaic.store.tokens import ApiTokens
from mosaic.store.users import Users

if TYPE_CHECKING:
    from mosaic.cluster.node import Cluster
    from mosaic.signaling.failover import Failover
    from mosaic.signaling.routing import ClusterSignaling
    from mosaic.signaling.span import Spanning

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    users: Users
    # Personal API tokens: what scripts use instead of a browser's cookies.
    tokens: ApiTokens
    meetings: Meetings
    audit: Audit
    policy: InstancePolicy
    rooms: Rooms
    door: Door
    login_throttle: Throttle
    # Sign-in guesses on one account: never refused, wrong answers slowed (throttle.Gate).
    login_gate: Gate
    # Signs what the server must later believe (device cookies, resume tokens).
    secret_key: bytes
    # The signed device cookie, and the keyed hashes that bans store instead of ids/addresses.
    devices: DeviceCookies
    # Sign-ups per client address; mails per recipient (no mail-bombing through sign-up).
    signup_throttle: Throttle
    mail_throttle: Throttle
    # None when no --smtp-url is set: then the instance admin verifies addresses.
    mailer: Mailer | None
    # Server recordings: the rows, and the desk that starts and stops them (files under
    # the data directory).
    recordings: RecordingDesk
    # Cluster mode (--redis-url): this worker's Redis link, registry, placement and bus;
    # None for the single process, which never touches Redis.
    cluster: Cluster | None = None
    # Cluster mode: the rooms' live state journaled in Redis, the drain on SIGTERM, the
    # re-assertion after Redis returns (mosaic.signaling.failover).
    failover: Failover | None = None
    # Cluster mode: routes signaling connections to their meeting's home worker (relaying
    # them over the bus) and serves those relayed here (mosaic.signaling.routing).
    signaling: ClusterSignaling | None = None
    # Cluster mode: meetings whose media spans workers, the home's side and this worker's
    # slices of meetings homed elsewhere (mosaic.signaling.span); None on one process.
    spanning: Spanning | None = None
    _housekeeping: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, settings: Settings, media_factory: MediaFactory | None = None) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        check_versions()
        secret_key = load_or_create_key(settings.data_dir)
        configure_media_network(
            settings.media_addresses,
            settings.public_ips,
            parse_port_range(settings.udp_ports) if settings.udp_ports else None,
        )
        # One process: each meeting's media is one Router, as always. A cluster with the
        # default media plane: a meeting's media may span workers (`signaling.span`).
        spans = media_factory is None and bool(settings.redis_url)
        if media_factory is None:
            media_factory = router_factory()
        db = Database(settings.db_url)
        await db.migrate()
        meetings = Meetings(db)
        audit = Audit(db)
        recordings = RecordingDesk(Recordings(db), settings.data_dir)
        policy = InstancePolicy(
            require_passcode=settings.require_passcode,
            require_waiting_room=settings.require_waiting_room,
            require_e2ee=settings.require_e2ee,
        )

        def ice_servers(participant_id: str) -> list[dict[str, object]]:
            return ice_servers_for(
                participant_id, settings.turn_urls, settings.turn_secret, settings.turn_ttl_s
            )

        rooms = Rooms(
            RoomServices(
                audit=audit,
                policy=policy,
                ice_servers=ice_servers,
                resume_tokens=ResumeTokens(secret_key),
                meetings=meetings,
                flood_windows=tuple(settings.join_flood_windows),
                recordings=recordings,
                resume_grace_s=settings.resume_grace_s,
            ),
            media_factory,
        )
        cluster = await _join_cluster(settings, rooms) if settings.redis_url else None
        failover = await _keep_live_state(cluster, rooms) if cluster is not None else None
        # The limits on guessing count in this process, or in Redis for the whole cluster
        # (a guesser spread over workers gets one process's budget: mosaic.cluster.throttle).
        limits = _cluster_limits(cluster) if cluster is not None else Limits()
        per_address, per_meeting = join_throttles(
            settings.join_rate_per_minute, settings.join_free_failures, limits
        )
        services = cls(
            settings=settings,
            db=db,
            users=Users(db),
            tokens=ApiTokens(db),
            meetings=meetings,
            audit=audit,
            policy=policy,
            rooms=rooms,
            door=Door(meetings, rooms, per_address, per_meeting),
            # Sign-in guesses per address (or IPv6 /64): the same limit as passcode guesses.
            login_throttle=guessing_throttle(
                settings.join_rate_per_minute, settings.join_free_failures, limits, "login"
            ),
            # Per account: 2 checks at once; past 5 failures in 10 minutes each wrong answer
            # waits up to 3 s holding its slot (at most ~40 repeated guesses a minute from a
            # botnet, one per address per hour more), while the owner's password goes first.
            login_gate=limits.gate(
                "login-account",
                GateRule(
                    concurrent=2,
                    free_failures=settings.join_free_failures,
                    window_s=600.0,
                    delay_step_s=0.5,
                    max_delay_s=3.0,
                ),
            ),
            secret_key=secret_key,
            devices=DeviceCookies(secret_key, secure=settings.secure),
            signup_throttle=limits.throttle(
                "signup",
                ThrottleRule(
                    per_minute=settings.signups_per_hour / 60,
                    burst=max(1, int(settings.signups_per_hour)),
                ),
            ),
            mail_throttle=limits.throttle("mail", ThrottleRule(per_minute=3 / 60, burst=3)),
            mailer=mailer_for(settings),
            recordings=recordings,
            cluster=cluster,
            failover=failover,
        )
        if cluster is not None:
            from mosaic.signaling.routing import ClusterSignaling

            services.signaling = ClusterSignaling(
                cluster, services.door, meetings, rooms, settings.join_deadline_s
            )
            services.signaling.start()
            if spans:
                services.spanning = _span_media(cluster, rooms, settings)
        return services

    def start_housekeeping(self, every_s: float = 3600.0) -> None:
        """Delete audit events past their retention, and expired sign-in sessions, hourly."""

        async def loop() -> None:
            while True:
                try:
                    await self.audit.purge_older_than(self.settings.audit_retention_days)
                    await self.users.purge_expired_sessions()
                except Exception:
                    log.exception("housekeeping failed")
                await asyncio.sleep(every_s)

        self._housekeeping = asyncio.create_task(loop())

    def release_held(self) -> None:
        """The server is stopping: answer the guesses held by the passcode and password gates
        at once ("try again"), or the graceful shutdown waits its whole grace for them."""
        self.door.per_meeting.release()
        self.login_gate.release()

    async def drain(self) -> None:
        """SIGTERM in cluster mode: hand this worker's meetings to the live workers before
        the sockets close (see `mosaic.signaling.failover`); nothing to do on one process."""
        if self.failover is not None:
            await self.failover.drain()

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        if self.mailer is not None:
            await self.mailer.drain()
        await self.rooms.close_all()
        if self.failover is not None:
            await self.failover.stop()
        if self.signaling is not None:
            await self.signaling.close()
        if self.spanning is not None:
            await self.spanning.close()
        if self.cluster is not None:
            await self.cluster.close()
        await self.db.close()


def _cluster_limits(cluster: Cluster) -> Limits:
    from mosaic.cluster.throttle import RedisLimits

    return RedisLimits(cluster.link)


async def _join_cluster(settings: Settings, rooms: Rooms) -> Cluster:
    """Announce this worker to the cluster: where it is reached (HTTP, media addresses, UDP
    range) and, every heartbeat, its load (CPU of this process, forwarded packets/s,
    admitted participants, meetings)."""
    from mosaic.cluster.node import Cluster
    from mosaic.cluster.registry import ProcessCpu, RateMeter
    from mosaic.metrics import media_totals

    cpu = ProcessCpu()
    packets = RateMeter(lambda: media_totals(rooms).get("packets_forwarded", 0))

    def announce() -> dict[str, str]:
        return {
            "http": settings.base_url,
            "media": ",".join(settings.public_ips or settings.media_addresses),
            "udp": settings.udp_ports or "",
        }

    cluster: Cluster | None = None  # read by `load` from the second heartbeat on

    def load() -> dict[str, float]:
        live = rooms.all()
        slices = list(cluster.slice_routers()) if cluster is not None else []
        return {
            "cpu": round(cpu.percent(), 1),
            "pps": round(packets.rate(), 1),
            "participants": sum(len(room.meeting.roster.admitted()) for room in live),
            "meetings": len(live),
            # Spanning's count of its placements (exact the moment a choice is made, the same
            # figure the home weighs itself by), else the routers' connections.
            "media_participants": (
                cluster.media_placement.local_count()
                if cluster is not None and cluster.media_placement.local_count is not None
                else media_participants_here(rooms, slices)
            ),
            "slices": len(slices),
        }

    cluster = await Cluster.open(
        settings.redis_url or "", announce, load, worker_capacity=settings.worker_capacity
    )
    return cluster


def media_participants_here(rooms: Rooms, slice_routers: Iterable[Any] = ()) -> int:
    """Participants whose media connections this worker terminates, every meeting: what a
    worker's capacity (--worker-capacity) is weighed against. Counted from the routers
    themselves (who has a publish or subscribe connection here), so a participant whose
    media went to another worker's slice is not counted here, and one of a remote slice is.
    A room's media is a `Router` (one process), or a `SpannedMedia` whose home slice is its
    ``local`` router."""
    seen: set[tuple[int, str]] = set()
    routers = [getattr(room.media, "local", room.media) for room in rooms.all()]
    for router in [*routers, *slice_routers]:
        for participant_id in (
            *getattr(router, "publishers", ()),
            *getattr(router, "subscribers", ()),
        ):
            seen.add((id(router), participant_id))
    return len(seen)


def _span_media(cluster: Cluster, rooms: Rooms, settings: Settings) -> Spanning:
    """Each meeting homed here spreads its media over workers (`MediaPlacement`, past
    --worker-capacity); this worker runs slices of meetings homed elsewhere; the relay mesh
    binds this worker's first media address."""
    from mosaic.signaling.slices import relay_mesh_factory
    from mosaic.signaling.span import Spanning, disconnect_in

    host = settings.media_addresses[0] if settings.media_addresses else "127.0.0.1"
    spanning = Spanning(cluster, disconnect_in(rooms), mesh_factory=relay_mesh_factory(host))
    spanning.start()
    rooms.make_media_with(spanning.factory)
    return spanning


async def _keep_live_state(cluster: Cluster, rooms: Rooms) -> Failover:
    """Journal the rooms' live state in Redis, and re-assert it when Redis returns."""
    from mosaic.signaling.failover import Failover

    failover = Failover(cluster, rooms)
    await failover.start()
    return failover
