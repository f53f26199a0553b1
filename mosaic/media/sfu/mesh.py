"""The relay mesh: one slice of a meeting (one worker's share) and its relays to the others.

A meeting that spans workers runs one `Router` per worker that holds media participants of
it (a *slice*), and one `RelayMesh` beside each. The mesh keeps one `RelayLink` per peer
slice and decides which of its router's local tracks cross to which peer:

* every local **audio** track that is forwarding goes to every peer, so that each slice's
  speaker detector hears every voice and the loudest-six choice and the active speaker are
  the same meeting-wide; a muted or suspended one (`UpTrack.forwarding` false) stops;
* a local **video** track goes to a peer only while that peer *wants* it (some viewer there
  shows it: visible tiles only), with all its simulcast layers (each viewer's layer is
  chosen by its own slice's allocation). One relay stream per layer per peer, however many
  viewers there.

Each slice works out what it wants from its own viewers' views (`Router.on_view`), counted
per track, and posts its whole want set for a publisher's worker to that worker when it
changes (at most once per event-loop turn per worker): a page flip costs a few dict updates
and one message, never a scan of participants x tiles.

The mesh is never on the packet path: packets go publisher -> up stream -> relay down track
-> UDP -> relay up stream -> down tracks, as `relay.py` describes; the mesh only opens,
starts and stops those streams. Its messages to a peer's mesh (`post`, carried by the
cluster's bus in order) are:

``{"type": "hello", "port": int, "key": hex | None, "reply": bool}``
    this side's relay socket for that peer is open on ``port`` (at the host the meeting's
    home named for it: a message cannot point the relay elsewhere); under SRTP, the key this
    side encrypts with. A hello that is not a reply is answered with one, so that a peer
    that opened its link again (it had dropped this one) learns where to send.
``{"type": "track", "track": RelayedTrack.to_json()}``
    a track now relayed to the receiver (it adds it to its router).
``{"type": "stop", "participant": str, "source": str, "ssrc": int}``
    the track whose first relayed SSRC is ``ssrc`` is relayed no more.
``{"type": "want", "all": bool, "default": bool, "tracks": [[participant, source], ...]}``
    the videos published on the receiver that the sender's viewers show (``default``: some
    viewer there has said nothing yet, and gets the first few cameras, as on one worker;
    ``all``: every video, for a recording home).

A message that is malformed, comes from a worker that is not a peer, or names a stream
that is not relayed is dropped and counted (`stats()["dropped"]`), never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mosaic.media.sfu.allocation import DEFAULT_VIEW_COUNT, WantedVideo
from mosaic.media.sfu.relay import (
    KEY_SIZE,
    RelayedTrack,
    RelayLink,
    parse_relayed_track,
)
from mosaic.media.sfu.router import Router
from mosaic.media.sfu.up import LAYER_BACK_AFTER, UpTrack
from mosaic.media.sfu.wants import SOURCES, Key, PeerWants, ViewerWants
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

Post = Callable[[str, dict[str, Any]], None]

# How often the mesh looks again at the video tracks it relays: a simulcast publisher's
# layers are learned from their first packets, after the track was announced.
CHECK_S = 0.25


@dataclass(frozen=True)
class MeshPeer:
    """Another slice of the meeting, as the meeting's home describes it."""

    worker_id: str
    host: str  # the address that peer's relay sockets bind (its first media address)
    secure: bool  # another machine: SRTP, keys handed over through `post`


@dataclass
class _Peer:
    info: MeshPeer
    link: RelayLink
    key: bytes | None = None  # this side's SRTP key (sent in hello)
    peer_key: bytes | None = None  # the peer's, as its hello gave it
    port: int | None = None  # the peer's relay port, once its hello came
    opened: bool = False
    wants: PeerWants = field(default_factory=PeerWants)
    # Sending side: what is relayed to this peer, by track key.
    out: dict[Key, tuple[UpTrack, RelayedTrack]] = field(default_factory=dict)
    # Receiving side: what this peer relays here, by track key, with its first SSRC.
    into: dict[Key, tuple[UpTrack, int]] = field(default_factory=dict)
    posted_wants: dict[str, Any] | None = None

    @property
    def ready(self) -> bool:
        """Whether packets sent now would reach the peer (and be readable there)."""
        return self.opened and self.port is not None and self.link.connected


class RelayMesh:
    """One slice's relays to the meeting's other slices (see the module's docstring)."""

    def __init__(
        self,
        router: Router,
        worker_id: str,
        post: Post,
        *,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
        ticking: bool = True,
    ) -> None:
        self.router = router
        self.worker_id = worker_id
        self._post = post
        self.host = host
        self.clock = clock
        self._ticking = ticking
        self._peers: dict[str, _Peer] = {}
        # Receiving side: what the viewers here show of the videos published elsewhere.
        self._wants = ViewerWants(worker_id)
        self._flush_scheduled = False
        # Local video tracks waiting for their first layer before they can be relayed.
        self._unstreamed: set[UpTrack] = set()
        self._tasks = TaskSet(on_error=_open_failed)
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0  # messages refused (malformed, from a stranger, naming no stream)
        router.on_track = self._track_event
        router.on_view = self._view_event

    # -- the cluster's calls -------------------------------------------------------------------

    def set_peers(self, peers: list[MeshPeer]) -> None:
        """The meeting's other slices now: a link is opened to each new one; a peer gone (or
        changed) is dropped, its relayed tracks removed from the router at once."""
        if self._closed:
            return
        wanted = {peer.worker_id: peer for peer in peers if peer.worker_id != self.worker_id}
        for worker_id in list(self._peers):
            if self._peers[worker_id].info != wanted.get(worker_id):
                self._drop_peer(worker_id)
        for worker_id, info in wanted.items():
            if worker_id not in self._peers:
                self._add_peer(info)
        self._start()

    def set_placement(self, media_worker: dict[str, str]) -> None:
        """Each participant's media worker: which peer to ask for the videos viewers here
        show, and which peer may relay whose tracks."""
        self._wants.place(media_worker)
        self._schedule_flush()

    def want_all_video(self, on: bool) -> None:
        """The home while recording: every video of the meeting comes here."""
        self._wants.want_all(on)
        self._schedule_flush()

    def receive(self, from_worker: str, message: dict[str, Any]) -> None:
        """A peer's post. Never raises: a bad message is dropped and counted."""
        peer = self._peers.get(from_worker) if isinstance(from_worker, str) else None
        if peer is None or self._closed or not isinstance(message, dict):
            self.dropped += 1
            return
        kind = message.get("type")
        try:
            if kind == "hello":
                accepted = self._hello(peer, message)
            elif kind == "track":
                accepted = self._track(peer, message)
            elif kind == "stop":
                accepted = self._stop(peer, message)
            elif kind == "want":
                accepted = self._want(peer, message)
            else:
                accepted = False
        except Exception:  # a bug must not take the worker's media down with it
            log.exception("relay mesh message from %s failed", from_worker)
            accepted = False
        if not accepted:
            self.dropped += 1

    def linked(self) -> set[str]:
        """The peers whose relay is up both ways (each side knows the other's socket)."""
        return {worker_id for worker_id, peer in self._peers.items() if peer.ready}

    def stats(self) -> dict[str, int]:
        """Streams relayed out and in now, packets, repairs, and what was refused."""
        links = [peer.link for peer in self._peers.values()]
        return {
            "peers": len(self._peers),
            "relayed_out": sum(
                len(relayed.streams) for p in self._peers.values() for _, relayed in p.out.values()
            ),
            "relayed_in": sum(
                len(track.streams) for p in self._peers.values() for track, _ in p.into.values()
            ),
            "packets_out": sum(link.sent for link in links),
            "packets_in": sum(link.received for link in links),
            "retransmitted": sum(link.retransmitted for link in links),
            "nacks_sent": sum(link.nacks_sent for link in links),
            "keyframe_requests_sent": sum(link.keyframe_requests_sent for link in links),
            "strangers": sum(link.strangers for link in links),
            "refused": sum(link.refused for link in links),
            "dropped": self.dropped,
        }

    def tick(self, now: float) -> None:
        """Without ``ticking``, the caller's beat: the links' NACK and keyframe retries, and a
        look at the layers of the tracks relayed."""
        for peer in list(self._peers.values()):
            peer.link.tick(now)
        self._check_layers()

    async def close(self) -> None:
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._tasks.cancel()
        for worker_id in list(self._peers):
            self._drop_peer(worker_id)
        # A bound method left on the router would keep this mesh (and its links) alive.
        if self.router.on_track == self._track_event:
            self.router.on_track = _ignore_track
        if self.router.on_view == self._view_event:
            self.router.on_view = _ignore_view

    # -- peers ---------------------------------------------------------------------------------

    def _add_peer(self, info: MeshPeer) -> None:
        peer: _Peer

        async def hand_over(key: bytes) -> None:
            peer.key = key  # posted in the hello, once the socket is bound

        link = RelayLink(
            self.clock,
            secure=info.secure,
            hand_over=hand_over if info.secure else None,
            local=(self.host, 0),
        )
        peer = _Peer(info, link)
        self._peers[info.worker_id] = peer
        self._spawn(self._open(peer))

    async def _open(self, peer: _Peer) -> None:
        try:
            await peer.link.open(ticking=self._ticking)
        except OSError:
            log.exception("relay to %s: cannot bind on %s", peer.info.worker_id, self.host)
            return
        if self._peers.get(peer.info.worker_id) is not peer:
            peer.link.close()  # dropped while binding
            return
        peer.opened = True
        self._hello_to(peer, reply=False)
        self._reconcile_peer(peer)
        self._post_wants(peer)

    def _hello_to(self, peer: _Peer, *, reply: bool) -> None:
        address = peer.link.address
        if address is None:
            return
        key = peer.key.hex() if peer.key is not None else None
        self._send(peer, {"type": "hello", "port": address[1], "key": key, "reply": reply})

    def _drop_peer(self, worker_id: str) -> None:
        peer = self._peers.pop(worker_id)
        self._forget_incoming(peer)
        peer.out.clear()
        peer.link.close()  # its relay down tracks let go of the up streams here

    def _forget_incoming(self, peer: _Peer) -> None:
        for track, _ in peer.into.values():
            peer.link.forget(track)
            self.router.remove_track(track)
        peer.into.clear()

    # -- the sending side: which local tracks cross to which peer ---------------------------------

    def _local(self, key: Key) -> UpTrack | None:
        """The track published on this slice under ``key`` (not one a peer relays here)."""
        track = self.router.tracks.get(key)
        if track is None:
            return None
        for peer in self._peers.values():
            held = peer.into.get(key)
            if held is not None and held[0] is track:
                return None
        return track

    def _track_event(self, track: UpTrack) -> None:
        """The router added or removed a track, or it began or stopped forwarding."""
        if isinstance(track.uplink, RelayLink):
            return  # relayed here by a peer: never relayed on
        key = (track.participant_id, track.source)
        for peer in list(self._peers.values()):
            if track.kind == "video" and peer.wants.default:
                # The first few cameras (what a viewer that said nothing gets) may have
                # changed, the ones relayed to that peer with them.
                self._reconcile_peer(peer)
            else:
                self._reconcile(peer, key)

    def _default_videos(self) -> set[Key]:
        """The first few local videos, as `allocation.wanted_videos` gives a viewer that has
        not said what it shows."""
        videos = [
            key
            for key, track in self.router.tracks.items()
            if track.kind == "video" and track.forwarding and self._local(key) is track
        ]
        return set(videos[:DEFAULT_VIEW_COUNT])

    def _reconcile_peer(self, peer: _Peer) -> None:
        defaults = self._default_videos() if peer.wants.default else set()
        for key in {*self.router.tracks, *peer.out}:
            self._reconcile(peer, key, defaults)

    def _reconcile(self, peer: _Peer, key: Key, defaults: set[Key] | None = None) -> None:
        """Relay the local track ``key`` to ``peer`` or not, as it should be now."""
        track = self._local(key)
        should = False
        if track is not None and peer.ready and track.forwarding:
            wants = peer.wants
            should = track.kind == "audio" or wants.all or key in wants.tracks
            if not should and wants.default:
                should = key in (self._default_videos() if defaults is None else defaults)
        held = peer.out.get(key)
        if held is not None:
            if should and held[0] is track and len(held[1].streams) == len(track.streams):
                return
            self._stop_relaying(peer, key)  # gone, unwanted, replaced, or its layers grew
        if not should or track is None:
            return
        if not track.streams:
            self._unstreamed.add(track)  # a simulcast camera whose layers are still unknown
            return
        relayed = peer.link.send(track, list(track.streams), self.clock())
        peer.out[key] = (track, relayed)
        self._send(peer, {"type": "track", "track": relayed.to_json()})

    def _stop_relaying(self, peer: _Peer, key: Key, *, tell: bool = True) -> None:
        track, relayed = peer.out.pop(key)
        peer.link.stop(relayed)
        if not tell:
            return
        self._send(
            peer,
            {
                "type": "stop",
                "participant": track.participant_id,
                "source": track.source.value,
                "ssrc": relayed.streams[0].ssrc,
            },
        )

    def _check_layers(self) -> None:
        """Relay again a track whose publisher's layers grew since (learned from packets)."""
        if self._unstreamed:
            waiting, self._unstreamed = self._unstreamed, set()
            for track in waiting:
                for peer in list(self._peers.values()):
                    self._reconcile(peer, (track.participant_id, track.source))
        for peer in list(self._peers.values()):
            for key, (track, relayed) in list(peer.out.items()):
                if len(relayed.streams) != len(track.streams):
                    self._reconcile(peer, key)

    # -- the receiving side: what the viewers here want from elsewhere ----------------------------

    def _view_event(self, viewer: str, videos: list[WantedVideo] | None) -> None:
        """A viewer here showed other tiles (None: it said nothing yet; []: it left)."""
        self._wants.view(viewer, videos)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled or self._closed:
            return
        if not (self._wants.dirty or self._wants.dirty_all):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush_wants()
            return
        self._flush_scheduled = True
        loop.call_soon(self._flush_wants)

    def _flush_wants(self) -> None:
        """Post each peer whose share of the wants changed its whole want set (one message
        for all the view changes of one event-loop turn)."""
        self._flush_scheduled = False
        if self._closed:
            return
        for worker_id in self._wants.take(set(self._peers)):
            self._post_wants(self._peers[worker_id])

    def _post_wants(self, peer: _Peer) -> None:
        if not peer.opened:
            return  # posted once its link is open (`_open`)
        message = self._wants.message(peer.info.worker_id)
        if message != peer.posted_wants:
            peer.posted_wants = message
            self._send(peer, message)

    # -- messages from a peer --------------------------------------------------------------------

    def _hello(self, peer: _Peer, message: dict[str, Any]) -> bool:
        port, key, reply = message.get("port"), message.get("key"), message.get("reply")
        if not _is_port(port) or not isinstance(reply, bool):
            return False
        secret: bytes | None = None
        if peer.info.secure:
            if not isinstance(key, str) or len(key) != 2 * KEY_SIZE:
                return False
            try:
                secret = bytes.fromhex(key)
            except ValueError:
                return False
        elif key is not None:
            return False
        if peer.port is not None and peer.port != port:
            # The peer opened its end again: what it relayed here is gone, and what goes
            # there starts afresh on the new socket.
            self._forget_incoming(peer)
            for key_out in list(peer.out):
                self._stop_relaying(peer, key_out, tell=False)  # its new socket knew none
            peer.posted_wants = None
        peer.port = port
        peer.link.connect((peer.info.host, port))
        if secret is not None and secret != peer.peer_key:
            peer.peer_key = secret
            peer.link.accept_key(secret)
        if not reply and peer.opened:
            self._hello_to(peer, reply=True)
        self._reconcile_peer(peer)
        self._post_wants(peer)
        return True

    def _track(self, peer: _Peer, message: dict[str, Any]) -> bool:
        relayed = parse_relayed_track(message.get("track"))
        if relayed is None:
            return False
        key = (relayed.participant_id, SOURCES[relayed.source])
        placed = self._wants.placement.get(relayed.participant_id)
        if placed is not None and placed != peer.info.worker_id:
            return False  # only the participant's own media worker relays its tracks
        held = peer.into.get(key)
        if self._local(key) is not None:
            return False  # published here: no peer speaks for it
        ssrcs = [s.ssrc for s in relayed.streams]
        ssrcs += [s.rtx_ssrc for s in relayed.streams if s.rtx_ssrc is not None]
        in_use = {
            stream.ssrc
            for track, _ in peer.into.values()
            if held is None or track is not held[0]
            for stream in track.streams
        }
        if in_use.intersection(ssrcs):
            return False
        for other in self._peers.values():
            if other is not peer and key in other.into:
                # Its media worker changed (the old one died or it moved): the new one's wins.
                old, _ = other.into.pop(key)
                other.link.forget(old)
                self.router.remove_track(old)
        if held is not None:
            peer.into.pop(key)
            peer.link.forget(held[0])
            self.router.remove_track(held[0])
        track = peer.link.receive(relayed)
        if track.kind == "video":
            # Its sender starts it now (at the publisher's next keyframe, already asked for):
            # counted live from now, so the viewers here want it at the next allocation and
            # that first keyframe starts them. Counted from its first packet, they would
            # want it only after that keyframe, and wait for the next: two round trips.
            now = self.clock()
            for stream in track.streams:
                stream.last_packet = now
                stream.resumed_at = now - LAYER_BACK_AFTER
        peer.into[key] = (track, relayed.streams[0].ssrc)
        self.router.add_track(track)
        return True

    def _stop(self, peer: _Peer, message: dict[str, Any]) -> bool:
        pid, source, ssrc = message.get("participant"), message.get("source"), message.get("ssrc")
        if not isinstance(pid, str) or not isinstance(source, str) or source not in SOURCES:
            return False
        if not isinstance(ssrc, int):
            return False
        key = (pid, SOURCES[source])
        held = peer.into.get(key)
        if held is None or held[1] != ssrc:
            return False  # not (or no longer) relayed here
        del peer.into[key]
        peer.link.forget(held[0])
        self.router.remove_track(held[0])
        return True

    def _want(self, peer: _Peer, message: dict[str, Any]) -> bool:
        wants = PeerWants.parse(message)
        if wants is None:
            return False
        before, peer.wants = peer.wants, wants
        if wants.all != before.all or wants.default != before.default:
            self._reconcile_peer(peer)
        else:
            defaults = self._default_videos() if wants.default else set()
            for key in before.tracks ^ wants.tracks:
                self._reconcile(peer, key, defaults)
        return True

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, peer: _Peer, message: dict[str, Any]) -> None:
        try:
            self._post(peer.info.worker_id, message)
        except Exception:
            log.exception("relay mesh: cannot post to %s", peer.info.worker_id)

    def _spawn(self, coroutine: Any) -> None:
        self._tasks.spawn(coroutine)

    def _start(self) -> None:
        if self._ticker is None and self._ticking and not self._closed:
            self._ticker = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                self._check_layers()
            except Exception:
                log.exception("relay mesh check failed")


def _open_failed(error: BaseException) -> None:
    # A module function, not a method: the mesh's task set must not hold the mesh.
    log.error("relay link failed to open", exc_info=error)


def _ignore_track(track: UpTrack) -> None:
    """A closed mesh's router hears of its tracks no more."""


def _ignore_view(participant_id: str, videos: list[WantedVideo] | None) -> None:
    """A closed mesh's router hears of its views no more."""


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536
