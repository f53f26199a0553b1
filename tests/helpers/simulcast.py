"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import asyncio

from aiortc import MediaStreamTrack

from mosaic.client import Participant


async def decodes_at(
    viewer: Participant, publisher_id: str, width: int, timeout: float = 15.0
) -> list[int]:
    """Decode ``publisher_id``'s camera at ``viewer`` until four frames in a row are
    ``width`` wide (the SFU may send another layer until the viewer's ``view`` reaches it, then
    switches at a keyframe; frames decoded before wait in aiortc's queue); the widths seen.
    Fails (times out) if that layer never comes."""
    widths: list[int] = []
    async with asyncio.timeout(timeout):
        await viewer.wait_until(lambda: viewer.track_of(publisher_id) is not None, timeout)
        track: MediaStreamTrack | None = viewer.track_of(publisher_id)
        assert track is not None
        while widths[-4:] != [width] * 4:
            frame = await track.recv()
            widths.append(frame.width)  # type: ignore[attr-defined]
    return widths


def tile(participant_id: str, width: int, height: int) -> list[dict[str, object]]:
    return [{"participant": participant_id, "source": "camera", "width": width, "height": height}]
