"""Steps a person takes in the meeting page, for browser tests."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, expect

from mosaic.client import Participant


async def enter(page: Page, join_url: str, name: str) -> None:
    """Open the link, type a name, join, and wait to be in the room."""
    await page.goto(join_url)
    await page.fill("#name", name)
    await page.click("#join")
    await expect(page.locator("#room")).to_be_visible(timeout=15000)


async def inbound(page: Page) -> dict[str, list[dict[str, Any]]]:
    """The page's inbound RTP statistics, video and audio."""
    return await page.evaluate(
        """async () => {
            const stats = await window.mosaicRoom.media.stats();
            const pick = (kind) => stats.inbound.filter((s) => s.kind === kind).map((s) => ({
                mid: s.mid, ssrc: s.ssrc, framesDecoded: s.framesDecoded || 0,
                frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0,
                packetsReceived: s.packetsReceived || 0, packetsLost: s.packetsLost || 0,
                nackCount: s.nackCount || 0, totalSamplesReceived: s.totalSamplesReceived || 0,
                audioLevel: s.audioLevel || 0, freezeCount: s.freezeCount || 0,
                totalFreezesDuration: s.totalFreezesDuration || 0,
                retransmittedPacketsReceived: s.retransmittedPacketsReceived || 0,
            }));
            return {video: pick("video"), audio: pick("audio")};
        }"""
    )


async def playing_videos(page: Page) -> dict[str, int]:
    """participant id -> videoWidth of each remote tile's playing video."""
    return await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#stage .tile:not(.self)')]
            .map((tile) => [tile.dataset.participantId, tile.querySelector('video').videoWidth]))"""
    )


async def decoding_from(page: Page, count: int) -> bool:
    """Whether the page decodes video and audio from ``count`` others and shows their videos.

    All three, because each fails on its own: statistics can count frames for a track no tile
    plays, and a tile can play video while the audio never arrives."""
    stats = await inbound(page)
    videos = [v for v in stats["video"] if v["framesDecoded"] > 0 and v["frameWidth"] > 0]
    audios = [a for a in stats["audio"] if a["totalSamplesReceived"] > 0]
    sizes = await playing_videos(page)
    return (
        len(videos) >= count
        and len(audios) >= count
        and sum(w > 0 for w in sizes.values()) >= count
    )


# Video frames decoded on the page's current subscribe connection, and whether that connection
# is the one a test remembered as ``window.before`` (to tell a replaced connection).
_DECODED = """async () => {
    const pc = window.mosaicRoom.media.subscriber;
    if (!pc) return {frames: 0, same: false};
    let frames = 0;
    (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
    });
    return {frames, same: pc === window.before};
}"""


async def decoded(page: Page) -> dict[str, int | bool]:
    """{"frames": decoded on the current subscribe connection, "same": it is window.before}."""
    return await page.evaluate(_DECODED)  # type: ignore[no-any-return]


async def frames_from(viewer: Participant, publisher_id: str) -> None:
    """Three frames of someone's camera decoded by a Python participant."""
    await viewer.wait_until(lambda: viewer.track_of(publisher_id) is not None, timeout=20)
    track = viewer.track_of(publisher_id)
    assert track is not None
    for _ in range(3):
        await asyncio.wait_for(track.recv(), 10)
