"""The Python client (aiortc: REMB and receiver reports, no transport-wide feedback) feeds
its subscribe connection's downlink estimate (Chromium's transport-cc feedback:
tests/browser/test_transport_cc.py)."""

from __future__ import annotations

from pathlib import Path

from mosaic.client import join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import signup
from tests.helpers.inprocess import serve_services_in_process, subscribe_peer
from tests.helpers.participants import LOOPBACK, frames_from
from tests.helpers.waiting import wait_until


async def test_the_python_client_feeds_the_estimate_with_remb_and_receiver_reports(
    tmp_path: Path,
) -> None:
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        ann = await join(
            created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
        )
        bob = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
        async with ann, bob:
            await ann.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=15))
            await frames_from(bob, ann)
            peer = subscribe_peer(services, meeting_id, bob.id)
            assert not peer.transport_cc  # aiortc answers without it

            async def both_came() -> bool:
                return peer.rembs > 0 and peer.receiver_reports > 0

            await wait_until(both_came, timeout=10)
            assert peer.transport_feedbacks == 0
        await host.client.aclose()
