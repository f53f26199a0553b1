"""The forwarding path's compiled part, optional: one C call per outgoing packet.

Per receiver of a forwarded packet the pure-Python path makes seven calls after the
sequence rewrite (`wire.rtp.stamp`, `SubscribePeer.send_template`, `SendHistory.number`,
`MediaTransport.send_rtp`, `SrtpSender.protect`, asyncio's `sendto`, `socket.sendto`).
`Forwarder.send` (mosaic/rtc/_fastpath.c) does the same work in one: copy the template into
the connection's own buffer, stamp it, number it, protect it through the libsrtp that
pylibsrtp loaded (its context and `srtp_protect`, by address, as `srtp_out` calls them), and
`sendto` on a duplicate of the connection's socket descriptor. The same bytes go out
(tests/unit/rtc/test_fastpath.py compares both paths' datagrams byte for byte);
docs/performance.md says what it buys. The receive side's SRTP unprotect has a compiled
twin too (`new_unprotector`, used by `mosaic.rtc.srtp_in`).

Where it is not built (no C compiler or Python headers when installed: setup.py marks the
extension optional) or ``MOSAIC_PURE_PYTHON=1`` is set, `new_forwarder` gives None and every
packet takes the pure-Python path; the tests run both ways.

When the kernel does not take a datagram (EAGAIN on a full socket buffer, ENOBUFS, any error)
the C side hands it to asyncio's ``transport.sendto``, which queues it or reports the error to
the protocol as it always did, and sends through asyncio until its queue is empty: nothing is
dropped that the pure path would have kept, and nothing overtakes a queued datagram. Every
datagram of an armed connection (RTCP and retransmissions too, `Forwarder.deliver`) goes that
one way.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, Protocol

import pylibsrtp
from pylibsrtp._binding import ffi, lib

try:
    from mosaic.rtc import _fastpath
except ImportError:  # not built: the pure-Python path
    _fastpath = None  # type: ignore[assignment]

# Set to "1" to forward through the pure-Python path although the extension is built (tests
# run both paths; a suspected fault in the compiled one can be ruled out in production).
PURE_ENV = "MOSAIC_PURE_PYTHON"
# The libsrtp signature `Forwarder` (srtp_protect) and `Unprotector` (srtp_unprotect) call;
# refused if pylibsrtp's binding declares another.
_PROTECT_TYPE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


class Forwarder(Protocol):
    """`_fastpath.Forwarder`, for the type checker."""

    armed: bool
    sent: int
    handed_over: int

    def arm(
        self,
        fd: int,
        remote: tuple[Any, ...],
        context: int,
        protect: int,
        keep: object,
        error: type[Exception],
        sendto: Any,
        pending: Any,
    ) -> None: ...
    def disarm(self) -> None: ...
    def attach_history(
        self, times: Any, sizes: Any, next: Any, capacity: int, element: int
    ) -> None: ...
    def send(
        self,
        template: bytes | bytearray,
        first: int,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
        now: float,
        numbered: bool,
    ) -> bool: ...
    def deliver(self, datagram: bytes | bytearray | memoryview) -> bool: ...


def available() -> bool:
    """Whether connections made now forward through the compiled path."""
    return _fastpath is not None and os.environ.get(PURE_ENV, "") != "1"


def new_forwarder() -> Forwarder | None:
    """A disarmed forwarder for one connection, or None (the pure-Python path)."""
    if not available() or str(ffi.typeof(lib.srtp_protect)) != f"<ctype '{_PROTECT_TYPE}'>":
        return None
    return _fastpath.Forwarder()  # type: ignore[no-any-return]


def new_unprotector(session: pylibsrtp.Session, context: Any) -> Callable[[bytes], bytes] | None:
    """``session``'s compiled RTP unprotect (`_fastpath.Unprotector`, one C call per packet
    received; ``context``: the session's libsrtp context), or None: the pure path then
    (`mosaic.rtc.srtp_in`)."""
    if not available() or str(ffi.typeof(lib.srtp_unprotect)) != f"<ctype '{_PROTECT_TYPE}'>":
        return None
    compiled = _fastpath.Unprotector(
        context=int(ffi.cast("uintptr_t", context)),
        unprotect=int(ffi.cast("uintptr_t", lib.srtp_unprotect)),
        keep=session,
        error=pylibsrtp.Error,
    )
    return compiled.unprotect  # type: ignore[no-any-return]


# What each `_fastpath.bind_<lane>` was last given: the C side keeps one binding per lane
# (the classes whose slots it reads, found once), so a lane is bound again only for others.
_bound: dict[str, tuple[object, ...]] = {}


def _bind(lane: str, *args: object) -> None:
    if _bound.get(lane) != args:
        getattr(_fastpath, f"bind_{lane}")(*args)
        _bound[lane] = args


InOrder = Callable[[Any, int, int, float], "tuple[int, int] | None"]


def in_order_rewriter(cls: type, max_jump: int) -> InOrder | None:
    """The compiled in-order case of ``cls.rewrite`` (`SequenceRewriter`, whose slots it
    reads and writes; ``max_jump`` its `MAX_JUMP`), or None where not built or
    MOSAIC_PURE_PYTHON=1. It gives the outgoing (sequence number, timestamp) of the next
    packet of the current segment, exactly as ``rewrite`` would, and None, changing
    nothing, for every other case: the caller then calls ``rewrite``."""
    if not available():
        return None
    _bind("rewriter", cls, max_jump)
    return _fastpath.rewrite_in_order  # type: ignore[no-any-return]


RtpParser = Callable[[bytes, Any], Any]


def rtp_parser(header_cls: type, ids_cls: type) -> RtpParser | None:
    """The compiled common case of `mosaic.media.wire.rtp.parse_rtp` (``header_cls``:
    `RtpHeader`, ``ids_cls``: `ExtensionIds`, whose slots it fills and reads), or None where
    not built or MOSAIC_PURE_PYTHON=1. It gives the header ``parse_rtp`` would for a
    well-formed ``bytes`` packet when no MID/RID is asked for, and None for everything else
    (a malformed packet among them): the caller then calls ``parse_rtp``, which raises."""
    if not available():
        return None
    _bind("rtp", header_cls, ids_cls)
    return _fastpath.parse_rtp_common  # type: ignore[no-any-return]


def vp8_ids_reader(fallback: Callable[..., Any]) -> Callable[..., Any]:
    """`mosaic.media.wire.codecs.vp8_picture_ids` compiled for a template and an offset (the
    ``fallback``, that function, reads any other arguments), or ``fallback`` itself where
    not built or MOSAIC_PURE_PYTHON=1. Same results."""
    if not available():
        return fallback
    _bind("vp8", fallback)
    return _fastpath.vp8_picture_ids  # type: ignore[no-any-return]


StatsUpdate = Callable[[Any, int, int, float, int], bool]


def stats_updater(cls: type) -> StatsUpdate | None:
    """`ReceptionStats.update` (``cls``: `ReceptionStats`, whose slots it reads and writes)
    compiled, or None where not built or MOSAIC_PURE_PYTHON=1. True when it counted the
    packet exactly as ``update`` would; False, having changed nothing, when the values are
    not the plain ints and floats it reads: the caller then calls ``update``."""
    if not available():
        return None
    _bind("stats", cls)
    return _fastpath.stats_update  # type: ignore[no-any-return]


TemplateMaker = Callable[[Any, bytes, Any, float], "bytearray | None"]


def template_maker(writer_cls: type, header_cls: type, ids_cls: type) -> TemplateMaker | None:
    """`RtpWriter.template` then `set_abs_send_time` (``writer_cls``: `RtpWriter`,
    ``header_cls``: `RtpHeader`, ``ids_cls``: `ExtensionIds`, whose slots it reads) in one
    compiled call, or None where not built or MOSAIC_PURE_PYTHON=1. It gives the template
    the two would, or None, having made nothing, for what it does not read itself: the
    caller then runs them."""
    if not available():
        return None
    _bind("rtp", header_cls, ids_cls)
    _bind("writer", writer_cls)
    return _fastpath.writer_template  # type: ignore[no-any-return]


Keep = Callable[[Any, Any, Any, int, bytes, int, float], bool]


def keeper(meter_cls: type, nack_cls: type, cache_cls: type) -> Keep | None:
    """`BitrateMeter.add`, `NackTracker.received` and `PacketCache.store` (the classes whose
    slots it reads and writes) for one packet in one compiled call, or None where not built
    or MOSAIC_PURE_PYTHON=1. True when all three were in their common case (the meter's
    current bucket; the next number, or the newest again, with nothing missing; a cache
    slot that needs no growing) and it did exactly what they would; False, having changed
    nothing, for everything else: the caller then calls the three methods."""
    if not available():
        return None
    _bind("keep", meter_cls, nack_cls, cache_cls)
    return _fastpath.keep  # type: ignore[no-any-return]


Fanout = Callable[[list[Any], bytearray, Any, float], None]


def fanout() -> Fanout | None:
    """``sink.write(template, header, now)`` for every sink of a list in one compiled call,
    or None where not built or MOSAIC_PURE_PYTHON=1: the caller then loops in Python. For
    the class bound by `bind_fanout` (`DownTrack`) it does the common case itself, on the
    sink's slots (its forwarder armed, the next packet in order, the VP8 fields it carries
    numbered since the last switch); every other case, and every other sink, gets its
    Python ``write``. Same packets out, same state after."""
    if not available():
        return None
    return _fastpath.fanout  # type: ignore[no-any-return]


Receive = Callable[[Any, bytes, Any, float], bool]


def receiver(
    stream_cls: type, header_cls: type, ids_cls: type, gone_after: float
) -> Receive | None:
    """The whole of ``stream_cls.receive`` (`UpStream`, whose slots it reads and writes;
    ``header_cls``: `RtpHeader`, ``ids_cls``: `ExtensionIds`; ``gone_after``:
    `LAYER_GONE_AFTER`) for a packet in the common case, in one compiled call, or None
    where not built or MOSAIC_PURE_PYTHON=1. True when it did exactly what ``receive``
    would, through the other lanes (statistics, bookkeeping, template, fan-out); False,
    having changed nothing, for every other case: the caller then runs ``receive``'s
    Python."""
    if not available():
        return None
    _bind("rtp", header_cls, ids_cls)
    _bind("receive", stream_cls, gone_after)
    return _fastpath.receive  # type: ignore[no-any-return]


def bind_fanout(sink_cls: type) -> None:
    """The class whose slots `fanout` reads and writes (where built: harmless while the
    compiled path is off)."""
    if _fastpath is not None:
        _bind("fanout", sink_cls)


def arm(
    forwarder: Forwarder,
    session: pylibsrtp.Session,
    context: Any,
    transport: asyncio.DatagramTransport,
    remote: tuple[Any, ...],
) -> bool:
    """Send through ``forwarder`` from now on: ``session``'s outgoing SRTP (``context``, its
    libsrtp context) and asyncio's ``transport`` to ``remote``. False (and disarmed) when the
    transport has no socket or the address is not a numeric IP one: the pure path then."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        forwarder.disarm()
        return False
    try:
        forwarder.arm(
            fd=sock.fileno(),
            remote=remote,
            context=int(ffi.cast("uintptr_t", context)),
            protect=int(ffi.cast("uintptr_t", lib.srtp_protect)),
            keep=session,
            error=pylibsrtp.Error,
            sendto=transport.sendto,
            pending=transport.get_write_buffer_size,
        )
    except (OSError, ValueError, TypeError):
        forwarder.disarm()
        return False
    return True
