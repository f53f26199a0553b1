"""A participant who vanishes takes its server-side media with it, at once.

Every slot that ever showed a publisher remembered it (to map NACKs into former sources), and
callbacks tied connections, tracks and peers into cycles: 50 abrupt departures kept ~15 MB
until a full garbage collection, which a busy server may put off for long. Here publishers
join, publish and vanish (no "leave"), with the garbage collector off: their up tracks,
streams (each with its packet cache), peers and transports must be gone by reference
counting alone once the server has let them go.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mosaic.client import join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.media.sfu import publisher, subscriber, up
from tests.helpers.api import signup
from tests.helpers.inprocess import serve_in_process

LOOPBACK = ["127.0.0.1"]
DEPARTURES = 4

Owned = dict[str, list[tuple[str, weakref.ref[Any]]]]  # participant id -> (what, weakref)


def record_instances(monkeypatch: pytest.MonkeyPatch) -> Owned:
    """Weak references to the server's media objects as they are made, by participant."""
    owned: Owned = defaultdict(list)

    def watch(cls: type, owner: Callable[[Any], str], parts: Callable[[Any], list[Any]]) -> None:
        original = cls.__init__  # type: ignore[misc]

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            for part in [self, *parts(self)]:
                owned[owner(self)].append((type(part).__name__, weakref.ref(part)))

        monkeypatch.setattr(cls, "__init__", init)

    def peer_parts(peer: Any) -> list[Any]:
        transport = peer.transport
        connection = transport.ice._connection
        return [transport, transport.dtls, transport.ice, transport.gatherer, connection]

    watch(publisher.PublishPeer, lambda peer: peer.participant_id, peer_parts)
    watch(subscriber.SubscribePeer, lambda peer: peer.participant_id, peer_parts)
    watch(up.UpTrack, lambda track: track.participant_id, lambda track: [])
    watch(up.UpStream, lambda stream: stream.track.participant_id, lambda s: [s.cache])
    return owned


@contextmanager
def garbage_collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_departed_publishers_media_is_freed_without_a_garbage_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owned = record_instances(monkeypatch)
    async with serve_in_process(tmp_path, resume_grace_s=0.3) as base_url:
        host = await signup(base_url)
        meeting = await host.create_meeting(waiting_room=False)
        watcher = await join(
            meeting["join_url"], name="Wes", cookies=host.cookies, local_addresses=LOOPBACK
        )
        departed: list[str] = []
        async with watcher:
            with garbage_collector_off():
                for index in range(DEPARTURES):
                    gone = await join(
                        meeting["join_url"], name=f"P{index}", local_addresses=LOOPBACK
                    )
                    assert gone.id is not None
                    await gone.publish(audio=ToneAudioTrack(), video=PatternVideoTrack())
                    await watcher.wait_until(
                        lambda g=gone: watcher.media.slot_of(g.id) is not None, timeout=15
                    )
                    mid = watcher.media.slot_of(gone.id)
                    assert mid is not None
                    await watcher.wait_until(
                        lambda m=mid: watcher.media.received[m].packets > 30, timeout=15
                    )
                    # Vanish: no "leave", the sockets just close.
                    await gone.signaling.close()
                    await gone.media.close()
                    departed.append(gone.id)
                    await watcher.wait_until(
                        lambda g=gone: g.id not in watcher.participants, timeout=10
                    )
                # Media teardown runs after the roster says "left": give it a moment.
                await asyncio.sleep(1.0)
                alive = {
                    (pid, what) for pid in departed for what, ref in owned[pid] if ref() is not None
                }
                kinds = {what for pid in departed for what, _ in owned[pid]}
        await host.client.aclose()
    assert {"UpTrack", "UpStream", "PacketCache", "PublishPeer", "MediaTransport"} <= kinds
    assert not alive, sorted(alive)
