"""Taps on aiortc's receiving side: count or record the RTP packets a subscriber receives.

Bots count packets without decoding (a bot must cost almost no CPU); tests record payloads to
compare them byte for byte with what a publisher sent. The tap wraps
`RTCRtpReceiver._handle_rtp_packet`, the point where aiortc would depacketize and decode
(pinned to aiortc 1.16.0 like `mosaic.media.aiortc_bridge`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket


@dataclass
class ReceivedPackets:
    packets: int = 0
    octets: int = 0
    record: bool = False
    payloads: list[bytes] = field(default_factory=list)
    ssrcs: set[int] = field(default_factory=set)
    payload_types: set[int] = field(default_factory=set)


def tap_receiver(receiver: RTCRtpReceiver, *, decode: bool = True) -> ReceivedPackets:
    """Count (and optionally record) every packet ``receiver`` gets; with ``decode=False`` the
    packets go no further, so nothing is depacketized or decoded."""
    tally = ReceivedPackets()
    original = receiver._handle_rtp_packet

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> Any:
        tally.packets += 1
        tally.octets += len(packet.payload)
        tally.ssrcs.add(packet.ssrc)
        tally.payload_types.add(packet.payload_type)
        if tally.record:
            tally.payloads.append(bytes(packet.payload))
        if decode:
            return await original(packet, arrival_time_ms)
        return None

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
    return tally
