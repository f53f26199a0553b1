"""The receive side's SRTP unprotect (`mosaic.rtc.srtp_in`), compiled and pure, against
pylibsrtp's own `Session.unprotect`: the same packet out for every datagram in, and the
same refusals (forged, replayed, too long), on both profiles aiortc negotiates."""

from __future__ import annotations

from collections.abc import Callable

import pylibsrtp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic.media.wire.rtp import build_rtp
from mosaic.rtc import fastpath
from mosaic.rtc.aiortc_bridge import srtp_context
from mosaic.rtc.srtp_in import BUFFER_SIZE, pure_unprotector, unprotector

PROFILES = {
    pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM: bytes(range(44)),
    pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80: bytes(range(30)),
}
COMPILED = fastpath._fastpath is not None
PATHS = [
    pytest.param(True, marks=pytest.mark.skipif(not COMPILED, reason="_fastpath not built")),
    False,
]


@pytest.fixture(autouse=True)
def _choose_the_path_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests choose the path themselves, also in a run under MOSAIC_PURE_PYTHON=1."""
    monkeypatch.delenv(fastpath.PURE_ENV, raising=False)


def _session(profile: int, ssrc_type: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(
        pylibsrtp.Policy(key=PROFILES[profile], ssrc_type=ssrc_type, srtp_profile=profile)
    )


def _ours(profile: int, compiled: bool) -> Callable[[bytes], bytes]:
    session = _session(profile, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    made = (unprotector if compiled else pure_unprotector)(session, srtp_context(session))
    assert (made.__class__.__name__ == "builtin_function_or_method") is compiled
    return made


def _packet(sequence_number: int, payload: bytes, marker: bool = False) -> bytes:
    return build_rtp(
        payload_type=96,
        sequence_number=sequence_number,
        timestamp=sequence_number * 3000,
        ssrc=0x1234,
        payload=payload,
        marker=marker,
        extensions=[(4, b"1"), (10, b"f")],
    )


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("compiled", PATHS)
def test_same_packets_as_pylibsrtp(profile: int, compiled: bool) -> None:
    """A stream of datagrams: each unprotected to exactly what pylibsrtp gives (new bytes,
    kept by the caller: the next packet does not change the one before)."""
    sender = _session(profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    ours = _ours(profile, compiled)
    theirs = _session(profile, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    kept = []
    for number in range(60):
        packet = _packet(number, bytes([number]) * (20 + number * 17))
        datagram = sender.protect(packet)
        got = ours(datagram)
        assert isinstance(got, bytes)
        assert got == theirs.unprotect(datagram) == packet
        kept.append((got, packet))
    assert all(got == packet for got, packet in kept)


@pytest.mark.parametrize("compiled", PATHS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=1200), min_size=1, max_size=8),
    start=st.integers(0, 0xFFFF),
    tamper=st.integers(0, 2000),
)
def test_any_datagram_as_pylibsrtp(
    compiled: bool, payloads: list[bytes], start: int, tamper: int
) -> None:
    """Any payloads, sequence numbers that wrap, and a byte flipped anywhere in one more
    datagram: the packet or the refusal pylibsrtp gives, whichever it is."""
    profile = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    sender = _session(profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    ours = _ours(profile, compiled)
    theirs = _session(profile, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    datagrams = [
        sender.protect(_packet((start + i) & 0xFFFF, payload)) for i, payload in enumerate(payloads)
    ]
    flipped = bytearray(sender.protect(_packet((start + len(payloads)) & 0xFFFF, b"x" * 50)))
    flipped[tamper % len(flipped)] ^= 0x01
    for datagram in [*datagrams, bytes(flipped)]:
        try:
            expected: bytes | type[Exception] = theirs.unprotect(datagram)
        except pylibsrtp.Error:
            expected = pylibsrtp.Error
        if expected is pylibsrtp.Error:
            with pytest.raises(pylibsrtp.Error):
                ours(datagram)
        else:
            assert ours(datagram) == expected


@pytest.mark.parametrize("compiled", PATHS)
def test_refusals_raise_as_pylibsrtps_do(compiled: bool) -> None:
    """A replayed datagram, a forged one and a short one raise pylibsrtp.Error (the bridge
    drops them as unauthenticated); one longer than the buffer raises ValueError."""
    profile = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    sender = _session(profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    ours = _ours(profile, compiled)
    datagram = sender.protect(_packet(7, b"payload" * 10))
    assert ours(datagram) == _packet(7, b"payload" * 10)
    with pytest.raises(pylibsrtp.Error):
        ours(datagram)  # replayed
    forged = bytearray(sender.protect(_packet(8, b"payload" * 10)))
    forged[-1] ^= 0xFF
    with pytest.raises(pylibsrtp.Error):
        ours(bytes(forged))
    with pytest.raises(pylibsrtp.Error):
        ours(b"\x80" + bytes(5))
    with pytest.raises(ValueError):
        ours(b"\x80" + bytes(BUFFER_SIZE))
    # Still working after each refusal.
    assert ours(sender.protect(_packet(9, b"ok"))) == _packet(9, b"ok")


def test_the_pure_path_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """MOSAIC_PURE_PYTHON=1 (or no extension): the closure on a buffer of its own."""
    profile = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    session = _session(profile, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    made = unprotector(session, srtp_context(session))
    assert (fastpath.new_unprotector(session, srtp_context(session)) is not None) is COMPILED
    assert (made.__class__.__name__ == "builtin_function_or_method") is COMPILED
    monkeypatch.setenv(fastpath.PURE_ENV, "1")
    assert fastpath.new_unprotector(session, srtp_context(session)) is None
    assert unprotector(session, srtp_context(session)).__class__.__name__ == "function"
