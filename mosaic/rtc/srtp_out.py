"""SRTP on the way out, one copy per packet: libsrtp called on a buffer made once.

pylibsrtp's `Session.protect` takes ``bytes`` only (so every forwarded packet was first copied
out of its template), allocates an ``int *`` with cffi on every call, copies the packet into
its buffer and copies the result out again as ``bytes``: three copies and an allocation per
outgoing packet, the largest single item of the server's Python time (docs/performance.md).
Here each connection's sender owns a buffer and a length cell made once; a packet (any
bytes-like: the stamped template itself) is copied into the buffer, encrypted in place by
libsrtp, and handed on as a view of that buffer.

The view is valid until the next `protect` of the same sender: the caller sends it at once
(``socket.sendto`` copies it into the kernel; asyncio's transport copies it to ``bytes``
when it has to queue it). Anything that keeps a datagram for later (a TURN relay's
asynchronous send) must copy it first.

This reaches below pylibsrtp's API (its cffi ``_binding``, and a session's libsrtp context,
read by `mosaic.rtc.aiortc_bridge.srtp_context` where every internal is), pinned with
pylibsrtp==1.0.0 in pyproject.toml; `tests/unit/rtc/test_srtp_out.py` checks that what
it produces is exactly what pylibsrtp's own `protect` produces, and that pylibsrtp decrypts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pylibsrtp
from pylibsrtp._binding import ffi, lib

# libsrtp appends at most 16 bytes of tag (and 4 of index for SRTCP, plus MKI); a datagram
# bigger than an Ethernet MTU never comes through an SFU.
BUFFER_SIZE = 1500
RTP_TRAILER = 16
RTCP_TRAILER = 20

Protect = Callable[[Any], memoryview]


def _protector(context: Any, func: Any, trailer: int) -> Protect:
    cdata = ffi.new("char[]", BUFFER_SIZE)
    buffer = ffi.buffer(cdata)
    view = memoryview(buffer)
    length = ffi.new("int *")
    limit = BUFFER_SIZE - trailer
    ok = lib.srtp_err_status_ok

    def protect(packet: Any) -> memoryview:
        size = len(packet)
        if size > limit:
            raise ValueError("packet is too long")
        buffer[0:size] = packet
        length[0] = size
        status = func(context, cdata, length)
        if status != ok:
            raise pylibsrtp.Error(f"libsrtp status {status}")
        return view[: length[0]]

    # The closure holds `cdata`, `buffer` and `length`; the session that owns the libsrtp
    # context is kept by the sender below.
    return protect


class SrtpSender:
    """The outgoing half of one DTLS-SRTP session: `protect` for RTP, `protect_rtcp` for
    RTCP, each returning a view valid until its next call (see the module's text)."""

    __slots__ = ("protect", "protect_rtcp", "session")

    def __init__(self, session: pylibsrtp.Session, context: Any) -> None:
        """``context``: ``session``'s libsrtp context (`aiortc_bridge.srtp_context`)."""
        self.session = session  # owns the libsrtp context the closures use
        self.protect: Protect = _protector(context, lib.srtp_protect, RTP_TRAILER)
        self.protect_rtcp: Protect = _protector(context, lib.srtp_protect_rtcp, RTCP_TRAILER)
