"""The DTLS handshake of one connection, datagram by datagram, kept in memory until it ends.

A handshake that never finishes (ICE completed, DTLS "connecting") says nothing in any log:
aiortc's DTLS loop waits for a datagram that does not come, or for a retransmission timer.
Each side therefore notes the DTLS datagrams it sends and receives (and those its socket's
guard drops) while the handshake runs, with their time, size and the records they carry
(RFC 6347 §4.1, §4.2.2: a flight is several handshake messages, each maybe fragmented), and
prints them when it gives up: the client's watchdog, the server when it closes a transport
that never connected. Once connected the log is left behind: nothing is noted per packet.

Pure and bounded: at most `MAX_ENTRIES` datagrams, the oldest forgotten first (a handshake
has four flights; a stuck one retransmits a few times before anyone gives up).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

MAX_ENTRIES = 32
RECORD_HEADER_SIZE = 13  # content type, version, epoch, sequence number, length
HANDSHAKE_HEADER_SIZE = 12  # type, length, message sequence, fragment offset and length

CONTENT_TYPES = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
# RFC 5246 §7.4, RFC 6347 §4.3.2 (HelloVerifyRequest).
HANDSHAKE_TYPES = {
    0: "HelloRequest",
    1: "ClientHello",
    2: "ServerHello",
    3: "HelloVerifyRequest",
    4: "NewSessionTicket",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}


def records(data: bytes) -> list[str]:
    """Name what a DTLS datagram carries, record by record; never raises.

    Handshake messages of epoch 0 are named (with ``[offset+length/total]`` when fragmented);
    anything encrypted (epoch 1 and later: the Finished message, alerts after the change of
    cipher) is named by its content type and epoch only. A record cut short ends the list
    with ``truncated``."""
    names: list[str] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < RECORD_HEADER_SIZE:
            names.append(f"truncated({len(data) - offset}B)")
            break
        content_type = data[offset]
        epoch = int.from_bytes(data[offset + 3 : offset + 5], "big")
        length = int.from_bytes(data[offset + 11 : offset + 13], "big")
        body = data[offset + RECORD_HEADER_SIZE : offset + RECORD_HEADER_SIZE + length]
        offset += RECORD_HEADER_SIZE + length
        if len(body) < length:
            names.append(f"truncated({CONTENT_TYPES.get(content_type, content_type)})")
            break
        kind = CONTENT_TYPES.get(content_type, f"type{content_type}")
        if epoch:
            names.append(f"{kind}(epoch {epoch})")
        elif content_type == 22 and len(body) >= HANDSHAKE_HEADER_SIZE:
            names.append(_handshake(body))
        elif content_type == 21 and len(body) >= 2:
            names.append(f"Alert({body[0]},{body[1]})")
        else:
            names.append(kind)
    return names


def _handshake(body: bytes) -> str:
    name = HANDSHAKE_TYPES.get(body[0], f"handshake{body[0]}")
    total = int.from_bytes(body[1:4], "big")
    sequence = int.from_bytes(body[4:6], "big")
    fragment_offset = int.from_bytes(body[6:9], "big")
    fragment_length = int.from_bytes(body[9:12], "big")
    if fragment_offset or fragment_length != total:
        return f"{name}#{sequence}[{fragment_offset}+{fragment_length}/{total}]"
    return f"{name}#{sequence}"


def summary(data: bytes) -> str:
    """One line for a datagram: its records, fragments of one message run together."""
    collapsed: list[str] = []
    for name in records(data):
        base = name.split("[", 1)[0]
        if collapsed and "[" in name and collapsed[-1].split("[", 1)[0].rstrip("*") == base:
            collapsed[-1] = base + "*"  # more fragments of the same message
        else:
            collapsed.append(name)
    return ", ".join(collapsed)


@dataclass
class HandshakeLog:
    """The DTLS datagrams of one connection's handshake: ``in`` (handed to DTLS), ``out``
    (sent), ``drop`` (refused by the socket's guard, see `aiortc_bridge`)."""

    label: str = ""
    started: float = field(default_factory=time.monotonic)
    entries: deque[tuple[float, str, int, str]] = field(
        default_factory=lambda: deque(maxlen=MAX_ENTRIES)
    )
    noted = 0  # datagrams noted in all, the forgotten ones included
    events: list[tuple[float, str]] = field(default_factory=list)

    def note(self, direction: str, data: bytes) -> None:
        self.noted += 1
        self.entries.append((time.monotonic() - self.started, direction, len(data), summary(data)))

    def heard_within(self, seconds: float, now: float | None = None) -> bool:
        """Whether a DTLS datagram reached us in the last ``seconds``: a handshake that is
        still moving (slowly, on a loaded machine), not a stuck one."""
        now = time.monotonic() if now is None else now
        return any(
            direction == "in" and now - (self.started + t) <= seconds
            for t, direction, _, _ in reversed(self.entries)
        )

    def event(self, what: str) -> None:
        """A state change worth seeing among the datagrams (ICE completed, DTLS started)."""
        if len(self.events) < MAX_ENTRIES:
            self.events.append((time.monotonic() - self.started, what))

    def dump(self) -> str:
        """The log as text, oldest first, times in seconds since the log began."""
        lines = [(t, f"{t:7.3f} {what}") for t, what in self.events]
        lines += [
            (t, f"{t:7.3f} {direction:<4} {size:5d}B {what}")
            for t, direction, size, what in self.entries
        ]
        lines.sort(key=lambda line: line[0])
        forgotten = self.noted - len(self.entries)
        head = f"DTLS handshake {self.label} ({self.noted} datagrams"
        head += f", the first {forgotten} forgotten)" if forgotten else ")"
        return "\n".join([head, *(text for _, text in lines)])
