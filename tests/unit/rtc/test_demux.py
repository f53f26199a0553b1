"""The guard in front of every media socket: any bytes from anyone, nothing raises, nothing
passes that is not STUN, DTLS, RTP or RTCP of that connection, and all the rest is counted."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import aioice
import aioice.stun
import pylibsrtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.rtc import demux
from mosaic.rtc.aiortc_bridge import _GuardedStunProtocol
from mosaic.rtc.demux import DroppedDatagrams, Kind, datagram_kind

STRANGER = ("127.0.0.1", 40000)
PEER = ("127.0.0.1", 40001)


def test_each_first_byte_range_is_sorted_as_rfc_7983_says() -> None:
    assert datagram_kind(b"") is Kind.MALFORMED
    for first in range(256):
        for size in (1, 11, 12, 13, 19, 20, 100):
            kind = datagram_kind(bytes([first]) + bytes(size - 1))
            if 127 < first < 192 and size >= 12:
                assert kind is Kind.RTP
            elif 19 < first < 64 and size >= 13:
                assert kind is Kind.DTLS
            else:
                assert kind is Kind.MALFORMED, (first, size)
    assert datagram_kind(b"\x80\xc8" + bytes(10)) is Kind.RTCP
    assert datagram_kind(b"\x80\xdf" + bytes(10)) is Kind.RTCP
    assert datagram_kind(b"\x80\xe0" + bytes(10)) is Kind.RTP


def test_stun_needs_its_cookie_and_a_length_that_matches() -> None:
    message = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST
    )
    message.attributes["PRIORITY"] = 1
    data = bytes(message)
    assert datagram_kind(data) is Kind.STUN
    assert datagram_kind(data[:-4]) is Kind.MALFORMED
    assert datagram_kind(data + bytes(4)) is Kind.MALFORMED
    assert datagram_kind(data[:4] + b"\x00\x00\x00\x00" + data[8:]) is Kind.MALFORMED


@given(st.binary(max_size=1500))
def test_sorting_never_raises(data: bytes) -> None:
    assert datagram_kind(data) in Kind


def test_drops_are_summarised_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    counter = DroppedDatagrams(summary_interval_s=3600)
    with caplog.at_level("INFO", logger="mosaic.rtc.demux"):
        for _ in range(10_000):
            counter.add("malformed")
    assert counter.counts["malformed"] == 10_000
    assert caplog.records == []


class _Socket(asyncio.DatagramTransport):
    """Where aioice's error answers go; records them."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, object]] = []

    def sendto(self, data: bytes, addr: object = None) -> None:  # type: ignore[override]
        self.sent.append((bytes(data), addr))


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[aioice.Connection, _GuardedStunProtocol, list[bytes]]]:
    """A real aioice connection behind the guard, with SRTP keys as after a DTLS handshake."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    connection = aioice.Connection(ice_controlling=False)
    protocol = _GuardedStunProtocol(connection)
    protocol.connection_made(_Socket())
    protocol.local_candidate = aioice.Candidate(
        foundation="1", component=1, transport="udp", priority=1, host="127.0.0.1",
        port=5000, type="host",
    )  # fmt: skip
    delivered: list[bytes] = []
    policy = pylibsrtp.Policy(key=os.urandom(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    protocol.open_media(pylibsrtp.Session(policy), delivered.append, delivered.append)
    protocol.peers.add(PEER)
    yield connection, protocol, delivered
    loop.close()
    asyncio.set_event_loop(None)


def _state(connection: aioice.Connection) -> tuple[object, ...]:
    return (
        dict(connection._nominated),
        list(connection._check_list),
        list(connection._remote_candidates),
        connection.ice_controlling,
        connection._queue.qsize(),
    )


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=1500),
        st.tuples(st.integers(0, 255), st.binary(max_size=60)).map(lambda t: bytes([t[0]]) + t[1]),
        st.binary(min_size=16, max_size=80).map(
            lambda b: b[:2] + len(b[4:]).to_bytes(2, "big") + demux.STUN_MAGIC_COOKIE + b[4:]
        ),
    )
)
def test_any_datagram_from_a_stranger_is_dropped_counted_and_changes_nothing(
    guarded: tuple[aioice.Connection, _GuardedStunProtocol, list[bytes]], data: bytes
) -> None:
    connection, protocol, delivered = guarded
    before, dropped = _state(connection), demux.dropped.total
    delivered.clear()
    protocol.datagram_received(data, STRANGER)
    assert demux.dropped.total == dropped + 1
    assert delivered == []
    assert _state(connection) == before
    assert protocol.peers == {PEER}


@settings(max_examples=200, deadline=None)
@given(st.integers(20, 63), st.binary(min_size=12, max_size=200))
def test_dtls_passes_only_from_the_authenticated_peer(
    guarded: tuple[aioice.Connection, _GuardedStunProtocol, list[bytes]],
    first: int,
    rest: bytes,
) -> None:
    connection, protocol, _ = guarded
    record = bytes([first]) + rest
    dropped = demux.dropped.total
    protocol.datagram_received(record, STRANGER)
    assert connection._queue.qsize() == 0 and demux.dropped.total == dropped + 1
    protocol.datagram_received(record, PEER)
    assert connection._queue.get_nowait() == (record, 1)
    assert demux.dropped.total == dropped + 1


def test_a_stun_request_with_wrong_credentials_gets_an_error_and_no_pair(
    guarded: tuple[aioice.Connection, _GuardedStunProtocol, list[bytes]],
) -> None:
    connection, protocol, _ = guarded
    request = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST
    )
    request.attributes.update(
        {
            "USERNAME": f"{connection.local_username}:someone",
            "PRIORITY": 1,
            "USE-CANDIDATE": None,
            "ICE-CONTROLLING": 1,
        }
    )
    request.add_message_integrity(b"not the password")
    before = _state(connection)
    socket = protocol.transport
    assert isinstance(socket, _Socket)
    socket.sent.clear()
    protocol.datagram_received(bytes(request), STRANGER)
    answer = aioice.stun.parse_message(socket.sent[-1][0])
    assert answer.message_class is aioice.stun.Class.ERROR
    assert answer.attributes["ERROR-CODE"][0] == 401
    assert _state(connection) == before and STRANGER not in protocol.peers


async def test_srtp_of_this_connection_passes_once_and_its_replay_is_dropped() -> None:
    key = os.urandom(30)
    sender = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    protocol = _GuardedStunProtocol(aioice.Connection(ice_controlling=False))
    rtp: list[bytes] = []
    rtcp: list[bytes] = []
    inbound = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    protocol.open_media(pylibsrtp.Session(inbound), rtp.append, rtcp.append)
    packet = b"\x80\x60\x00\x01" + bytes(4) + b"\x00\x00\x00\x07" + b"payload"
    report = b"\x80\xc9\x00\x01\x00\x00\x00\x07"
    before = demux.dropped.counts["unauthenticated"]
    protected = sender.protect(packet)
    protocol.datagram_received(protected, PEER)
    protocol.datagram_received(sender.protect_rtcp(report), PEER)
    protocol.datagram_received(protected, STRANGER)  # a replay, from anywhere
    assert rtp == [packet] and rtcp == [report]
    assert demux.dropped.counts["unauthenticated"] == before + 1


async def test_media_before_the_keys_and_after_close_is_dropped() -> None:
    protocol = _GuardedStunProtocol(aioice.Connection(ice_controlling=False))
    delivered: list[bytes] = []
    packet = b"\x80\x60" + bytes(30)
    before = demux.dropped.counts["unexpected"]
    protocol.datagram_received(packet, PEER)
    policy = pylibsrtp.Policy(key=os.urandom(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    protocol.open_media(pylibsrtp.Session(policy), delivered.append, delivered.append)
    protocol.close_media()
    protocol.datagram_received(packet, PEER)
    assert demux.dropped.counts["unexpected"] == before + 2 and delivered == []
