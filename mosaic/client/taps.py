"""Taps on aiortc's receiving side: count or record the RTP packets a subscriber receives, and
count what arrives on a whole connection (the watchdog's sign of life).

Bots count packets without decoding (a bot must cost almost no CPU); tests record payloads to
compare them byte for byte with what a publisher sent. The tap wraps
`RTCRtpReceiver._handle_rtp_packet`, the point where aiortc would depacketize and decode
(pinned to aiortc 1.16.0 like `mosaic.media.transport.aiortc_bridge`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCDtlsTransport, RTCRtpReceiver
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


@dataclass
class Arrivals:
    """RTP and RTCP packets that arrived on one transport, decrypted (so from the peer)."""

    packets: int = 0


def count_arrivals(transport: RTCDtlsTransport) -> Arrivals:
    """Count every packet that ``transport`` decrypts, RTP or RTCP, whichever receiver or
    sender it is for (wraps `RTCDtlsTransport._handle_rtp_data` and `_handle_rtcp_data`,
    where aiortc hands decrypted packets to its router). Counted once however often asked."""
    counted: Arrivals | None = getattr(transport, "_mosaic_arrivals", None)
    if counted is not None:
        return counted
    tally = Arrivals()
    handle_rtp, handle_rtcp = transport._handle_rtp_data, transport._handle_rtcp_data

    async def rtp(data: bytes, arrival_time_ms: int) -> None:
        tally.packets += 1
        await handle_rtp(data, arrival_time_ms)

    async def rtcp(data: bytes) -> None:
        tally.packets += 1
        await handle_rtcp(data)

    transport._handle_rtp_data = rtp  # type: ignore[method-assign]
    transport._handle_rtcp_data = rtcp  # type: ignore[method-assign]
    transport._mosaic_arrivals = tally  # type: ignore[attr-defined]
    return tally
