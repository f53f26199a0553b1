"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import asyncio

from mosaic.client import Participant


async def python_decodes(viewer: Participant, sender_id: str) -> int:
    """Decode a few frames of someone's camera at the Python participant; their width."""
    await viewer.wait_until(lambda: viewer.track_of(sender_id) is not None, timeout=20)
    track = viewer.track_of(sender_id)
    assert track is not None
    width = 0
    for _ in range(3):
        width = (await asyncio.wait_for(track.recv(), 10)).width
    return width


async def python_hears(viewer: Participant, sender_id: str) -> None:
    await viewer.wait_until(lambda: viewer.media.slot_of(sender_id, "microphone") is not None)
    mid = viewer.media.slot_of(sender_id, "microphone")
    assert mid is not None
    await viewer.wait_until(lambda: viewer.media.received[mid].packets > 20, timeout=15)


def id_of(viewer: Participant, name: str) -> str:
    return next(p["id"] for p in viewer.participants.values() if p["name"] == name)
