"""The Python client (aiortc: REMB and receiver reports, no transport-wide feedback) feeds
its subscribe connection's downlink estimate (Chromium's transport-cc feedback:
tests/browser/test_transport_cc.py)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.inprocess import subscribe_peer
from tests.helpers.participants import ann_publishing_to_bob
from tests.helpers.waiting import wait_until


async def test_the_python_client_feeds_the_estimate_with_remb_and_receiver_reports(
    tmp_path: Path,
) -> None:
    async with ann_publishing_to_bob(tmp_path) as meeting:
        peer = subscribe_peer(meeting.services, meeting.meeting_id, meeting.bob.id)
        assert not peer.transport_cc  # aiortc answers without it

        async def both_came() -> bool:
            return peer.rembs > 0 and peer.receiver_reports > 0

        await wait_until(both_came, timeout=10)
        assert peer.transport_feedbacks == 0
