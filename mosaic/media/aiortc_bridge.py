"""Every use Mosaic makes of aiortc's and aioice's internals, in one place.

Mosaic takes ICE, DTLS and SRTP from aiortc but none of its media pipeline (which depacketizes,
buffers and decodes). So it drives `RTCIceGatherer`, `RTCIceTransport` and `RTCDtlsTransport`
directly (aiortc's ORTC-style API) and reaches below them at a handful of points:

- `RTCDtlsTransport._handle_rtp_data` / `_handle_rtcp_data` receive each decrypted packet:
  overridden to hand the raw bytes to the SFU, unparsed;
- `RTCDtlsTransport._tx_srtp` encrypts, and the nominated ICE pair's socket sends, without an
  await per packet (aiortc's own `_send_rtp` awaits twice per datagram);
- `RTCDtlsTransport._set_role` and the ICE `Connection.ice_controlling` flag follow the SDP
  offer/answer roles (RFC 8842 §5, RFC 8445 §6.1.1);
- `aioice.ice.get_host_addresses` decides which local addresses are gathered (aioice leaves
  out loopback, which tests and single-machine setups need).

These names are pinned to the versions below; `tests/unit/media/test_aiortc_bridge.py` fails
loudly if an upgrade moves any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import aioice
import aioice.ice
import aiortc
from aioice.candidate import Candidate
from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceServer, RTCIceTransport
from aiortc.rtcdtlstransport import RTCDtlsFingerprint, RTCDtlsParameters
from aiortc.rtcicetransport import RTCIceParameters, candidate_from_aioice, candidate_to_aioice
from aiortc.sdp import candidate_from_sdp, candidate_to_sdp

log = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"

_original_host_addresses = aioice.ice.get_host_addresses
_media_addresses: list[str] | None = None


def check_versions() -> None:
    """Refuse to run on versions whose internals were not checked."""
    found = (aiortc.__version__, aioice.__version__)
    if found != (AIORTC_VERSION, AIOICE_VERSION):
        raise RuntimeError(
            f"mosaic.media needs aiortc {AIORTC_VERSION} and aioice {AIOICE_VERSION}, "
            f"found {found[0]} and {found[1]}"
        )


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _media_addresses:
        return list(_media_addresses)
    # Every interface, loopback included: a meeting on one machine must work.
    addresses = _original_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    if use_ipv4 and "127.0.0.1" not in addresses:
        addresses.append("127.0.0.1")
    return addresses


def use_media_addresses(addresses: Sequence[str] | None) -> None:
    """Gather ICE host candidates on these local addresses only (None: every interface).

    Process-wide, because aioice reads it from module scope; one process serves one set."""
    global _media_addresses  # noqa: PLW0603 - aioice offers no per-connection setting
    _media_addresses = list(addresses) if addresses else None
    aioice.ice.get_host_addresses = _host_addresses


class _SfuDtlsTransport(RTCDtlsTransport):
    """A DTLS transport that hands decrypted RTP and RTCP to callbacks, unparsed.

    A callback's exception would end aiortc's receive loop, and with it this participant's
    media: it is logged (once in a while) and the packet dropped instead."""

    on_rtp: Callable[[bytes], None] = staticmethod(lambda data: None)  # type: ignore[assignment]
    on_rtcp: Callable[[bytes], None] = staticmethod(lambda data: None)  # type: ignore[assignment]
    failures = 0

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        try:
            self.on_rtp(data)
        except Exception:
            self._failed()

    async def _handle_rtcp_data(self, data: bytes) -> None:
        try:
            self.on_rtcp(data)
        except Exception:
            self._failed()

    def _failed(self) -> None:
        self.failures += 1
        if self.failures & (self.failures - 1) == 0:  # the 1st, 2nd, 4th, 8th... time
            log.exception("packet handling failed (%d times)", self.failures)


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
        self.on_rtp: Callable[[bytes], None] = lambda data: None
        self.on_rtcp: Callable[[bytes], None] = lambda data: None
        self.on_state: Callable[[str], None] = lambda state: None
        self.state = "new"
        self._task: asyncio.Task[None] | None = None
        self.dtls.on_rtp = self._rtp  # type: ignore[method-assign]
        self.dtls.on_rtcp = self._rtcp  # type: ignore[method-assign]
        self.dtls.on("statechange", self._dtls_state)
        self.packets_sent = 0
        self.bytes_sent = 0
        self.send_errors = 0

    def _rtp(self, data: bytes) -> None:
        self.on_rtp(data)

    def _rtcp(self, data: bytes) -> None:
        self.on_rtcp(data)

    async def gather(self) -> None:
        await self.gatherer.gather()

    @property
    def ice_username_fragment(self) -> str:
        return self.gatherer.getLocalParameters().usernameFragment  # type: ignore[no-any-return]

    @property
    def ice_password(self) -> str:
        return self.gatherer.getLocalParameters().password  # type: ignore[no-any-return]

    def fingerprints(self) -> list[tuple[str, str]]:
        return [(f.algorithm, f.value) for f in self.dtls.getLocalParameters().fingerprints]

    def local_candidates(self) -> list[str]:
        """Our candidates as SDP ``candidate:`` attribute values."""
        return [candidate_to_sdp(c) for c in self.gatherer.getLocalCandidates()]

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
        self._task = asyncio.create_task(self._connect(parameters, dtls_parameters))

    async def _connect(self, ice: RTCIceParameters, dtls: RTCDtlsParameters) -> None:
        try:
            await self.ice.start(ice)
            if self.ice.state != "completed":
                self._set_state("failed")
                return
            await self.dtls.start(dtls)
        except (ConnectionError, OSError, asyncio.InvalidStateError) as exc:
            log.info("media transport failed to connect: %s", exc)
            self._set_state("failed")

    async def add_remote_candidate(self, candidate: str | None) -> None:
        """A remote candidate (SDP attribute value), or None for end-of-candidates."""
        if candidate is None:
            await self.ice.addRemoteCandidate(None)
            return
        value = candidate.removeprefix("a=").removeprefix("candidate:")
        parsed = candidate_from_sdp(value)
        # Only UDP is gathered by us; TCP candidates of a browser cannot pair.
        if parsed.protocol.lower() == "udp":
            await self.ice.addRemoteCandidate(parsed)

    def _dtls_state(self) -> None:
        state = self.dtls.state
        if state == "connected":
            self._set_state("connected")
        elif state in ("failed", "closed"):
            self._set_state(state)

    def _set_state(self, state: str) -> None:
        if self.state not in (state, "closed"):
            self.state = state
            self.on_state(state)

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def send_rtp(self, packet: bytes) -> None:
        """Encrypt (SRTP) and send one RTP packet now; dropped if not connected."""
        if self.state != "connected":
            return
        self._send(self.dtls._tx_srtp.protect(packet))

    def send_rtcp(self, packet: bytes) -> None:
        if self.state != "connected":
            return
        self._send(self.dtls._tx_srtp.protect_rtcp(packet))

    def _send(self, datagram: bytes) -> None:
        pair = self.ice._connection._nominated.get(1)
        if pair is None:
            return
        protocol = pair.protocol
        self.packets_sent += 1
        self.bytes_sent += len(datagram)
        if type(protocol) is aioice.ice.StunProtocol:
            try:
                protocol.transport.sendto(datagram, pair.remote_addr)
            except OSError:
                self.send_errors += 1
        else:
            # A TURN relay wraps each datagram in its own framing, asynchronously.
            task = asyncio.ensure_future(protocol.send_data(datagram, pair.remote_addr))
            task.add_done_callback(_ignore_result)

    async def close(self) -> None:
        self._set_state("closed")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.dtls.stop()
        with contextlib.suppress(Exception):
            await self.ice.stop()


def _ignore_result(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


def new_certificate() -> RTCCertificate:
    """A DTLS certificate (ECDSA P-256, as browsers use); one per router is enough."""
    return RTCCertificate.generateCertificate()


__all__ = [
    "Candidate",
    "MediaTransport",
    "RTCIceServer",
    "candidate_from_aioice",
    "candidate_to_aioice",
    "check_versions",
    "new_certificate",
    "use_media_addresses",
]
