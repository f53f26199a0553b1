"""Every use Mosaic makes of aiortc's and aioice's internals, in one place.

One module for the server, the Python client and the bots alike, outside the server's
packages (see `mosaic.rtc`): a pinned internal that moves in an upgrade is then fixed once,
here, and the client never imports the server to reach one. No other module of Mosaic may
touch a private name of aiortc or aioice (`tests/unit/test_aiortc_surface.py`).

The server takes ICE, DTLS and SRTP from aiortc but none of its media pipeline (which
depacketizes, buffers and decodes). So it drives `RTCIceGatherer`, `RTCIceTransport` and
`RTCDtlsTransport` directly (aiortc's ORTC-style API) and reaches below them at a handful of
points:

- `RTCDtlsTransport._handle_rtp_data` / `_handle_rtcp_data` receive each decrypted packet:
  overridden to hand the raw bytes to the SFU, unparsed;
- `RTCDtlsTransport._tx_srtp` encrypts, and the nominated ICE pair's socket sends, without an
  await per packet (aiortc's own `_send_rtp` awaits twice per datagram);
- `RTCDtlsTransport._set_role` and the ICE `Connection.ice_controlling` flag follow the SDP
  offer/answer roles (RFC 8842 §5, RFC 8445 §6.1.1);
- the server gathers its own host candidates (`Connection._protocols`, `_local_candidates`,
  `_local_candidates_end`): on a configured UDP port range, and never through STUN;
- its sockets' `StunProtocol.datagram_received` is replaced by a guard that drops whatever is
  not STUN, DTLS, RTP or RTCP of that connection before aioice or aiortc parse it, checks
  STUN credentials (`Connection._valid_username`, `local_password`), passes on to
  `request_received`, `transactions`, `data_received`, and decrypts SRTP with
  `RTCDtlsTransport._rx_srtp` (see `_GuardedStunProtocol`);
- `close` empties `Connection._check_list`, whose pairs point back at the connection.

The client and the bots stay on `RTCPeerConnection` (a client may decode) and reach below it
only through the functions of the last section of this module, each on one object, never
process-wide:

- `PeerConnection` gathers host candidates on the addresses it is given (aioice reads them
  from `aioice.ice.get_host_addresses`, for every connection of the process, and leaves out
  loopback): its `Connection.gather_candidates` is replaced, on its own connections only;
- `tap_rtp` wraps `RTCRtpReceiver._handle_rtp_packet` (count or record packets, undecoded);
- `on_arrival` wraps `RTCDtlsTransport._handle_rtp_data` / `_handle_rtcp_data`;
- `ice_connection` reads `RTCIceTransport._connection`; `divert_datagrams` replaces one
  connection's `data_received` (bots count RTP at the socket and drop it there);
- `on_keyframe_request` replaces `RTCRtpSender._send_keyframe`, `set_audio_level` wraps
  `_next_encoded_frame` (bots replay pre-encoded packets);
- end-to-end encryption: `transform_sent_frames` wraps `_next_encoded_frame` and packetizes
  again with `Vp8Encoder._packetize`; `transform_received_frames` wraps the `put` of
  `RTCRtpReceiver.__decoder_queue` (the frames on their way to the decoder thread);
- simulcast (bots): `send_simulcast` wraps one sender's `send` and `stop`, starts a sender of
  its own per extra layer on the same transport, and gives each sender a header-extension
  map (`RTCRtpSender.__rtp_header_extensions_map`) that writes its layer's rid.

These names are pinned to the versions below;
`tests/unit/rtc/test_aiortc_bridge.py` fails loudly if an upgrade moves any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aioice
import aioice.ice
import aioice.stun
import aiortc
import pylibsrtp
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import (
    MediaStreamTrack,
    RTCCertificate,
    RTCConfiguration,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceServer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor, vp8_depayload
from aiortc.rtcdtlstransport import RTCDtlsFingerprint, RTCDtlsParameters
from aiortc.rtcicetransport import RTCIceParameters, candidate_from_aioice, candidate_to_aioice
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpSendParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket
from aiortc.sdp import candidate_to_sdp

from mosaic.media.wire.candidates import parse_candidate
from mosaic.media.wire.rtp import is_rtcp
from mosaic.rtc import fastpath
from mosaic.rtc.demux import MEDIA_MIN_SIZE, Kind, datagram_kind, dropped
from mosaic.rtc.handshake_log import HandshakeLog
from mosaic.rtc.srtp_in import unprotector
from mosaic.rtc.srtp_out import SrtpSender

log = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"


def check_versions() -> None:
    """Refuse to run on versions whose internals were not checked."""
    found = (aiortc.__version__, aioice.__version__)
    if found != (AIORTC_VERSION, AIOICE_VERSION):
        raise RuntimeError(
            f"mosaic.media needs aiortc {AIORTC_VERSION} and aioice {AIOICE_VERSION}, "
            f"found {found[0]} and {found[1]}"
        )


@dataclass
class MediaNetwork:
    """Where the server's media lives: the local addresses it binds (None: every interface),
    the addresses it announces (a public IP in front of a NAT), and the UDP ports it may use."""

    addresses: list[str] | None = None
    announced: list[str] = field(default_factory=list)
    ports: tuple[int, int] | None = None


def _host_addresses() -> list[str]:
    """The local addresses the server gathers on: the configured ones, else every interface,
    loopback included (aioice leaves it out; a meeting on one machine must work)."""
    if _network.addresses:
        return list(_network.addresses)
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    if "127.0.0.1" not in addresses:
        addresses.append("127.0.0.1")
    return addresses


_network = MediaNetwork()
RECEIVE_BUFFER = 1 << 20


def configure_media_network(
    addresses: Sequence[str] | None,
    announced: Sequence[str] = (),
    ports: tuple[int, int] | None = None,
) -> None:
    """Media network settings of a server (see `MediaNetwork`): they apply to the server's
    own transports (`MediaTransport`), never to a `PeerConnection` in the same process."""
    _network.addresses = list(addresses) if addresses else None
    _network.announced = list(announced)
    _network.ports = ports


def parse_port_range(text: str) -> tuple[int, int]:
    """'50000-50199' → (50000, 50199)."""
    low, _, high = text.partition("-")
    first, last = int(low), int(high or low)
    if not 1024 <= first <= last <= 65535:
        raise ValueError(f"not a UDP port range: {text!r}")
    return first, last


class _SfuDtlsTransport(RTCDtlsTransport):
    """A DTLS transport that hands decrypted RTP and RTCP to callbacks, unparsed.

    A callback's exception would end aiortc's receive loop, and with it this participant's
    media: it is logged (once in a while) and the packet dropped instead."""

    on_rtp: Callable[[bytes], None] = staticmethod(lambda data: None)  # type: ignore[assignment]
    on_rtcp: Callable[[bytes], None] = staticmethod(lambda data: None)  # type: ignore[assignment]
    failures = 0

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self._handle_rtp_sync(data)

    async def _handle_rtcp_data(self, data: bytes) -> None:
        self._handle_rtcp_sync(data)

    def _handle_rtp_sync(self, data: bytes) -> None:
        try:
            self.on_rtp(data)
        except Exception:
            self._failed()

    def _handle_rtcp_sync(self, data: bytes) -> None:
        try:
            self.on_rtcp(data)
        except Exception:
            self._failed()

    def _failed(self) -> None:
        self.failures += 1
        if self.failures & (self.failures - 1) == 0:  # the 1st, 2nd, 4th, 8th... time
            log.exception("packet handling failed (%d times)", self.failures)


def _ignore(data: bytes) -> None:
    return None


def _ignore_state(state: str) -> None:
    return None


class _GuardedStunProtocol(aioice.ice.StunProtocol):
    """The server's media socket: lets through only what belongs to this connection.

    aioice hands every datagram that is not STUN to aiortc's DTLS loop, which dies on an
    empty one (it reads ``data[0]``); and aioice's STUN parser raises more than the
    ``ValueError`` it catches. Here every datagram is sorted first (`demux.datagram_kind`)
    and what is not STUN, DTLS, RTP or RTCP *of this connection* is dropped and counted
    (`demux.dropped`), before any parser sees it:

    - SRTP/SRTCP (first byte 128-191, at least 12 bytes) is decrypted right here once DTLS
      gave the keys (`open_media`); one that fails authentication is dropped. This is the
      hot path: a length test and two byte comparisons before the decryption.
    - STUN must parse; a request goes on to aioice, which answers it (with an error when the
      credentials are wrong: no state changes), a response only to the request it answers.
    - DTLS is queued for aiortc only from an address that passed an authenticated ICE check
      (RFC 8842 §5: DTLS runs on the ICE-selected pair): a stranger cannot feed the
      handshake, nor OpenSSL anything after it.
    """

    # Authenticated remote addresses kept: a browser has a handful of candidates; the cap only
    # bounds memory (beyond it, DTLS still passes from an address our own checks reached).
    MAX_PEERS = 64
    failures = 0  # exceptions out of aioice's handling of a parsed STUN message, process-wide

    def __init__(self, receiver: aioice.Connection) -> None:
        super().__init__(receiver)
        self.srtp: pylibsrtp.Session | None = None
        # The session's RTP unprotect, one call per packet (`mosaic.rtc.srtp_in`).
        self.unprotect: Callable[[bytes], bytes] | None = None
        self.on_rtp: Callable[[bytes], None] = _ignore
        self.on_rtcp: Callable[[bytes], None] = _ignore
        self.peers: set[tuple[str, int]] = set()
        # The connection's handshake log while DTLS runs (`MediaTransport.handshake`).
        self.handshake: HandshakeLog | None = None

    def open_media(
        self,
        srtp: pylibsrtp.Session,
        on_rtp: Callable[[bytes], None],
        on_rtcp: Callable[[bytes], None],
    ) -> None:
        self.on_rtp, self.on_rtcp, self.srtp = on_rtp, on_rtcp, srtp
        self.unprotect = unprotector(srtp, srtp_context(srtp))
        self.handshake = None

    def close_media(self) -> None:
        """Forget the keys and the callbacks (and the cycles through them): drop from now on."""
        self.srtp = None
        self.unprotect = None
        self.on_rtp = self.on_rtcp = _ignore

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:  # type: ignore[override]
        if len(data) >= MEDIA_MIN_SIZE and 127 < data[0] < 192:
            srtp, unprotect = self.srtp, self.unprotect
            if srtp is None or unprotect is None:
                dropped.add("unexpected")
                return
            try:
                if is_rtcp(data):
                    self.on_rtcp(srtp.unprotect_rtcp(data))
                else:
                    self.on_rtp(unprotect(data))
            except pylibsrtp.Error:
                dropped.add("unauthenticated")  # forged, another peer's, replayed
            return
        try:
            self._not_media(data, (addr[0], addr[1]))
        except Exception:  # in aioice's own handling: the socket must survive whatever it was
            dropped.add("malformed")
            _GuardedStunProtocol.failures += 1
            failures = _GuardedStunProtocol.failures
            if failures & (failures - 1) == 0:  # the 1st, 2nd, 4th, 8th... time: a bug to see
                log.warning("STUN handling failed (%d times)", failures, exc_info=True)

    def _not_media(self, data: bytes, addr: tuple[str, int]) -> None:
        kind = datagram_kind(data)
        if kind is Kind.STUN:
            self._stun(data, addr)
        elif kind is Kind.DTLS:
            accepted = addr in self.peers or self._checked(addr)
            if self.handshake is not None:
                self.handshake.note("in" if accepted else "drop", data)
            if accepted:
                self.receiver.data_received(data, self.local_candidate.component)
            else:
                dropped.add("wrong_peer")
        else:
            dropped.add("malformed")

    def _stun(self, data: bytes, addr: tuple[str, int]) -> None:
        """What aioice's `StunProtocol.datagram_received` does, less what a stranger could
        use: every parse error caught, responses only to our transactions."""
        try:
            message = aioice.stun.parse_message(data)
        except Exception:  # struct.error and UnicodeDecodeError as well as ValueError
            dropped.add("malformed")
            return
        message_class = message.message_class
        if message_class is aioice.stun.Class.REQUEST:
            if self._authentic(message):
                if len(self.peers) < self.MAX_PEERS:
                    self.peers.add(addr)
            else:
                dropped.add("unauthenticated")
            self.receiver.request_received(message, addr, self)
        elif message_class in (aioice.stun.Class.RESPONSE, aioice.stun.Class.ERROR):
            transaction = self.transactions.get(message.transaction_id)
            if transaction is None:
                dropped.add("unexpected")
            else:
                transaction.response_received(message, addr)
        else:
            dropped.add("unexpected")  # indications: ICE has no use for them here

    def _authentic(self, message: aioice.stun.Message) -> bool:
        """Whether a request carries this connection's credentials (RFC 8445 §7.3)."""
        connection = self.receiver
        username = message.attributes.get("USERNAME")
        return (
            isinstance(username, str)
            and "MESSAGE-INTEGRITY" in message.attributes
            and connection._valid_username(username)
            and message.check_message_integrity(connection.local_password.encode("utf8"))
        )

    def _checked(self, addr: tuple[str, int]) -> bool:
        """Whether ``addr`` answered one of our checks (the peer sent none of its own yet)."""
        return any(
            pair.remote_addr == addr and pair.state is aioice.ice.CandidatePair.State.SUCCEEDED
            for pair in self.receiver._check_list
        )


class MediaTransport:
    """One bundled ICE + DTLS-SRTP transport (one peer connection's worth), packet in and out.

    ``on_rtp`` and ``on_rtcp`` receive decrypted packets; ``send_rtp`` and ``send_rtcp`` encrypt
    and send synchronously. ``on_state`` hears "connected", "failed" and "closed".
    """

    def __init__(
        self,
        certificate: RTCCertificate,
        ice_servers: list[RTCIceServer] | None = None,
    ) -> None:
        self.gatherer = RTCIceGatherer(iceServers=ice_servers or [])
        self.ice = RTCIceTransport(self.gatherer)
        self.dtls = _SfuDtlsTransport(self.ice, [certificate])
        # Controlling until `start` says otherwise (RFC 8445 §6.1.1: the offerer controls).
        # aioice starts every agent controlled, and it answers checks, role conflicts
        # included, before `start`: on a subscribe connection (we offer) the browser checks as
        # soon as it has answered, often before its answer reaches us. Taken for controlled,
        # we answered half of those checks (by tie-breaker) with 487, the peer switched to
        # controlling and nominated on its own, then `start` made us controlling too: the
        # peer, now controlling, made us yield with a 487 of its own, our pair succeeded
        # unnominated, and ICE never completed on our side while the peer's had, its
        # ClientHellos queued unread: "ICE completed, DTLS connecting" for good
        # (docs/performance.md). A publish connection is the other way round, and safe: we
        # answer, and `start` runs before the answer (our candidates) leaves.
        self.ice._connection.ice_controlling = True
        self.on_rtp: Callable[[bytes], None] = lambda data: None
        self.on_rtcp: Callable[[bytes], None] = lambda data: None
        self.on_state: Callable[[str], None] = lambda state: None
        self.state = "new"
        self._task: asyncio.Task[None] | None = None
        self.dtls.on_rtp = self._rtp  # type: ignore[method-assign]
        self.dtls.on_rtcp = self._rtcp  # type: ignore[method-assign]
        self.dtls.on("statechange", self._dtls_state)
        # Set once connected (`_open_send_path`): one call per packet, nothing looked up.
        self._deliver: Callable[[bytes | memoryview], None] | None = None
        self._protect: Callable[[bytes | bytearray], bytes | memoryview] = bytes
        self._protect_rtcp: Callable[[bytes | bytearray], bytes | memoryview] = bytes
        # The compiled send path (`mosaic.rtc.fastpath`), armed at connection; None where the
        # extension is not built or MOSAIC_PURE_PYTHON=1. Made now, so that the subscribe
        # connection's slots bind its `send` once.
        self.forwarder = fastpath.new_forwarder()
        # The DTLS datagrams of the handshake, printed if it never ends (see `close`).
        self.handshake = HandshakeLog(label="server")

    def _rtp(self, data: bytes) -> None:
        self.on_rtp(data)

    def _rtcp(self, data: bytes) -> None:
        self.on_rtcp(data)

    async def gather(self) -> None:
        """Host candidates on our addresses, in the configured port range; no STUN: a server
        knows its addresses (announced ones are added in `local_candidates`)."""
        connection = self.ice._connection
        if connection._local_candidates_end:
            return
        connection._local_candidates_start = True
        loop = asyncio.get_running_loop()
        for address in _host_addresses():
            try:
                transport, protocol = await _bind(loop, connection, address, _network.ports)
            except OSError as exc:
                log.warning("no UDP port for media on %s: %s", address, exc)
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Keyframes arrive as bursts of packets: room for them while the loop is busy.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            host, port = transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=1,
                transport="udp",
                priority=candidate_priority(1, "host"),
                host=host,
                port=port,
                type="host",
            )
            protocol.handshake = self.handshake
            connection._protocols.append(protocol)
            connection._local_candidates.append(protocol.local_candidate)
        connection._local_candidates_end = True

    @property
    def ice_username_fragment(self) -> str:
        return self.gatherer.getLocalParameters().usernameFragment  # type: ignore[no-any-return]

    @property
    def ice_password(self) -> str:
        return self.gatherer.getLocalParameters().password  # type: ignore[no-any-return]

    def fingerprints(self) -> list[tuple[str, str]]:
        return [(f.algorithm, f.value) for f in self.dtls.getLocalParameters().fingerprints]

    def local_candidates(self) -> list[str]:
        """Our candidates as SDP ``candidate:`` attribute values, and for each announced
        address a copy with that address (the NAT in front maps it to the same port)."""
        gathered = self.gatherer.getLocalCandidates()
        lines = [candidate_to_sdp(c) for c in gathered]
        for index, public in enumerate(_network.announced):
            for candidate in gathered:
                announced = Candidate(
                    foundation=candidate_foundation("host", "udp", public),
                    component=candidate.component,
                    transport="udp",
                    priority=candidate_priority(1, "host", local_pref=65534 - index),
                    host=public,
                    port=candidate.port,
                    type="host",
                )
                lines.append(announced.to_sdp())
        return lines

    def start(
        self,
        *,
        remote_ufrag: str,
        remote_pwd: str,
        remote_fingerprints: list[tuple[str, str]],
        ice_controlling: bool,
        dtls_client: bool,
    ) -> None:
        """Begin connectivity checks and then the DTLS handshake, in the background."""
        if self._task is not None:
            return
        self.ice._connection.ice_controlling = ice_controlling
        self.dtls._set_role("client" if dtls_client else "server")
        parameters = RTCIceParameters(usernameFragment=remote_ufrag, password=remote_pwd)
        dtls_parameters = RTCDtlsParameters(
            fingerprints=[RTCDtlsFingerprint(a, v) for a, v in remote_fingerprints]
        )
        self.handshake.event(f"ICE starts ({'controlling' if ice_controlling else 'controlled'})")
        self._task = asyncio.create_task(self._connect(parameters, dtls_parameters))

    async def _connect(self, ice: RTCIceParameters, dtls: RTCDtlsParameters) -> None:
        try:
            await self.ice.start(ice)
            _note_ice(self.handshake, self.ice._connection, self.ice.state)
            if self.ice.state != "completed":
                self._set_state("failed")
                return
            _log_sends(self.handshake, self.ice)
            self.handshake.event(f"DTLS starts as {self.dtls._role}")
            await self.dtls.start(dtls)
        except (ConnectionError, OSError, asyncio.InvalidStateError) as exc:
            log.info("media transport failed to connect: %s", exc)
            self._set_state("failed")

    async def add_remote_candidate(self, candidate: str | None) -> None:
        """A remote candidate (SDP attribute value); None or "" (Firefox) for
        end-of-candidates. Raises `CandidateError` (a ``ValueError``) for a malformed line;
        well-formed candidates we cannot pair with (TCP, mDNS names) are ignored."""
        parsed = parse_candidate(candidate)
        if parsed is None:
            await self.ice.addRemoteCandidate(None)
        elif parsed.usable:
            await self.ice.addRemoteCandidate(
                aiortc.RTCIceCandidate(
                    component=parsed.component,
                    foundation=parsed.foundation,
                    ip=parsed.address,
                    port=parsed.port,
                    priority=parsed.priority,
                    protocol=parsed.protocol,
                    type=parsed.type,
                    relatedAddress=parsed.related_address,
                    relatedPort=parsed.related_port,
                )
            )

    def _dtls_state(self) -> None:
        state = self.dtls.state
        if state == "connected":
            self._open_receive_path()
            self._open_send_path()
            _stop_logging_sends(self.ice)
            self._set_state("connected")
        elif state in ("failed", "closed"):
            self._set_state(state)

    def _open_receive_path(self) -> None:
        """Once DTLS is up, decrypt SRTP/SRTCP where the datagram arrives (see
        `_GuardedStunProtocol`): aiortc's own way queues each datagram and awaits it through
        three coroutines before decrypting."""
        rx_srtp = self.dtls._rx_srtp
        on_rtp, on_rtcp = self.dtls._handle_rtp_sync, self.dtls._handle_rtcp_sync
        for protocol in self.ice._connection._protocols:
            if isinstance(protocol, _GuardedStunProtocol):
                protocol.open_media(rx_srtp, on_rtp, on_rtcp)

    def _set_state(self, state: str) -> None:
        if self.state not in (state, "closed"):
            self.state = state
            if state != "connected":
                self._deliver = None
                if self.forwarder is not None:
                    self.forwarder.disarm()
            self.on_state(state)

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def send_rtp(self, packet: bytes | bytearray) -> None:
        """Encrypt (SRTP) and send one RTP packet now; dropped if not connected. ``packet``
        may be a template the caller stamps again afterwards: it is copied once, into the
        SRTP buffer, and sent before this returns."""
        deliver = self._deliver
        if deliver is not None:
            deliver(self._protect(packet))

    def send_rtcp(self, packet: bytes) -> None:
        deliver = self._deliver
        if deliver is not None:
            deliver(self._protect_rtcp(packet))

    def _open_send_path(self) -> None:
        """Bind the cipher and the route once, at connection, not per packet.

        aioice nominates one pair per connection and never changes it, so the socket and the
        remote address are fixed from here on."""
        pair = self.ice._connection._nominated.get(1)
        if pair is None:
            return
        # libsrtp on a buffer of our own: one copy per packet (`mosaic.rtc.srtp_out`). What
        # it returns is a view, valid until the next packet: sent at once below.
        sender = SrtpSender(self.dtls._tx_srtp, srtp_context(self.dtls._tx_srtp))
        self._protect, self._protect_rtcp = sender.protect, sender.protect_rtcp
        protocol, remote = pair.protocol, pair.remote_addr
        forwarder = self.forwarder
        if forwarder is not None and isinstance(protocol, aioice.ice.StunProtocol):
            armed = fastpath.arm(
                forwarder,
                self.dtls._tx_srtp,
                srtp_context(self.dtls._tx_srtp),
                protocol.transport,
                remote,
            )
        else:
            armed = False
        if armed:
            # Everything this connection sends one way (see `fastpath`): RTCP and
            # retransmissions, protected here, never overtake what asyncio queued.
            deliver = forwarder.deliver  # type: ignore[union-attr,assignment]
        elif isinstance(protocol, aioice.ice.StunProtocol):
            sendto = protocol.transport.sendto

            def deliver(datagram: bytes | memoryview) -> None:
                sendto(datagram, remote)

        else:

            def deliver(datagram: bytes | memoryview) -> None:
                # A TURN relay wraps each datagram in its own framing, asynchronously: keep
                # a copy (the view is the sender's buffer, reused by the next packet).
                task = asyncio.ensure_future(protocol.send_data(bytes(datagram), remote))
                task.add_done_callback(_ignore_result)

        self._deliver = deliver

    async def close(self) -> None:
        """Stop ICE and DTLS, and cut every reference that loops back to the owner.

        The callbacks make cycles (this transport's callbacks are its peer's methods, the
        peer holds this transport; the DTLS transport and the sockets call back here): left
        in place, a departed participant's connection, tracks and packet caches wait for a
        full garbage collection, megabytes each. Cut, they go when the last reference does.

        A transport closed while its DTLS handshake was still running leaves its handshake
        log in the server's log: the client gave up on it (see `mosaic.client.watchdog`). At
        most one such log a minute (`_HandshakeDumps`): anyone may open and drop connections."""
        if self._task is not None and self.dtls.state in ("new", "connecting"):
            connection = self.ice._connection
            self.handshake.event(f"closing: ICE {self.ice.state}, {_ice_details(connection)}")
            _handshake_dumps.log(self.handshake)
        _stop_logging_sends(self.ice)
        self._set_state("closed")
        protocols = list(self.ice._connection._protocols)
        for protocol in protocols:
            if isinstance(protocol, _GuardedStunProtocol):
                protocol.close_media()
        self.on_rtp = self.on_rtcp = _ignore
        self.on_state = _ignore_state
        self._deliver = None
        if self.forwarder is not None:
            self.forwarder.disarm()
        self._protect = self._protect_rtcp = bytes
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.dtls.stop()
        connection = self.ice._connection
        with contextlib.suppress(Exception):
            await self.ice.stop()
        # aioice's check list holds pairs whose sockets point back at the connection.
        connection._check_list.clear()
        self.dtls.remove_all_listeners()
        self.dtls.on_rtp = self.dtls.on_rtcp = _ignore  # type: ignore[method-assign]


def srtp_context(session: pylibsrtp.Session) -> Any:
    """A pylibsrtp session's libsrtp context (its ``srtp_t``), for `mosaic.rtc.srtp_out` and
    `mosaic.rtc.srtp_in`, which call libsrtp on it directly (pinned: pylibsrtp==1.0.0)."""
    return session._srtp[0]


async def _bind(
    loop: asyncio.AbstractEventLoop,
    connection: aioice.Connection,
    address: str,
    ports: tuple[int, int] | None,
) -> tuple[asyncio.DatagramTransport, aioice.ice.StunProtocol]:
    """A UDP socket on ``address``: on a free port of the range (tried from a random start,
    so that concurrent joins do not race for the same one), or any port without a range."""
    candidates = [0]
    if ports is not None:
        first, last = ports
        start = random.randint(first, last)
        candidates = [*range(start, last + 1), *range(first, start)]
    error: OSError | None = None
    for port in candidates:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _GuardedStunProtocol(connection), local_addr=(address, port)
            )
        except OSError as exc:
            error = exc
            continue
        return transport, protocol  # type: ignore[return-value]
    raise error or OSError(f"no free UDP port on {address}")


def _note_ice(log_: HandshakeLog, connection: aioice.Connection, state: str) -> None:
    pair = connection._nominated.get(1)
    route = f" on {pair.local_addr} -> {pair.remote_addr}" if pair is not None else ""
    log_.event(f"ICE {state}{route}")


class _HandshakeDumps:
    """Prints a handshake log that never ended, at most once per `INTERVAL_S` for the process:
    a log of many lines per dropped connection would let anyone who opens and drops
    connections fill the server's log. The ones not printed are counted, and said next time."""

    INTERVAL_S = 60.0

    def __init__(self) -> None:
        self.last: float | None = None
        self.unprinted = 0

    def log(self, handshake: HandshakeLog) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.INTERVAL_S:
            self.unprinted += 1
            return
        self.last, unprinted, self.unprinted = now, self.unprinted, 0
        more = f" ({unprinted} more since the last one, not printed)" if unprinted else ""
        log.warning("closed before DTLS connected%s: %s", more, handshake.dump())


_handshake_dumps = _HandshakeDumps()


def _ice_details(connection: aioice.Connection) -> str:
    """What aioice's agent holds, for a connection that did not come up."""
    pairs = ", ".join(
        f"{pair.remote_addr} {pair.state.name.lower()}"
        f"{' nominated' if pair.nominated else ''}"
        f"{' remote-nominated' if pair.remote_nominated else ''}"
        for pair in connection._check_list
    )
    return (
        f"{'controlling' if connection.ice_controlling else 'controlled'}, "
        f"pairs: [{pairs}], nominated: {sorted(connection._nominated)}, "
        f"components: {sorted(connection._components)}, "
        f"remote candidates: {len(connection._remote_candidates)}"
        f"{' (ended)' if connection._remote_candidates_end else ''}, "
        f"check list done: {connection._check_list_done}"
    )


def _log_sends(log_: HandshakeLog, ice: RTCIceTransport) -> None:
    """Note every datagram aiortc's DTLS transport sends through ``ice`` (its handshake
    flights and their retransmissions; media goes another way, see `_open_send_path`)."""
    send = ice._send  # an attribute of the instance: the ICE connection's `send`

    async def logged(data: bytes) -> None:
        log_.note("out", data)
        await send(data)

    logged.unlogged = send  # type: ignore[attr-defined]
    ice._send = logged


def _stop_logging_sends(ice: RTCIceTransport) -> None:
    unlogged = getattr(ice._send, "unlogged", None)
    if unlogged is not None:
        ice._send = unlogged


def _ignore_result(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


def new_certificate() -> RTCCertificate:
    """A DTLS certificate (ECDSA P-256, as browsers use); one per router is enough."""
    return RTCCertificate.generateCertificate()


# -- the client's and the bots' side: RTCPeerConnection, one object at a time ---------------------


class PeerConnection(RTCPeerConnection):
    """aiortc's peer connection, gathering host candidates on ``host_addresses`` only
    (None: aioice's choice, every interface but loopback).

    aioice has no per-connection setting for this: it asks `aioice.ice.get_host_addresses`,
    one function for the whole process. Rebinding that function (as the client once did)
    would change every connection of a process that may be a server too; instead each ICE
    connection of this peer connection gets its own gathering, just before aiortc gathers
    (in `setLocalDescription`: transports exist from the first transceiver on).

    It also keeps the DTLS handshake's datagrams (``handshake``, a `HandshakeLog`) until
    the handshake ends, for the watchdog to print when it gives the connection up."""

    def __init__(
        self,
        configuration: RTCConfiguration | None = None,
        *,
        host_addresses: Sequence[str] | None = None,
    ) -> None:
        super().__init__(configuration)
        self.host_addresses = list(host_addresses) if host_addresses else None
        self.handshake = HandshakeLog(label="client")
        self._logged: set[int] = set()  # the DTLS transports whose handshake is logged
        # `close` was called: by us, or by aiortc itself once the peer ended DTLS. From then
        # on aiortc refuses every step of a negotiation, though an offer being applied as the
        # close begins writes its own `signalingState` over "closed".
        self.closing = False

    async def close(self) -> None:
        self.closing = True
        await super().close()

    async def setLocalDescription(
        self, sessionDescription: RTCSessionDescription | None = None
    ) -> None:
        for transceiver in self.getTransceivers():
            transport = transceiver.receiver.transport
            connection = ice_connection_of(transport)
            if connection is None:
                continue
            if self.host_addresses is not None:
                _gather_on(connection, self.host_addresses)
            if id(transport) not in self._logged:
                self._logged.add(id(transport))
                _log_handshake(self.handshake, transport, connection)
        await super().setLocalDescription(sessionDescription)


def _log_handshake(
    log_: HandshakeLog, dtls: RTCDtlsTransport, connection: aioice.Connection
) -> None:
    """Note the DTLS datagrams ``dtls`` sends and receives, and its and its ICE transport's
    state changes, until the handshake ends (then the hooks are removed)."""
    ice = dtls.transport
    receive = connection.data_received
    # What to put back: a wrapper installed before ours (`divert_datagrams`, bots), or nothing.
    wrapped = connection.__dict__.get("data_received")

    def data_received(data: bytes, component: int) -> None:
        if data and 19 < data[0] < 64:  # RFC 7983: DTLS
            log_.note("in", data)
        receive(data, component)

    def ice_state() -> None:
        _note_ice(log_, connection, ice.state)

    def dtls_state() -> None:
        log_.event(f"DTLS {dtls.state} as {dtls._role}")
        if dtls.state != "connecting":
            if connection.__dict__.get("data_received") is data_received:  # else wrapped since
                if wrapped is None:
                    del connection.data_received
                else:
                    connection.data_received = wrapped  # type: ignore[method-assign]
            _stop_logging_sends(ice)
            dtls.remove_listener("statechange", dtls_state)
            ice.remove_listener("statechange", ice_state)

    connection.data_received = data_received  # type: ignore[method-assign]
    _log_sends(log_, ice)
    ice.on("statechange", ice_state)
    dtls.on("statechange", dtls_state)


def closing(pc: RTCPeerConnection) -> bool:
    """Whether ``pc`` is closed or closing (a `PeerConnection`'s own count; aiortc's for
    another kind)."""
    return bool(getattr(pc, "closing", False)) or pc.signalingState == "closed"


def handshake_log(pc: RTCPeerConnection) -> HandshakeLog | None:
    """The DTLS handshake log of a `PeerConnection` (None for another kind)."""
    found = getattr(pc, "handshake", None)
    return found if isinstance(found, HandshakeLog) else None


def _gather_on(connection: aioice.Connection, addresses: list[str]) -> None:
    """Make ``connection`` gather host candidates on ``addresses``: aioice's own
    `Connection.gather_candidates`, with the addresses given instead of looked up."""
    if connection._local_candidates_start:
        return

    async def gather_candidates() -> None:
        if connection._local_candidates_start:
            return
        connection._local_candidates_start = True
        # Host candidates only under the "all" policy (RFC 9429 §3.5.3), as aioice does.
        policy_all = connection._transport_policy == aioice.ice.TransportPolicy.ALL
        found = await asyncio.gather(
            *(
                connection.get_component_candidates(
                    component=component, addresses=list(addresses) if policy_all else []
                )
                for component in connection._components
            )
        )
        for candidates in found:
            connection._local_candidates += candidates
        connection._local_candidates_end = True

    connection.gather_candidates = gather_candidates  # type: ignore[method-assign]


def ice_connection_of(transport: RTCDtlsTransport | None) -> aioice.Connection | None:
    """The aioice connection under a DTLS transport."""
    if transport is None:
        return None
    return transport.transport._connection  # type: ignore[no-any-return]


def ice_connection(pc: RTCPeerConnection) -> aioice.Connection | None:
    """The aioice connection under a peer connection's (bundled) transport, once it has one."""
    for transceiver in pc.getTransceivers():
        connection = ice_connection_of(transceiver.receiver.transport)
        if connection is not None:
            return connection
    return None


def divert_datagrams(connection: aioice.Connection, take: Callable[[bytes], bool]) -> None:
    """Offer every datagram that reaches ``connection`` (after aioice's STUN handling) to
    ``take`` first: one it returns True for goes no further, the rest go on to aiortc."""
    forward: Callable[[bytes, int], None] = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        if not take(data):
            forward(data, component)

    connection.data_received = data_received  # type: ignore[method-assign]


def tap_rtp(
    receiver: RTCRtpReceiver, on_packet: Callable[[RtpPacket], None], *, decode: bool = True
) -> None:
    """Call ``on_packet`` with every RTP packet ``receiver`` gets; with ``decode=False`` the
    packets go no further, so nothing is depacketized or decoded (aiortc does both in
    `RTCRtpReceiver._handle_rtp_packet`, the point wrapped here)."""
    original = receiver._handle_rtp_packet

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        on_packet(packet)
        if decode:
            await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]


def on_arrival(transport: RTCDtlsTransport, callback: Callable[[], None]) -> None:
    """Call ``callback()`` for every packet ``transport`` decrypts, RTP or RTCP, whichever
    receiver or sender it is for (wraps the two methods where aiortc hands decrypted packets
    to its router)."""
    handle_rtp, handle_rtcp = transport._handle_rtp_data, transport._handle_rtcp_data

    async def rtp(data: bytes, arrival_time_ms: int) -> None:
        callback()
        await handle_rtp(data, arrival_time_ms)

    async def rtcp(data: bytes) -> None:
        callback()
        await handle_rtcp(data)

    transport._handle_rtp_data = rtp  # type: ignore[method-assign]
    transport._handle_rtcp_data = rtcp  # type: ignore[method-assign]


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback()`` when the remote end asks ``sender`` for a keyframe (PLI or FIR).
    aiortc only sets a flag that its encoder reads, and a sender of pre-encoded packets has
    no encoder."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


def set_audio_level(sender: RTCRtpSender, level: Callable[[], int]) -> None:
    """Write ``-level()`` (``level`` in -dBov, 0..127) into the audio-level extension of each
    frame ``sender`` sends (RFC 6464): aiortc computes it only from PCM it encodes itself."""
    original = sender._next_encoded_frame

    async def next_frame(codec: Any) -> Any:
        frame = await original(codec)
        if frame is not None:
            # aiortc writes (voice activity False, -audio_level): it expects dBov <= 0.
            frame.audio_level = -level()
        return frame

    sender._next_encoded_frame = next_frame  # type: ignore[method-assign]


# RFC 8852: the header extension that names a simulcast layer.
SDES_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"


class _RidExtensions(HeaderExtensionsMap):
    """A sender's header-extension map that writes one rid into every packet it serializes
    (aiortc's sender never sets ``rtp_stream_id``)."""

    def __init__(self, rid: str) -> None:
        super().__init__()
        self.rid = rid

    def set(self, values: HeaderExtensions) -> tuple[int, bytes]:
        values.rtp_stream_id = self.rid
        return super().set(values)


def _with_rid(parameters: RTCRtpSendParameters, extension_id: int) -> RTCRtpSendParameters:
    """The negotiated parameters plus the rid extension, without RTX: a layer's repair would
    need the repaired-rid extension (aiortc's RTX copies the media packet's extensions, rid
    included, which would make the RTX SSRC pass for the layer), so a layer retransmits
    under its own SSRC, which an SFU takes as the late packet it is."""
    extensions = [e for e in parameters.headerExtensions if e.uri != SDES_RID]
    extensions.append(RTCRtpHeaderExtensionParameters(id=extension_id, uri=SDES_RID))
    return RTCRtpSendParameters(
        codecs=[c for c in parameters.codecs if c.mimeType.lower() != "video/rtx"],
        headerExtensions=extensions,
        muxId=parameters.muxId,
        rtcp=parameters.rtcp,
    )


def send_simulcast(
    sender: RTCRtpSender,
    rid: str,
    layers: dict[str, MediaStreamTrack],
    extension_id: int,
    prepare: Callable[[RTCRtpSender], None] | None = None,
) -> None:
    """Make ``sender`` (a transceiver's, sending its own track as layer ``rid``) send the
    other ``layers`` (rid -> track) too, in the same m-section, as a browser's simulcast
    does (RFC 8853): each layer its own SSRC and its rid in the header extension
    ``extension_id`` (which the offer must declare, with the rids: see
    `mosaic.client.simulcast`). aiortc sends one stream per sender, so each extra layer gets
    an `RTCRtpSender` of its own on the same transport, started when the transceiver's is
    (the answer's parameters) and stopped with it; the transport routes each SSRC's RTCP
    (keyframe requests, NACKs) to its own sender. ``prepare(sender)`` is called for every
    layer's sender before it sends (a bot hooks keyframe requests there)."""
    original_send, original_stop = sender.send, sender.stop
    extra: list[RTCRtpSender] = []

    async def send(parameters: RTCRtpSendParameters) -> None:
        if extra or sender._RTCRtpSender__started:  # type: ignore[attr-defined]
            return await original_send(parameters)
        layered = _with_rid(parameters, extension_id)
        sender._RTCRtpSender__rtp_header_extensions_map = _RidExtensions(rid)  # type: ignore[attr-defined]
        if prepare is not None:
            prepare(sender)
        await original_send(layered)
        for layer_rid, track in layers.items():
            layer = RTCRtpSender(track, sender.transport)
            layer._RTCRtpSender__rtp_header_extensions_map = _RidExtensions(layer_rid)  # type: ignore[attr-defined]
            if prepare is not None:
                prepare(layer)
            extra.append(layer)
            await layer.send(layered)
        return None

    async def stop() -> None:
        for layer in extra:
            with contextlib.suppress(Exception):
                await layer.stop()
        await original_stop()

    sender.send = send  # type: ignore[method-assign]
    sender.stop = stop  # type: ignore[method-assign]


FrameTransform = Callable[[str, bytes], bytes | None]


def transform_sent_frames(sender: RTCRtpSender, transform: FrameTransform) -> None:
    """Pass each encoded frame ``sender`` sends through ``transform(kind, frame)`` before it
    is packetized (end-to-end encryption: docs/e2ee.md); None drops the frame. aiortc's VP8
    encoder packetizes as it encodes, so the frame is taken back out of its payloads (the
    payload descriptors dropped, the picture id kept) and packetized again; an Opus payload
    is the frame. Any other codec sends nothing: never a frame that could not be transformed.
    Wraps `RTCRtpSender._next_encoded_frame` (as `set_audio_level` does)."""
    original = sender._next_encoded_frame
    kind = sender.kind

    async def next_frame(codec: Any) -> Any:
        frame = await original(codec)
        if frame is None:
            return None
        mime = codec.mimeType.lower()
        if mime == "video/vp8":
            descriptor, _ = VpxPayloadDescriptor.parse(frame.payloads[0])
            changed = transform(kind, b"".join(vp8_depayload(p) for p in frame.payloads))
            if changed is None:
                return None
            frame.payloads = Vp8Encoder._packetize(changed, descriptor.picture_id or 0)
        elif mime == "audio/opus":
            payloads = [transform(kind, payload) for payload in frame.payloads]
            if any(payload is None for payload in payloads):
                return None
            frame.payloads = payloads
        else:
            return None
        return frame

    sender._next_encoded_frame = next_frame  # type: ignore[method-assign]


def transform_received_frames(receiver: RTCRtpReceiver, transform: FrameTransform) -> None:
    """Pass each frame ``receiver`` has depacketized and reassembled through
    ``transform(kind, frame)`` before it is decoded; None drops it, so the decoder never sees
    what did not decrypt. Wraps the `put` of the receiver's decoder queue (the frames go from
    `RTCRtpReceiver._handle_rtp_packet` to the decoder thread through it); call it before the
    receiver starts."""
    frames = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
    put = frames.put
    kind = receiver._RTCRtpReceiver__kind  # type: ignore[attr-defined]

    def put_frame(item: Any, *args: Any, **kwargs: Any) -> None:
        if item is not None:
            _, encoded = item
            clear = transform(kind, encoded.data)
            if clear is None:
                return
            encoded.data = clear
        put(item, *args, **kwargs)

    frames.put = put_frame


__all__ = [
    "Candidate",
    "MediaTransport",
    "PeerConnection",
    "RTCIceServer",
    "candidate_from_aioice",
    "candidate_to_aioice",
    "check_versions",
    "configure_media_network",
    "divert_datagrams",
    "handshake_log",
    "ice_connection",
    "ice_connection_of",
    "new_certificate",
    "on_arrival",
    "on_keyframe_request",
    "send_simulcast",
    "set_audio_level",
    "tap_rtp",
    "transform_received_frames",
    "transform_sent_frames",
]
