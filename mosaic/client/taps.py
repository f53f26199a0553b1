"""Taps on the client's receiving side: count or record the RTP packets a subscriber receives,
and count what arrives on a whole connection (the watchdog's sign of life).

Bots count packets without decoding (a bot must cost almost no CPU); tests record payloads to
compare them byte for byte with what a publisher sent. The hooks themselves are the bridge's
(`mosaic.rtc.aiortc_bridge.tap_rtp` and `on_arrival`); what is counted is the client's.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from aiortc import RTCDtlsTransport, RTCRtpReceiver
from aiortc.rtp import RtpPacket

from mosaic.rtc.aiortc_bridge import on_arrival, tap_rtp


@dataclass
class ReceivedPackets:
    packets: int = 0
    octets: int = 0
    record: bool = False
    payloads: list[bytes] = field(default_factory=list)
    ssrcs: set[int] = field(default_factory=set)
    payload_types: set[int] = field(default_factory=set)

    def add(self, packet: RtpPacket) -> None:
        self.packets += 1
        self.octets += len(packet.payload)
        self.ssrcs.add(packet.ssrc)
        self.payload_types.add(packet.payload_type)
        if self.record:
            self.payloads.append(bytes(packet.payload))


def tap_receiver(receiver: RTCRtpReceiver, *, decode: bool = True) -> ReceivedPackets:
    """Count (and optionally record) every packet ``receiver`` gets; with ``decode=False`` the
    packets go no further, so nothing is depacketized or decoded."""
    tally = ReceivedPackets()
    tap_rtp(receiver, tally.add, decode=decode)
    return tally


@dataclass
class Arrivals:
    """RTP and RTCP packets that arrived on one transport, decrypted (so from the peer)."""

    packets: int = 0

    def add(self) -> None:
        self.packets += 1


# One count per transport however often asked (a connection is watched from its first offer).
_arrivals: weakref.WeakKeyDictionary[RTCDtlsTransport, Arrivals] = weakref.WeakKeyDictionary()


def count_arrivals(transport: RTCDtlsTransport) -> Arrivals:
    """Count every packet that ``transport`` decrypts, RTP or RTCP, whichever receiver or
    sender it is for. Counted once however often asked."""
    counted = _arrivals.get(transport)
    if counted is None:
        counted = _arrivals[transport] = Arrivals()
        on_arrival(transport, counted.add)
    return counted
