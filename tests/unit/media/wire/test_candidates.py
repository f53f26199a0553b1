"""Trickled ICE candidates as Chromium and Firefox send them, read strictly."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mosaic.media.wire.candidates import CandidateError, parse_candidate

# Lines as the browsers trickle them (Chromium 156 and Firefox ESR 140 write these forms).
CHROMIUM_HOST = (
    "candidate:3885250869 1 udp 2122260223 192.168.1.23 51234 typ host generation 0 "
    "ufrag Zx9a network-id 1 network-cost 10"
)
CHROMIUM_MDNS = (
    "candidate:2349184920 1 udp 2122260223 1f4712db-ea17-4bcf-a596-105139dfd8bf.local 54403 "
    "typ host generation 0 ufrag Zx9a network-id 1"
)
CHROMIUM_TCP = (
    "candidate:1450624212 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active "
    "generation 0 ufrag Zx9a network-id 1"
)
CHROMIUM_IPV6 = (
    "candidate:2999745851 1 udp 2122197247 2001:db8::1 58923 typ host generation 0 "
    "ufrag Zx9a network-id 2"
)
CHROMIUM_SRFLX = (
    "candidate:842163049 1 udp 1686052607 203.0.113.7 47498 typ srflx raddr 192.168.1.23 "
    "rport 51234 generation 0 ufrag Zx9a network-id 1"
)
FIREFOX_HOST = "candidate:0 1 UDP 2122252543 10.77.0.1 36405 typ host"
FIREFOX_TCP = "candidate:1 1 TCP 2105524479 10.77.0.1 9 typ host tcptype active"
FIREFOX_IPV6 = "candidate:2 1 UDP 2122187007 fd00::1 52345 typ host"
FIREFOX_SRFLX = "candidate:3 1 UDP 1686052863 203.0.113.7 36405 typ srflx raddr 0.0.0.0 rport 0"


@pytest.mark.parametrize("end", [None, "", "  ", "a=end-of-candidates", "candidate:"])
def test_end_of_candidates_in_every_browser_spelling(end: str | None) -> None:
    # Firefox trickles an empty candidate string; the web client sends null for Chromium's.
    assert parse_candidate(end) is None


def test_udp_host_candidates_of_both_browsers_are_usable() -> None:
    chromium = parse_candidate(CHROMIUM_HOST)
    firefox = parse_candidate("a=" + FIREFOX_HOST)
    assert chromium is not None and firefox is not None
    assert (chromium.address, chromium.port, chromium.ufrag) == ("192.168.1.23", 51234, "Zx9a")
    assert (firefox.protocol, firefox.address, firefox.type) == ("udp", "10.77.0.1", "host")
    assert chromium.usable and firefox.usable


@pytest.mark.parametrize("line", [CHROMIUM_IPV6, FIREFOX_IPV6, CHROMIUM_SRFLX, FIREFOX_SRFLX])
def test_ipv6_and_server_reflexive_candidates_are_usable(line: str) -> None:
    candidate = parse_candidate(line)
    assert candidate is not None and candidate.usable


@pytest.mark.parametrize("line", [CHROMIUM_TCP, FIREFOX_TCP, CHROMIUM_MDNS])
def test_tcp_and_mdns_candidates_are_read_but_not_paired(line: str) -> None:
    candidate = parse_candidate(line)
    assert candidate is not None and not candidate.usable


@pytest.mark.parametrize(
    "line",
    [
        "candidate:0 1 UDP",  # aiortc's reader: AssertionError
        "candidate:0 1 UDP 2122252543 10.77.0.1 port typ host",  # aiortc's: ValueError
        "candidate:0 1 UDP 2122252543 10.77.0.1 36405 type host",
        "candidate:0 1 SCTP 2122252543 10.77.0.1 36405 typ host",
        "candidate:0 1 UDP 2122252543 10.77.0.1 99999 typ host",
        "candidate:0 1 UDP 2122252543 10.77.0.1 36405 typ host raddr",
        "candidate:0 1 UDP 99999999999 10.77.0.1 36405 typ host",
        "candidate:0 1 UDP 2122252543 10.77.0.1 36405 typ magic",
        "candidate:0 1 UDP 2122252543 bad_host! 36405 typ host",
        "candidate:0 1 UDP 2122252543 10.77.0.1 36405 typ host tcptype sideways",
        "candidate:0 1 UDP 2122252543 10.77.0.1 36405 typ host rport x",
        "candidate:f\u00f6o 1 UDP 2122252543 10.77.0.1 36405 typ host",
        "candidate:0 \u0661 UDP 2122252543 10.77.0.1 36405 typ host",
        "ice-ufrag:abcd",
        "x" * 1025,
    ],
)
def test_malformed_candidates_raise_a_value_error(line: str) -> None:
    with pytest.raises(CandidateError):
        parse_candidate(line)


TOKENS = st.sampled_from(
    ["candidate:0", "1", "2", "UDP", "tcp", "2122252543", "10.77.0.1", "fd00::1", "x.local", "9",
     "typ", "host", "srflx", "raddr", "rport", "tcptype", "active", "ufrag", "generation", "",
     "99999999999", "-1", "\u0661", "\x00"]
)  # fmt: skip


@given(st.one_of(st.text(max_size=200), st.lists(TOKENS, max_size=14).map(" ".join)))
def test_any_text_gives_a_candidate_an_end_or_a_candidate_error(text: str) -> None:
    with contextlib.suppress(CandidateError):
        parse_candidate(text)
