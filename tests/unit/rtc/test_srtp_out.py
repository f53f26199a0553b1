"""The send path's own libsrtp calls (`mosaic.rtc.srtp_out`) against pylibsrtp's: the same
bytes out for the same packets in, decryptable by the far end, from a reused template."""

from __future__ import annotations

import pylibsrtp
import pytest

from mosaic.media.wire.rtcp import ReceiverReport
from mosaic.media.wire.rtp import build_rtp
from mosaic.rtc.aiortc_bridge import srtp_context
from mosaic.rtc.srtp_out import BUFFER_SIZE, RTP_TRAILER, SrtpSender

# aiortc negotiates AEAD AES-256-GCM first, AES-CM with HMAC-SHA1 last: both ways here.
PROFILES = {
    pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM: bytes(range(44)),
    pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80: bytes(range(30)),
}
PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM


def _session(ssrc_type: int, profile: int = PROFILE) -> pylibsrtp.Session:
    return pylibsrtp.Session(
        pylibsrtp.Policy(key=PROFILES[profile], ssrc_type=ssrc_type, srtp_profile=profile)
    )


def _sender(profile: int) -> SrtpSender:
    session = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND, profile)
    return SrtpSender(session, srtp_context(session))


def _packet(sequence_number: int, size: int = 1100) -> bytes:
    return build_rtp(
        payload_type=96,
        sequence_number=sequence_number,
        timestamp=sequence_number * 3000,
        ssrc=0x1234,
        payload=bytes(range(256)) * (size // 256) + bytes(size % 256),
    )


@pytest.mark.parametrize("profile", list(PROFILES))
def test_same_bytes_as_pylibsrtp_from_a_reused_template(profile: int) -> None:
    """One template stamped again for each packet (as a down track does): every view sent
    is exactly what pylibsrtp's own protect gives, and decrypts to the packet."""
    ours = _sender(profile)
    theirs = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND, profile)
    receiver = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND, profile)
    template = bytearray(_packet(0))
    for number in range(1, 50):
        packet = _packet(number, size=200 + number * 20)
        template[:] = packet
        sent = ours.protect(template)
        assert isinstance(sent, memoryview)
        assert bytes(sent) == theirs.protect(packet)
        assert receiver.unprotect(bytes(sent)) == packet


def test_rtcp_as_pylibsrtp() -> None:
    ours = _sender(PROFILE)
    theirs = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    receiver = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    report = ReceiverReport(0x1234, []).serialize()
    for _ in range(3):
        sent = bytes(ours.protect_rtcp(report))
        assert sent == theirs.protect_rtcp(report)
        assert receiver.unprotect_rtcp(sent) == report


def test_too_long_and_failures_raise() -> None:
    ours = _sender(PROFILE)
    with pytest.raises(ValueError):
        ours.protect(bytes(BUFFER_SIZE - RTP_TRAILER + 1))
    with pytest.raises(pylibsrtp.Error):
        ours.protect(b"\x80" + bytes(5))  # shorter than an RTP header: libsrtp refuses
