"""Counting what a bot receives, at the socket, for almost nothing.

aiortc's receive path costs tens of microseconds per packet (a queue hop, SRTP decryption,
a full parse, routing, the jitter buffer): a dozen bots receiving from each other would spend
a core on it and starve the server being measured. The RTP header travels in clear in SRTP
(RFC 3711 §3.1), so a bot counts RTP datagrams where aioice hands them to the connection, by
payload type, and drops them there; STUN, DTLS and RTCP go on to aiortc as before (RTCP from
the server still reaches the publish side's senders: PLI, NACK, REMB).

The hook is the bridge's (`mosaic.rtc.aiortc_bridge.divert_datagrams`, on one connection
instance); the rule for what is RTP is the one the server's socket guard uses.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import aioice

from mosaic.media.wire.rtp import is_rtcp
from mosaic.rtc.aiortc_bridge import divert_datagrams
from mosaic.rtc.demux import MEDIA_MIN_SIZE

_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)/", re.MULTILINE)


@dataclass
class PacketTally:
    """RTP packets (and their bytes, SRTP tag included) received on one connection."""

    packets: int = 0
    octets: int = 0
    by_payload_type: dict[int, int] = field(default_factory=dict)
    first_at: float | None = None  # time.monotonic() of the first packet
    # Packets with the marker bit, by (payload type, SSRC): for video, the last packet of
    # each frame (RFC 7741 §4.1), so frames received per stream, i.e. per tile shown
    # (`bench.large` reads a tile's frame rate from it).
    frames: dict[tuple[int, int], int] = field(default_factory=dict)

    def count(self, size: int, payload_type: int) -> None:
        self.packets += 1
        self.octets += size
        by_type = self.by_payload_type
        by_type[payload_type] = by_type.get(payload_type, 0) + 1
        if self.first_at is None:
            self.first_at = time.monotonic()


def count_at_socket(connection: aioice.Connection, tally: PacketTally | None = None) -> PacketTally:
    """Count (and drop) every RTP datagram arriving on ``connection``; pass the rest on."""
    tally = tally if tally is not None else PacketTally()

    def take(data: bytes) -> bool:
        # RFC 7983 §7: 128..191 is RTP or RTCP; RFC 5761 §4 tells RTCP apart.
        if len(data) >= MEDIA_MIN_SIZE and 127 < data[0] < 192 and not is_rtcp(data):
            payload_type = data[1] & 0x7F
            tally.count(len(data), payload_type)
            if data[1] & 0x80:
                key = (payload_type, int.from_bytes(data[8:12]))
                tally.frames[key] = tally.frames.get(key, 0) + 1
            return True
        return False

    divert_datagrams(connection, take)
    return tally


def codec_names(sdp: str) -> dict[int, str]:
    """Payload type -> codec name ("opus", "VP8", "rtx"...) from an SDP's rtpmap lines."""
    return {int(pt): name for pt, name in _RTPMAP.findall(sdp)}


def by_kind(tally: PacketTally, names: dict[int, str]) -> dict[str, int]:
    """Packets by kind: "audio" (Opus), "video" (VP8), "repair" (RTX), "other"."""
    kinds = {"opus": "audio", "vp8": "video", "rtx": "repair"}
    result = {"audio": 0, "video": 0, "repair": 0, "other": 0}
    for payload_type, count in tally.by_payload_type.items():
        kind = kinds.get(names.get(payload_type, "").lower(), "other")
        result[kind] += count
    return result
