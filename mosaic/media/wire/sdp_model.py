"""The typed model of a WebRTC session description (RFC 8866, RFC 8829), without its text.

`mosaic.media.wire.sdp` reads and writes it (and re-exports every name here): build descriptions
with these classes, turn them into text with ``str()``. Fields hold what the SFU acts on;
lines it does not know stay verbatim in ``extra`` so nothing is lost on the way through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
SETUP_ROLES = ("actpass", "active", "passive", "holdconn")  # RFC 4145 §4


@dataclass
class Codec:
    """``a=rtpmap`` (RFC 8866 §6.6) with its ``a=fmtp`` (§6.15) and ``a=rtcp-fb`` (RFC 4585
    §4.2) lines; ``fmtp`` is kept as written, `parameters` reads it."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int | None = None
    fmtp: str | None = None
    rtcp_fb: list[str] = field(default_factory=list)

    def parameters(self) -> dict[str, str]:
        """The fmtp parameters as a mapping (``apt=96;x=1`` -> {"apt": "96", "x": "1"})."""
        result = {}
        for part in (self.fmtp or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key:
                result[key] = value
        return result


@dataclass
class Extmap:
    """``a=extmap:<id>[/<direction>] <uri> [<attributes>]`` (RFC 8285 §8)."""

    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None


@dataclass
class Rid:
    """``a=rid:<id> <send|recv> [<params>]`` (RFC 8851 §4); params kept as written."""

    id: str
    direction: str
    params: str = ""


@dataclass
class Simulcast:
    """``a=simulcast:<direction> <streams>`` (RFC 8853 §5.1). Each stream lists alternative
    rids, a leading ``~`` marking one paused; ``other`` holds the opposite direction's
    streams in the rare line that carries both."""

    direction: str
    streams: list[list[str]]
    other: list[list[str]] = field(default_factory=list)

    def rids(self) -> list[str]:
        """The first alternative of each stream, ``~`` stripped: the layers, in order."""
        return [alternatives[0].lstrip("~") for alternatives in self.streams if alternatives]


class Ssrc(NamedTuple):
    """One ``a=ssrc:<id> <attribute>[:<value>]`` line (RFC 5576 §4.1)."""

    id: int
    attribute: str  # "cname:abc", "msid:stream track", ...

    @property
    def name(self) -> str:
        return self.attribute.partition(":")[0]

    @property
    def value(self) -> str:
        return self.attribute.partition(":")[2]


@dataclass
class SsrcGroup:
    """``a=ssrc-group:<semantics> <ssrc>...`` (RFC 5576 §4.2): FID pairs media with RTX."""

    semantics: str
    ssrcs: list[int]


@dataclass
class MediaSection:
    kind: str  # "audio", "video", "application", or any other token, kept as is
    port: int = 9
    protocol: str = "UDP/TLS/RTP/SAVPF"
    formats: list[str] = field(default_factory=list)  # text: SCTP sections carry a token
    mid: str | None = None
    direction: str = "sendrecv"
    codecs: list[Codec] = field(default_factory=list)
    extmaps: list[Extmap] = field(default_factory=list)
    msid: str | None = None
    ssrcs: list[Ssrc] = field(default_factory=list)
    ssrc_groups: list[SsrcGroup] = field(default_factory=list)
    rids: list[Rid] = field(default_factory=list)
    simulcast: Simulcast | None = None
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: str | None = None
    fingerprints: list[tuple[str, str]] = field(default_factory=list)  # (algorithm, value)
    setup: str | None = None
    candidates: list[str] = field(default_factory=list)  # ``a=candidate:`` values
    end_of_candidates: bool = False
    rtcp_mux: bool = False
    rtcp_rsize: bool = False
    connection: str = "IN IP4 0.0.0.0"
    bandwidths: list[str] = field(default_factory=list)  # ``b=`` values
    extra: list[str] = field(default_factory=list)  # whole lines, in order

    def codec(self, payload_type: int) -> Codec | None:
        for codec in self.codecs:
            if codec.payload_type == payload_type:
                return codec
        return None

    def extmap_id(self, uri: str) -> int:
        """The id negotiated for a header-extension URI, 0 if none."""
        for extmap in self.extmaps:
            if extmap.uri == uri:
                return extmap.id
        return 0

    def ssrc_list(self) -> list[int]:
        """Distinct SSRCs of the ``a=ssrc`` lines, in order."""
        return list(dict.fromkeys(ssrc for ssrc, _ in self.ssrcs))

    @property
    def is_rtp(self) -> bool:
        return "RTP/" in self.protocol

    @property
    def bundle_only(self) -> bool:
        """RFC 8843 §6: an offered section that only works inside the BUNDLE group. Firefox
        marks every section but the first so (port 0, ``a=bundle-only``) under max-bundle."""
        return "a=bundle-only" in self.extra

    @property
    def rejected(self) -> bool:
        """Port 0 turns a section down (RFC 8866 §5.14), except a bundle-only one."""
        return self.port == 0 and not self.bundle_only


@dataclass
class SessionDescription:
    """A whole description: the ``o=`` line's parts, BUNDLE, and the media sections."""

    origin_id: int = 0  # JSEP (RFC 8829 §5.2.1): random, under 2^63
    version: int = 0  # goes up by one per new offer or answer of a session
    bundle: list[str] = field(default_factory=list)  # mids of the BUNDLE group
    msid_semantic: str | None = "WMS *"
    ice_lite: bool = False
    media: list[MediaSection] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # whole session-level lines, in order
    origin_username: str = "-"
    origin_address: str = "IN IP4 127.0.0.1"  # nettype, addrtype, address
    session_name: str = "-"
    timing: str = "0 0"

    def serialize(self) -> str:
        """SDP text, CRLF line ends (see `mosaic.media.wire.sdp.serialize_sdp`)."""
        from mosaic.media.wire.sdp import serialize_sdp

        return serialize_sdp(self)

    def __str__(self) -> str:
        return self.serialize()
