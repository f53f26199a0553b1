"""Python participants (``mosaic.client``, real aiortc peers) in a meeting, for media tests."""

from __future__ import annotations

import asyncio

from mosaic.client import Participant, join
from tests.helpers.api import Account

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
