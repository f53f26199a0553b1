"""Trickled ICE candidates as browsers send them (RFC 8839 §5.1 grammar, RFC 8838 trickle).

Browsers differ in what they trickle, and every variant must reach the server as either a
candidate, an end-of-candidates, or a typed refusal, never an exception:

- Firefox ends each gathering with an ``icecandidate`` event whose candidate string is empty
  (RFC 8838 §9: end-of-candidates); Chromium sends ``null`` (the web client's ``null``) and
  adds ``generation``/``ufrag``/``network-id``/``network-cost`` extension pairs.
- Both hide host addresses behind mDNS names (``<uuid>.local``) unless told not to, gather
  TCP candidates (``tcptype active|passive|so``) and IPv6 ones.

aiortc's own reader (``candidate_from_sdp``) asserts and indexes its way through the line, so
an empty or short string raises ``AssertionError``/``IndexError`` (the request then failed with
an internal error). This module reads the line strictly and says what the server does with it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mosaic.media.wire.sdp import SdpError

__all__ = ["CandidateError", "RemoteCandidate", "parse_candidate"]

MAX_CANDIDATE_CHARS = 1024
_ICE_CHARS = frozenset(  # RFC 8839 §5.1 ice-char: ALPHA / DIGIT / "+" / "/"
    "+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_DIGITS = frozenset("0123456789")
_HOSTNAME_CHARS = frozenset("-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
TCP_TYPES = ("active", "passive", "so")


class CandidateError(SdpError):
    """A candidate line that is not RFC 8839 syntax: answered with a typed error (an
    `SdpError`, as a bad candidate inside a description is)."""


@dataclass(frozen=True)
class RemoteCandidate:
    """One remote candidate, as read from its ``candidate:`` attribute value."""

    foundation: str
    component: int
    protocol: str  # "udp" or "tcp", lower case
    priority: int
    address: str  # an IP literal, or a host name (mDNS ``….local``)
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcp_type: str | None = None
    ufrag: str | None = None

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            return False
        return True

    @property
    def usable(self) -> bool:
        """Whether the server's ICE agent can pair with it: UDP (the server gathers no TCP),
        component 1 (rtcp-mux: there is no RTCP component) and an IP address. mDNS names
        are not resolved: the browser's checks to our candidates reveal its address anyway
        (a peer-reflexive candidate, RFC 8445 §7.3.1.3), and resolving would make the server
        multicast on its own LAN and hold the request for a second per name."""
        return self.protocol == "udp" and self.component == 1 and self.is_ip


def _number(text: str, what: str, maximum: int) -> int:
    if not text or len(text) > 10 or not _DIGITS.issuperset(text):
        raise CandidateError(f"{what} is not a number")
    value = int(text)
    if value > maximum:
        raise CandidateError(f"{what} out of range")
    return value


def _address(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    labels = text.split(".")
    if len(text) > 253 or not _HOSTNAME_CHARS.issuperset(text) or not all(labels):
        raise CandidateError(f"{what} is neither an IP address nor a host name")
    return text


def parse_candidate(text: str | None) -> RemoteCandidate | None:
    """Read a candidate: trickled (``candidate:…``, with or without ``a=``) or the value of
    an ``a=candidate:`` line of a description. Returns None for end-of-candidates: ``None``,
    an empty string (Firefox) or ``a=end-of-candidates``. Raises `CandidateError` for
    anything else that is not a well-formed candidate."""
    if text is None:
        return None
    if len(text) > MAX_CANDIDATE_CHARS:
        raise CandidateError("candidate longer than 1024 characters")
    value = text.strip()
    value = value.removeprefix("a=")
    if value in ("", "end-of-candidates", "candidate:"):
        return None  # "candidate:" alone: what some stacks trickle as the end
    value = value.removeprefix("candidate:")
    bits = value.split()
    if len(bits) < 8 or bits[6] != "typ" or len(bits) % 2:
        raise CandidateError("a candidate needs 8 fields and then name/value pairs")
    foundation = bits[0]
    if len(foundation) > 32 or not _ICE_CHARS.issuperset(foundation):
        raise CandidateError("bad foundation")
    protocol = bits[2].lower()
    if protocol not in ("udp", "tcp"):
        raise CandidateError("transport is neither UDP nor TCP")
    if bits[7] not in CANDIDATE_TYPES:
        raise CandidateError("unknown candidate type")
    extensions: dict[str, str] = {}
    for name, extension in zip(bits[8::2], bits[9::2], strict=True):
        extensions.setdefault(name, extension)
    related = extensions.get("raddr")
    related_port = extensions.get("rport")
    tcp_type = extensions.get("tcptype")
    if tcp_type is not None and tcp_type not in TCP_TYPES:
        raise CandidateError("unknown tcptype")
    ufrag = extensions.get("ufrag")
    if ufrag is not None and (len(ufrag) > 256 or not _ICE_CHARS.issuperset(ufrag)):
        raise CandidateError("bad ufrag")
    return RemoteCandidate(
        foundation=foundation,
        component=_number(bits[1], "component", 256),
        protocol=protocol,
        priority=_number(bits[3], "priority", 0xFFFFFFFF),
        address=_address(bits[4], "address"),
        port=_number(bits[5], "port", 65535),
        type=bits[7],
        related_address=_address(related, "raddr") if related is not None else None,
        related_port=_number(related_port, "rport", 65535) if related_port is not None else None,
        tcp_type=tcp_type,
        ufrag=ufrag,
    )
