"""Run inside a network namespace whose loopback drops a share of UDP packets: a Mosaic server
and two Chromium pages (a publisher and a viewer); prints the viewer's video statistics as JSON.

Started by `test_packet_loss.py` with ``ip netns exec``; not a test module itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mosaic.bots.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.browser.meeting import enter, inbound
from tests.helpers.api import signup
from tests.helpers.server import MosaicServer

STANDARD = "localStorage.setItem('mosaic.videoQuality', 'standard')"


async def video(page) -> dict:  # type: ignore[no-untyped-def]
    videos = [v for v in (await inbound(page))["video"] if v["packetsReceived"]]
    return videos[0] if videos else {}


async def main(seconds: float) -> dict:
    server = MosaicServer(
        Path(tempfile.mkdtemp()), "--join-rate-per-minute", "100000", *sys.argv[2:]
    ).start()
    try:
        host = await signup(server.url)
        meeting = await host.create_meeting(waiting_room=False)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            publisher_context = await browser.new_context()
            await publisher_context.add_init_script(STANDARD)
            publisher = await publisher_context.new_page()
            await enter(publisher, meeting["join_url"], "Sender")
            viewer_context = await browser.new_context()
            await viewer_context.add_init_script(
                STANDARD + ";localStorage.setItem('mosaic.camOn', 'false')"
            )
            viewer = await viewer_context.new_page()
            await enter(viewer, meeting["join_url"], "Viewer")
            deadline = time.monotonic() + 30
            while not (await video(viewer)).get("framesDecoded") and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            # The sender's encoder starts low and climbs for a second or two (slower under
            # loss): measure the video once it runs, not the encoder's ramp.
            await asyncio.sleep(2.0)
            start = await video(viewer)
            timeline = []
            for _ in range(int(seconds * 2)):
                await asyncio.sleep(0.5)
                now = await video(viewer)
                timeline.append(
                    (now.get("framesDecoded"), now.get("nackCount"), now.get("freezeCount"))
                )
            end = await video(viewer)
            await browser.close()
        return {"start": start, "end": end, "seconds": seconds, "timeline": timeline}
    finally:
        server.stop()
        print(server.log, file=sys.stderr)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0))))
