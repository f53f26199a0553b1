"""The relay between workers (`mosaic.media.sfu.relay`) takes media and feedback from its one
peer only, and under SRTP only what authenticates with the peer's key.

A stranger who learns a relay port (they are in the worker's UDP range) and sends it RTP
with a relayed SSRC would otherwise inject pictures into a meeting on the receiving worker;
one who sends the sending end PLIs would make every publisher it relays send keyframes."""

from __future__ import annotations

import asyncio
import socket

from mosaic.media.sfu.negotiation import VP8_PT
from mosaic.media.wire.rtcp import Pli
from mosaic.media.wire.rtp import build_rtp
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.relay import relayed_meeting, until


async def _from_stranger(data: bytes, address: tuple[str, int] | None) -> None:
    assert address is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.sendto(data, address)
    await asyncio.sleep(0.05)  # time enough for loopback


async def test_a_strangers_media_and_feedback_to_a_relay_port_are_dropped() -> None:
    m = await relayed_meeting()
    try:
        stream = m.relayed_track.streams[0]
        # A keyframe with the relayed SSRC, as the peer would send it: from a stranger.
        forged = build_rtp(
            payload_type=VP8_PT,
            sequence_number=1000,
            timestamp=1,
            ssrc=m.relayed.streams[0].ssrc,
            payload=bytes([0x10]) + vp8_keyframe_header(640, 360),
            marker=True,
        )
        await _from_stranger(forged, m.into.address)
        assert m.into.strangers == 1
        assert m.into.received == 0 and stream.stats.received == 0
        assert stream.keyframe_seq < 0  # nothing B's viewers could be started from

        # A stranger's PLI to A's end: Ann's browser is not asked for a keyframe.
        m.a.clock.advance(1.0)
        ann_transport = m.a.transports.made[0]
        before = len([p for p in ann_transport.rtcp() if isinstance(p, Pli)])
        await _from_stranger(Pli(1, m.relayed.streams[0].ssrc).serialize(), m.out.address)
        assert m.out.strangers == 1
        assert len([p for p in ann_transport.rtcp() if isinstance(p, Pli)]) == before

        # The peer itself still gets through.
        m.ann.video("f", keyframe=True)
        await until(lambda: stream.keyframe_seq >= 0)
        assert m.into.strangers == 1
    finally:
        m.close()


async def test_an_encrypted_relay_refuses_packets_under_a_wrong_key() -> None:
    m = await relayed_meeting(secure=True, wrong_key=True)
    try:
        stream = m.relayed_track.streams[0]
        m.ann.video("f", keyframe=True)
        m.ann.video("f")
        await until(lambda: m.into.refused >= 2)
        assert m.into.received == 0 and stream.stats.received == 0
    finally:
        m.close()
