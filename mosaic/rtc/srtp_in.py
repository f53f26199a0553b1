"""SRTP on the way in: libsrtp called on a buffer made once, compiled where built.

pylibsrtp's `Session.unprotect` checks the type, makes a cffi ``int *`` anew, copies the
datagram into its buffer, calls libsrtp, checks the status in another Python function and
copies the packet out as ``bytes``: a few thousand instructions of glue around the
decryption, once per packet *received* (docs/performance.md, issue 15). `unprotector` gives
one callable per session that does the same with nothing made per call: where the
extension is built (`mosaic.rtc.fastpath`), `_fastpath.Unprotector.unprotect`, one C call;
otherwise (or with ``MOSAIC_PURE_PYTHON=1``) a closure on a buffer and a length cell made
once. Both return new ``bytes`` (the up stream's packet cache keeps them), raise
`pylibsrtp.Error` where libsrtp refuses a packet (forged, replayed, another peer's) and
`ValueError` for one longer than the buffer, as pylibsrtp does.

Like `mosaic.rtc.srtp_out`, this reaches below pylibsrtp's API (its cffi ``_binding``, and a
session's libsrtp context from `mosaic.rtc.aiortc_bridge.srtp_context`), pinned with
pylibsrtp==1.0.0; `tests/unit/rtc/test_srtp_in.py` checks both ways against pylibsrtp's
own `unprotect`, byte for byte and error for error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pylibsrtp
from pylibsrtp._binding import ffi, lib

from mosaic.rtc import fastpath

# pylibsrtp's own buffer size: a datagram bigger than an Ethernet MTU never comes through.
BUFFER_SIZE = 1500

Unprotect = Callable[[bytes], bytes]


def pure_unprotector(session: pylibsrtp.Session, context: Any) -> Unprotect:
    """``session``'s RTP unprotect in Python, on a buffer of its own (``context``: the
    session's libsrtp context, `aiortc_bridge.srtp_context`)."""
    cdata = ffi.new("char[]", BUFFER_SIZE)
    buffer = ffi.buffer(cdata)
    length = ffi.new("int *")
    func = lib.srtp_unprotect
    ok = lib.srtp_err_status_ok

    def unprotect(packet: bytes) -> bytes:
        size = len(packet)
        if size > BUFFER_SIZE:
            raise ValueError("packet is too long")
        buffer[0:size] = packet
        length[0] = size
        status = func(context, cdata, length)
        if status != ok:
            raise pylibsrtp.Error(f"libsrtp status {status}")
        return buffer[0 : length[0]]

    unprotect.session = session  # type: ignore[attr-defined]  # owns the libsrtp context
    return unprotect


def unprotector(session: pylibsrtp.Session, context: Any) -> Unprotect:
    """``session``'s RTP unprotect: the compiled one where available (`fastpath.available`
    and pylibsrtp's binding declares the signature it calls), else `pure_unprotector`."""
    compiled = fastpath.new_unprotector(session, context)
    if compiled is not None:
        return compiled
    return pure_unprotector(session, context)
