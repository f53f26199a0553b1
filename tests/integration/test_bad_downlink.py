"""A Python viewer whose downlink is squeezed, for real: nftables polices the SFU's packets to
it inside a private network namespace. Its video is paused (it is told so) while the speaker
stays heard, and comes back once the link is restored."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from mosaic.client import Participant, join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.media.sfu.subscriber import SubscribePeer
from tests.helpers import netns
from tests.helpers.api import signup
from tests.helpers.inprocess import serve_services_in_process, subscribe_peer
from tests.helpers.participants import LOOPBACK, frames_from

pytestmark = pytest.mark.skipif(
    netns.unavailable() is not None or not os.path.exists("/usr/sbin/nft"),
    reason=netns.unavailable() or "needs nftables (scripts/system-deps.sh)",
)


def _nft(*args: str) -> None:
    subprocess.run(["nft", *args], check=True, capture_output=True, text=True)


def sfu_port(peer: SubscribePeer) -> int:
    """The UDP port the SFU sends this viewer's media from (its one loopback candidate)."""
    [candidate] = [c for c in peer.transport.local_candidates() if " udp " in c.lower()]
    return int(candidate.split()[5])


def squeeze(port: int, kbit_s: int) -> None:
    """Police what leaves ``port`` to ``kbit_s`` (input hook on ``lo``: dropped on arrival,
    so the sender sees no error, as on a real congested link)."""
    _nft("flush", "chain", "inet", "mosaic_lab", "input")
    _nft(
        "add", "rule", "inet", "mosaic_lab", "input", "udp", "sport", str(port),
        "limit", "rate", "over", f"{kbit_s // 8} kbytes/second", "drop",
    )  # fmt: skip


def restore() -> None:
    _nft("flush", "chain", "inet", "mosaic_lab", "input")


async def audio_flows(viewer: Participant, speaker: Participant, seconds: float) -> float:
    """The longest gap (seconds) between audio frames from ``speaker`` over ``seconds``."""
    track = viewer.track_of(speaker.id, "microphone")
    assert track is not None
    longest, last = 0.0, time.monotonic()
    end = last + seconds
    while time.monotonic() < end:
        await asyncio.wait_for(track.recv(), timeout=5)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_squeezed_viewer_keeps_the_audio_and_its_video_pauses_then_resumes(
    tmp_path: Path,
) -> None:
    with netns.private_network(f"mosaic-n3-{os.getpid()}"):
        _nft("add", "table", "inet", "mosaic_lab")
        _nft(
            "add", "chain", "inet", "mosaic_lab", "input",
            "{ type filter hook input priority 0 ; }",
        )  # fmt: skip
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
                squeezed_at = time.monotonic()
                # 256 kbit/s: the speaker's audio fits (aiortc's Opus, about 130 kbit/s on
                # the wire), its video with it does not.
                squeeze(sfu_port(peer), 256)
                paused = await bob.wait_for(
                    "video_paused", lambda event: event["paused"], timeout=20
                )
                took_to_pause = time.monotonic() - squeezed_at
                assert paused["participant_id"] == ann.id and paused["source"] == "camera"
                # The speaker is still heard through the squeeze.
                assert await audio_flows(bob, ann, 3.0) < 0.5
                # Restored: with no video flowing, the viewer's estimate (aiortc sends REMB,
                # computed from what its video receiver gets) rises only because the SFU
                # probes it; without probes it stays where the squeeze left it.
                restore()
                low = peer.estimated_bps
                await asyncio.sleep(8.0)
                print(f"paused after {took_to_pause:.1f} s; estimate {low} -> {peer.estimated_bps}")
                assert peer.estimated_bps >= low * 1.2
            await host.client.aclose()
