"""The DTLS handshake log names what each datagram carries, stays bounded, never raises."""

from __future__ import annotations

import contextlib
import logging

import pytest
from aiortc import RTCCertificate
from aiortc.rtcdtlstransport import SRTP_PROFILES
from hypothesis import given
from hypothesis import strategies as st
from OpenSSL import SSL

from mosaic.rtc import aiortc_bridge
from mosaic.rtc.handshake_log import MAX_ENTRIES, HandshakeLog, records, summary


def _endpoint(client: bool) -> SSL.Connection:
    """An OpenSSL DTLS endpoint configured as aiortc configures its own."""
    certificate = RTCCertificate.generateCertificate()
    connection = SSL.Connection(certificate._create_ssl_context(SRTP_PROFILES))
    if client:
        connection.set_connect_state()
    else:
        connection.set_accept_state()
    return connection


def _flight(connection: SSL.Connection, received: bytes | None = None) -> bytes:
    if received is not None:
        connection.bio_write(received)
    with contextlib.suppress(SSL.WantReadError):
        connection.do_handshake()
    return connection.bio_read(65536)


def test_the_first_two_flights_are_named_message_by_message() -> None:
    client, server = _endpoint(True), _endpoint(False)
    hello = _flight(client)
    assert summary(hello) == "ClientHello#0"
    reply = _flight(server, hello)
    named = summary(reply)
    for message in ("ServerHello#0", "Certificate#1", "ServerKeyExchange#2", "ServerHelloDone#4"):
        assert message in named
    # The client's answer ends encrypted: its Finished is only a content type and an epoch.
    assert summary(_flight(client, reply)).endswith("ChangeCipherSpec, Handshake(epoch 1)")


def test_a_datagram_cut_short_says_so() -> None:
    hello = _flight(_endpoint(True))
    assert records(hello[:40]) == ["truncated(Handshake)"]
    assert records(hello[:5]) == ["truncated(5B)"]


@given(st.binary(max_size=300))
def test_whatever_arrives_is_summarised_without_raising(data: bytes) -> None:
    assert isinstance(summary(data), str)


def test_the_log_keeps_the_last_datagrams_only_and_says_how_many_it_forgot() -> None:
    log = HandshakeLog(label="test")
    hello = _flight(_endpoint(True))
    log.event("DTLS starts as client")
    for _ in range(MAX_ENTRIES + 5):
        log.note("out", hello)
    text = log.dump()
    assert len(log.entries) == MAX_ENTRIES
    assert "the first 5 forgotten" in text
    assert text.count("ClientHello#0") == MAX_ENTRIES
    assert "DTLS starts as client" in text


def test_the_server_prints_at_most_one_handshake_log_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anyone can open connections and drop them before DTLS connects: each would print a
    log of many lines. One a minute is printed, the others counted and said next time."""
    dumps = aiortc_bridge._HandshakeDumps()
    handshake = HandshakeLog(label="server")
    handshake.note("in", _flight(_endpoint(True)))
    with caplog.at_level(logging.WARNING, logger="mosaic.rtc.aiortc_bridge"):
        for _ in range(50):
            dumps.log(handshake)
        assert caplog.text.count("closed before DTLS connected") == 1
        assert dumps.last is not None
        dumps.last -= dumps.INTERVAL_S
        dumps.log(handshake)
    assert caplog.text.count("closed before DTLS connected") == 2
    assert "(49 more since the last one, not printed)" in caplog.text
