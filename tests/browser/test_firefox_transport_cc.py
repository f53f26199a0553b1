"""Firefox ESR, too, negotiates transport-wide congestion control on its subscribe connection
and returns feedback that the SFU matches against what it sent (Chromium:
tests/browser/test_transport_cc.py). In a network namespace of the test's own, with the
server in the test process (tests/helpers/firefox_lab.py)."""

from __future__ import annotations

from pathlib import Path

from mosaic.client import join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import signup
from tests.helpers.firefox import Firefox
from tests.helpers.firefox_lab import FIREFOX_LAB, LOOPBACK, firefox_decodes, firefox_enters
from tests.helpers.inprocess import serve_services_in_process, subscribe_peer
from tests.helpers.waiting import wait_until

pytestmark = FIREFOX_LAB


async def test_firefox_returns_transport_wide_feedback_for_what_the_sfu_sent(
    inside: str, fox: Firefox, tmp_path: Path
) -> None:
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        ann = await join(
            created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
        )
        async with ann:
            await ann.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=15))
            page = await fox.first_page()
            await firefox_enters(page, created["join_url"], "Fiona", **{"mosaic.micOn": "false"})
            await wait_until(firefox_decodes(page, 1), timeout=30)
            peer = subscribe_peer(
                services, meeting_id, await page.evaluate("window.mosaicRoom.selfId")
            )
            # Firefox keeps the extension on video only: numbering its audio packets too made
            # it report each of them lost (9 of 126 packets "arrived").
            assert {(down.kind, down.numbered) for down in peer.slots} == {
                ("audio", False),
                ("video", True),
            }
            start = peer.transport_feedbacks

            async def twenty_more() -> bool:
                return peer.transport_feedbacks - start >= 20

            await wait_until(twenty_more, timeout=8)
            assert peer.packets_reported >= 20  # one packet per frame of this small video
            assert peer.packets_arrived >= 0.95 * peer.packets_reported
        await host.client.aclose()
