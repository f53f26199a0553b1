"""Fails loudly if an aiortc or aioice upgrade moves the internals Mosaic relies on; and the
client's hooks act on their own connections only."""

from __future__ import annotations

import inspect

import aioice.ice
import aioice.stun
import aiortc
from aiortc import (
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc.mediastreams import AudioStreamTrack

from mosaic.rtc import aiortc_bridge


def test_versions_are_the_pinned_ones() -> None:
    aiortc_bridge.check_versions()
    assert aiortc.__version__ == aiortc_bridge.AIORTC_VERSION


def test_dtls_transport_hooks_exist_with_the_expected_signatures() -> None:
    assert list(inspect.signature(RTCDtlsTransport._handle_rtp_data).parameters) == [
        "self", "data", "arrival_time_ms",
    ]  # fmt: skip
    assert list(inspect.signature(RTCDtlsTransport._handle_rtcp_data).parameters) == [
        "self", "data",
    ]  # fmt: skip
    assert hasattr(RTCDtlsTransport, "_set_role")
    source = inspect.getsource(RTCDtlsTransport)
    for name in ("self._tx_srtp", "self._rx_srtp", "await self._handle_rtp_data(",
                 "await self._handle_rtcp_data("):  # fmt: skip
        assert name in source


def test_ice_internals_exist() -> None:
    gatherer = RTCIceGatherer()
    transport = RTCIceTransport(gatherer)
    connection = transport._connection
    assert hasattr(connection, "ice_controlling")
    assert isinstance(connection._nominated, dict)
    assert inspect.signature(aioice.ice.get_host_addresses).parameters.keys() == {
        "use_ipv4",
        "use_ipv6",
    }
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "transport" in aioice.ice.StunProtocol.__annotations__
    assert list(inspect.signature(aioice.ice.StunProtocol.datagram_received).parameters) == [
        "self", "data", "addr",
    ]  # fmt: skip
    assert isinstance(connection._protocols, list)
    assert connection._local_candidates == [] and connection._local_candidates_end is False
    assert {"protocol", "remote_addr"} <= set(dir(aioice.ice.CandidatePair)) | set(
        inspect.signature(aioice.ice.CandidatePair).parameters
    ) | {"remote_addr"}
    assert isinstance(aioice.ice.CandidatePair.remote_addr, property)


def test_the_client_tap_point_exists() -> None:
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == [
        "self", "packet", "arrival_time_ms",
    ]  # fmt: skip


def test_the_client_and_bot_hook_points_exist() -> None:
    """What `PeerConnection`, `on_keyframe_request` and `set_audio_level` stand in for."""
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender)
    assert list(inspect.signature(RTCRtpSender._next_encoded_frame).parameters) == [
        "self", "codec",
    ]  # fmt: skip
    gather = inspect.getsource(aioice.ice.Connection.gather_candidates)
    for name in (
        "self._local_candidates_start",
        "self._transport_policy",
        "self._components",
        "self.get_component_candidates(",
        "self._local_candidates_end = True",
    ):
        assert name in gather
    assert "setLocalDescription" in RTCPeerConnection.__dict__
    assert "await self.__gather()" in inspect.getsource(RTCPeerConnection.setLocalDescription)


async def test_a_client_connection_gathers_on_its_own_addresses_and_no_other_changes() -> None:
    """A client asking for loopback gets it on its own connection; aioice's process-wide
    choice stays as it was for any other connection of the process (a server's, say)."""
    original = aioice.ice.get_host_addresses
    limited = aiortc_bridge.PeerConnection(host_addresses=["127.0.0.1"])
    plain = RTCPeerConnection()
    try:
        for pc in (limited, plain):
            pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
        limited_hosts = {c.ip for c in _host_candidates(limited)}
        assert limited_hosts == {"127.0.0.1"}
        assert "127.0.0.1" not in {c.ip for c in _host_candidates(plain)}
        assert aioice.ice.get_host_addresses is original
    finally:
        await limited.close()
        await plain.close()


def _host_candidates(pc: RTCPeerConnection) -> list[aiortc.RTCIceCandidate]:
    gatherer = pc.getTransceivers()[0].receiver.transport.transport.iceGatherer
    return [c for c in gatherer.getLocalCandidates() if c.type == "host"]


async def test_loopback_is_gathered_when_asked() -> None:
    aiortc_bridge.configure_media_network(["127.0.0.1"])
    try:
        transport = aiortc_bridge.MediaTransport(aiortc_bridge.new_certificate())
        await transport.gather()
        candidates = transport.local_candidates()
        assert candidates and all(" 127.0.0.1 " in c for c in candidates)
        await transport.close()
    finally:
        aiortc_bridge.configure_media_network(None)


async def test_the_internals_the_socket_guard_uses_exist() -> None:
    """`_GuardedStunProtocol` takes over aioice's datagram handling: what it calls must exist."""
    connection = aioice.Connection(ice_controlling=False)
    assert isinstance(connection.local_password, str)
    assert connection._valid_username(f"{connection.local_username}:x")
    assert isinstance(connection._check_list, list)
    assert list(inspect.signature(connection.request_received).parameters) == [
        "message", "addr", "protocol",
    ]  # fmt: skip
    assert list(inspect.signature(connection.data_received).parameters) == ["data", "component"]
    protocol = aiortc_bridge._GuardedStunProtocol(connection)
    assert protocol.transactions == {} and protocol.receiver is connection
    assert hasattr(aioice.stun.Transaction, "response_received")
    assert aioice.ice.CandidatePair.State.SUCCEEDED
    source = inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    # What the guard does in aioice's place: parse, answer transactions, pass requests on.
    for name in ("stun.parse_message(", "self.transactions", "request_received(", "data_received("):
        assert name in source
    assert "self._rx_srtp = " in inspect.getsource(RTCDtlsTransport)


def test_handshake_log_internals_exist() -> None:
    """The handshake log wraps the ICE transport's ``_send`` (an attribute of the instance)
    and, for a connection that did not come up, reads aioice's check list and flags."""
    transport = RTCIceTransport(RTCIceGatherer())
    assert "_send" in vars(transport)
    connection = transport._connection
    for name in ("_check_list", "_nominated", "_components", "_remote_candidates",
                 "_remote_candidates_end", "_check_list_done", "ice_controlling"):  # fmt: skip
        assert hasattr(connection, name)
    source = inspect.getsource(aioice.ice.CandidatePair.__init__)
    assert "self.nominated = " in source and "self.remote_nominated = " in source


def test_a_server_transport_is_controlling_until_started() -> None:
    """Checks that reach a subscribe connection before the answer (we offered: we control)
    must not be answered as if we were controlled (see tests/integration/test_dtls_handshake)."""
    transport = aiortc_bridge.MediaTransport(aiortc_bridge.new_certificate())
    assert transport.ice._connection.ice_controlling


async def test_the_simulcast_hook_points_exist() -> None:
    """What `send_simulcast` stands in for: the sender's started flag and its header-extension
    map (replaced before ``send`` configures it), which serializes every packet's extensions
    through ``set`` (where the rid goes in)."""
    sender = RTCRtpSender(
        AudioStreamTrack(),
        RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [aiortc_bridge.new_certificate()]),
    )
    assert sender._RTCRtpSender__started is False
    extensions = sender._RTCRtpSender__rtp_header_extensions_map
    assert isinstance(extensions, aiortc.rtp.HeaderExtensionsMap)
    assert "self.__rtp_header_extensions_map.configure(parameters)" in inspect.getsource(
        RTCRtpSender.send
    )
    assert "packet.serialize(self.__rtp_header_extensions_map)" in inspect.getsource(
        RTCRtpSender._run_rtp
    )
    assert "rtp_stream_id" in inspect.getsource(aiortc.rtp.HeaderExtensionsMap.set)
