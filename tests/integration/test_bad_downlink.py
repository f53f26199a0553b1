"""Links squeezed for real: nftables polices packets inside a private network namespace.

A Python viewer whose downlink is squeezed: its video is paused (it is told so) while the
speaker stays heard, and probes let its estimate rise again once the link is restored. A Python
publisher whose uplink cannot carry its video: everyone, the publisher too, learns that its
uplink is unstable and its connection poor."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mosaic.client import Participant
from mosaic.media.sfu.publisher import PublishPeer
from mosaic.media.sfu.subscriber import SubscribePeer
from tests.helpers import netns
from tests.helpers.inprocess import subscribe_peer
from tests.helpers.netlab import NetLab
from tests.helpers.participants import NoisyVideoTrack, ann_publishing_to_bob

pytestmark = pytest.mark.skipif(
    netns.unavailable() is not None or not os.path.exists("/usr/sbin/nft"),
    reason=netns.unavailable() or "needs nftables (scripts/system-deps.sh)",
)


def _nft(*args: str) -> None:
    subprocess.run(["nft", *args], check=True, capture_output=True, text=True)


def sfu_port(peer: SubscribePeer | PublishPeer) -> int:
    """The SFU's UDP port of one connection (its one loopback candidate)."""
    [candidate] = [c for c in peer.transport.local_candidates() if " udp " in c.lower()]
    return int(candidate.split()[5])


def squeeze(port: int, kbit_s: int, direction: str = "sport") -> None:
    """Police what leaves (``sport``) or reaches (``dport``) the SFU's ``port`` to
    ``kbit_s`` (input hook on ``lo``: dropped on arrival, so the sender sees no error, as on
    a real congested link)."""
    _nft("flush", "chain", "inet", "mosaic_lab", "input")
    _nft(
        "add", "rule", "inet", "mosaic_lab", "input", "udp", direction, str(port),
        "limit", "rate", "over", f"{kbit_s // 8} kbytes/second", "drop",
    )  # fmt: skip


@contextlib.contextmanager
def lab() -> Iterator[None]:
    """A private namespace with an empty nftables chain to police in."""
    with netns.private_network(f"mosaic-n3-{os.getpid()}"):
        _nft("add", "table", "inet", "mosaic_lab")
        _nft(
            "add", "chain", "inet", "mosaic_lab", "input",
            "{ type filter hook input priority 0 ; }",
        )  # fmt: skip
        yield


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
    """aiortc sends no transport-wide feedback: its REMB (which falls as a queue grows) and
    its receiver reports' loss (once the queue overflows) are all it says, and the REMB must
    be told from the one it also lowers on a clean link when the machine is loaded
    (tests/security/test_media_garbage.py). Here both signals come (the REMB rule alone is
    proven by tests/unit/media/sfu/test_estimator.py)."""
    with netns.private_network(f"mosaic-n4-{os.getpid()}"), NetLab() as network:
        async with ann_publishing_to_bob(tmp_path, NoisyVideoTrack(320, 180, fps=15)) as meeting:
            ann, bob = meeting.ann, meeting.bob
            peer = subscribe_peer(meeting.services, meeting.meeting_id, bob.id)
            # What leaves the SFU's port of Bob's connection (matched as its source port).
            downlink = network.link([sfu_port(peer)], "up")
            await asyncio.sleep(2.0)  # aiortc's REMB starts after 3 s of video
            squeezed_at = time.monotonic()
            # 256 kbit/s, queued then dropped (a real bottleneck): the speaker's audio fits
            # (aiortc's Opus, about 150 kbit/s on the wire), its camera (~0.5 Mbit/s) does not.
            network.shape(downlink, 256)
            paused = await bob.wait_for("video_paused", lambda event: event["paused"], timeout=20)
            took_to_pause = time.monotonic() - squeezed_at
            assert paused["participant_id"] == ann.id and paused["source"] == "camera"
            # The speaker is still heard through the squeeze, once the queue of video sent
            # before the pause has drained (up to half a second: tests/helpers/netlab.py).
            await asyncio.sleep(0.6)
            assert await audio_flows(bob, ann, 3.0) < 0.5
            # Restored: with no video flowing, the viewer's estimate (aiortc sends REMB,
            # computed from what its video receiver gets) rises only because the SFU
            # probes it; without probes it stays where the squeeze left it.
            network.restore(downlink)
            low = peer.estimated_bps
            await asyncio.sleep(8.0)
            print(f"paused after {took_to_pause:.1f} s; estimate {low} -> {peer.estimated_bps}")
            assert peer.estimated_bps >= low * 1.2


async def test_a_publisher_whose_uplink_cannot_carry_its_video_is_marked_unstable(
    tmp_path: Path,
) -> None:
    # A camera that fills its encoder's rate: the pattern's smooth bars (~45 kbit/s) next to
    # the audio hardly exceed the squeeze once a busy machine slows the encoder, and lose
    # too little to count.
    camera = NoisyVideoTrack(320, 180, fps=15)
    with lab():
        async with ann_publishing_to_bob(tmp_path, camera) as meeting:
            ann, bob = meeting.ann, meeting.bob
            assert bob.participants[ann.id]["uplink_unstable"] is False
            room = meeting.services.rooms.get(meeting.meeting_id)
            assert room is not None and room.media is not None
            publisher = room.media.publishers[ann.id]  # type: ignore[attr-defined]
            # 160 kbit/s reach the SFU from Ann: her audio, and a small share of her video.
            squeeze(sfu_port(publisher), 160, "dport")

            def unstable(who: Participant) -> bool:
                state = who.participants.get(ann.id, {})
                return bool(state.get("uplink_unstable")) and state.get("quality") == "poor"

            await bob.wait_until(lambda: unstable(bob), timeout=15)
            await ann.wait_until(lambda: unstable(ann), timeout=5)  # her own notice
            restore()
            await bob.wait_until(lambda: not unstable(bob), timeout=20)
