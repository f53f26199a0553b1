"""Python participants (``mosaic.client``, real aiortc peers) in a meeting, for media tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import av

from mosaic.client import Participant, join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.services import Services
from tests.helpers.api import Account, signup
from tests.helpers.inprocess import serve_services_in_process

# Media over loopback only: the test machine's other interfaces would add candidates (and
# seconds of ICE checks) without testing anything more.
LOOPBACK = ["127.0.0.1"]


async def meeting_of_two(host: Account) -> tuple[Participant, Participant]:
    """A new meeting without a waiting room, joined by its host (Ann) and a guest (Bob)."""
    created = await host.create_meeting(waiting_room=False)
    a = await join(created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    b = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
    return a, b


async def frames_from(receiver: Participant, sender: Participant, count: int = 3) -> int:
    """Decode a few frames of ``sender``'s camera at ``receiver``; return the frame width."""
    await receiver.wait_until(lambda: receiver.track_of(sender.id) is not None, timeout=15)
    track = receiver.track_of(sender.id)
    assert track is not None
    width = 0
    for _ in range(count):
        frame = await asyncio.wait_for(track.recv(), 10)
        width = frame.width
    return width


class NoisyVideoTrack(PatternVideoTrack):
    """A camera that fills whatever rate its encoder is given (random luma): the pattern's
    smooth bars compress to ~45 kbit/s, too little to congest a link next to the audio."""

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        frame.planes[0].update(os.urandom(self.width * self.height))
        return frame


@dataclass
class AnnToBob:
    """A running in-process server and its meeting, where Ann publishes and Bob receives."""

    services: Services
    meeting_id: str
    ann: Participant
    bob: Participant


@asynccontextmanager
async def ann_publishing_to_bob(
    data_dir: Path, video: PatternVideoTrack | None = None
) -> AsyncIterator[AnnToBob]:
    """An in-process server (its SFU reachable by the test), a meeting without a waiting
    room, its host Ann publishing a tone and a camera (``video``, by default a small pattern:
    320x180, 15 fps), and Bob decoding her frames already."""
    async with serve_services_in_process(data_dir) as (base_url, services):
        host = await signup(base_url)
        try:
            created = await host.create_meeting(waiting_room=False)
            meeting_id = parse_join_url(created["join_url"])[1]
            ann = await join(
                created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
            )
            bob = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
            async with ann, bob:
                camera = video or PatternVideoTrack(320, 180, fps=15)
                await ann.publish(audio=ToneAudioTrack(), video=camera)
                await frames_from(bob, ann)
                yield AnnToBob(services, meeting_id, ann, bob)
        finally:
            await host.client.aclose()
