"""What may arrive on a media port, and the count of what was thrown away.

Every media socket of the server is reachable by anyone on the network, and one datagram that
reached a parser unchecked once ended a participant's media for good (an empty one made
aiortc's DTLS loop index ``data[0]`` and die, while ICE kept answering). So each datagram is
sorted by its first byte (RFC 7983 §7) and its length before anything parses it, and whatever
is not STUN, DTLS, RTP or RTCP of that very connection is dropped and counted here, never
logged one by one: an attacker must not be able to fill the log.

The reasons, for the ``mosaic_media_datagrams_dropped_total{reason}`` metric:

- ``malformed``: no known protocol by first byte and size (an empty datagram among them),
  or a STUN message that does not parse;
- ``unauthenticated``: SRTP or SRTCP that fails its authentication or replay check (forged,
  another connection's, replayed, unknown SSRC) and STUN requests without this connection's
  credentials (still answered with an error, as RFC 8489 §9.1.3 asks, and nothing else);
- ``wrong_peer``: DTLS from an address that never passed an authenticated ICE check;
- ``unexpected``: media before the DTLS handshake gave its keys, STUN responses to no request
  of ours, STUN indications.
"""

from __future__ import annotations

import logging
import time
from enum import IntEnum

from mosaic.media.wire.rtp import is_rtcp

log = logging.getLogger(__name__)

# RFC 5389 §6: every STUN message since carries this value at bytes 4-7.
STUN_MAGIC_COOKIE = b"\x21\x12\xa4\x42"
STUN_HEADER_SIZE = 20
# RFC 6347 §4.1: content type, version, epoch, sequence number, length.
DTLS_RECORD_HEADER_SIZE = 13
# RFC 3550 §5.1: the RTP fixed header; an RTCP packet with its sender SSRC is 8 bytes, and
# SRTP/SRTCP add an authentication tag, so nothing shorter than this can be media.
MEDIA_MIN_SIZE = 12
SUMMARY_INTERVAL_S = 60.0


class Kind(IntEnum):
    """What a datagram is, by RFC 7983 §7 (first byte) and the minimum size of each."""

    MALFORMED = 0
    STUN = 1  # first byte 0-3
    DTLS = 2  # 20-63
    RTP = 3  # 128-191, second byte not an RTCP packet type
    RTCP = 4  # 128-191, second byte 192-223 (RFC 5761 §4)


def datagram_kind(data: bytes) -> Kind:
    """Sort a datagram by its first byte and size; never raises, whatever ``data`` holds.

    STUN must also carry the magic cookie and a length field that matches the datagram
    (RFC 5389 §6), which aioice's parser does not check. The receive path makes the media
    test itself (first byte and size, then `is_rtcp`); this is the whole rule, in one place."""
    size = len(data)
    if not size:
        return Kind.MALFORMED
    first = data[0]
    if 127 < first < 192:
        if size < MEDIA_MIN_SIZE:
            return Kind.MALFORMED
        return Kind.RTCP if is_rtcp(data) else Kind.RTP
    if first < 4:
        if (
            size >= STUN_HEADER_SIZE
            and data[4:8] == STUN_MAGIC_COOKIE
            and (data[2] << 8 | data[3]) == size - STUN_HEADER_SIZE
            and not size & 3
        ):
            return Kind.STUN
        return Kind.MALFORMED
    if 19 < first < 64 and size >= DTLS_RECORD_HEADER_SIZE:
        return Kind.DTLS
    return Kind.MALFORMED


class DroppedDatagrams:
    """Counts of dropped datagrams by reason, and at most one summary line a minute."""

    REASONS = ("malformed", "unauthenticated", "wrong_peer", "unexpected")

    def __init__(self, summary_interval_s: float = SUMMARY_INTERVAL_S) -> None:
        self.counts: dict[str, int] = dict.fromkeys(self.REASONS, 0)
        self._interval = summary_interval_s
        self._summary_at = time.monotonic()
        self._summarised = 0

    def add(self, reason: str) -> None:
        self.counts[reason] += 1
        now = time.monotonic()
        if now - self._summary_at >= self._interval:
            self._summary(now)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _summary(self, now: float) -> None:
        total = self.total
        log.info(
            "dropped %d media datagrams in the last %.0f s that were not STUN, DTLS, RTP or "
            "RTCP of their connection (totals: %s)",
            total - self._summarised,
            now - self._summary_at,
            ", ".join(f"{reason} {count}" for reason, count in self.counts.items()),
        )
        self._summary_at = now
        self._summarised = total


# One process, one count: read by /metrics (mosaic.metrics).
dropped = DroppedDatagrams()

__all__ = ["DroppedDatagrams", "Kind", "datagram_kind", "dropped"]
