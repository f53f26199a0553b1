"""Session descriptions for WebRTC (RFC 8866 syntax, RFC 8829 usage), read and written by us.

Unified plan with BUNDLE and rtcp-mux, as every current browser speaks it, plus what aiortc's
own SDP code leaves out and an SFU needs: simulcast (RFC 8853 ``a=simulcast``, RFC 8851
``a=rid``). Unknown attributes are kept verbatim so a description read and written again loses
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_SDP_CHARS = 64 * 1024
MAX_MEDIA_SECTIONS = 64
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class SdpError(ValueError):
    """A session description that cannot be understood; answered with a typed error."""


@dataclass
class Codec:
    payload_type: int
    name: str
    clock_rate: int
    channels: int | None = None
    fmtp: str | None = None
    rtcp_fb: list[str] = field(default_factory=list)

    def parameters(self) -> dict[str, str]:
        """The fmtp parameters as a mapping (``apt=96;x=1`` → {"apt": "96", "x": "1"})."""
        result = {}
        for part in (self.fmtp or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key:
                result[key] = value
        return result


@dataclass
class Extmap:
    id: int
    uri: str
    direction: str | None = None


@dataclass
class Rid:
    id: str
    direction: str  # "send" or "recv"
    params: str = ""


@dataclass
class Simulcast:
    """``a=simulcast:<direction> <stream>;<stream>``; each stream lists alternative rids,
    a leading ``~`` marking one paused."""

    direction: str
    streams: list[list[str]]

    def rids(self) -> list[str]:
        return [alternatives[0].lstrip("~") for alternatives in self.streams if alternatives]


@dataclass
class SsrcGroup:
    semantics: str
    ssrcs: list[int]


@dataclass
class MediaSection:
    kind: str
    port: int = 9
    protocol: str = "UDP/TLS/RTP/SAVPF"
    formats: list[str] = field(default_factory=list)
    mid: str | None = None
    direction: str = "sendrecv"
    codecs: list[Codec] = field(default_factory=list)
    extmaps: list[Extmap] = field(default_factory=list)
    msid: str | None = None
    ssrcs: list[tuple[int, str]] = field(default_factory=list)  # (ssrc, "cname:x")
    ssrc_groups: list[SsrcGroup] = field(default_factory=list)
    rids: list[Rid] = field(default_factory=list)
    simulcast: Simulcast | None = None
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: str | None = None
    fingerprints: list[tuple[str, str]] = field(default_factory=list)
    setup: str | None = None
    candidates: list[str] = field(default_factory=list)
    end_of_candidates: bool = False
    rtcp_mux: bool = False
    rtcp_rsize: bool = False
    connection: str = "IN IP4 0.0.0.0"
    extra: list[str] = field(default_factory=list)

    def codec(self, payload_type: int) -> Codec | None:
        for codec in self.codecs:
            if codec.payload_type == payload_type:
                return codec
        return None

    def extmap_id(self, uri: str) -> int:
        for extmap in self.extmaps:
            if extmap.uri == uri:
                return extmap.id
        return 0

    def ssrc_list(self) -> list[int]:
        seen: list[int] = []
        for ssrc, _ in self.ssrcs:
            if ssrc not in seen:
                seen.append(ssrc)
        return seen

    @property
    def rejected(self) -> bool:
        return self.port == 0


@dataclass
class SessionDescription:
    origin: str = "- 0 0 IN IP4 127.0.0.1"
    name: str = "-"
    bundle: list[str] = field(default_factory=list)
    msid_semantic: str | None = "WMS *"
    ice_lite: bool = False
    media: list[MediaSection] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return serialize_sdp(self)


def _int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SdpError(f"{what} is not a number") from None
    if value < 0:
        raise SdpError(f"{what} is negative")
    return value


def parse_sdp(text: str) -> SessionDescription:
    """Read a session description; raise `SdpError` on anything structurally wrong."""
    if len(text) > MAX_SDP_CHARS:
        raise SdpError("session description too large")
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpError("a session description starts with v=0")
    session = SessionDescription()
    defaults = MediaSection(kind="session")
    current: MediaSection | None = None
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=":
            raise SdpError("malformed line")
        kind, value = line[0], line[2:]
        if kind == "m":
            if len(session.media) >= MAX_MEDIA_SECTIONS:
                raise SdpError("too many media sections")
            current = _media_line(value)
            session.media.append(current)
        elif kind == "a":
            _attribute(session, current if current is not None else defaults, value, current)
        elif kind == "o" and current is None:
            session.origin = value
        elif kind == "s" and current is None:
            session.name = value
        elif kind == "c" and current is not None:
            current.connection = value
        elif current is None and kind not in ("t", "c", "b"):
            session.extra.append(line)
        elif current is not None and kind not in ("c", "b", "t"):
            current.extra.append(line)
    _inherit(defaults, session)
    mids = [m.mid for m in session.media if m.mid is not None]
    if len(mids) != len(set(mids)):
        raise SdpError("two media sections share a mid")
    return session


def _media_line(value: str) -> MediaSection:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError("an m= line needs a kind, a port and a protocol")
    port = _int(parts[1].split("/")[0], "port")
    if port > 65535:
        raise SdpError("port out of range")
    section = MediaSection(kind=parts[0], port=port, protocol=parts[2], formats=parts[3:])
    if "RTP" in section.protocol:
        for payload_type in section.formats:
            if _int(payload_type, "payload type") > 127:
                raise SdpError("payload type out of range")
    return section


def _attribute(  # noqa: PLR0915 - one branch per attribute is the clearest map
    session: SessionDescription,
    section: MediaSection,
    value: str,
    current: MediaSection | None,
) -> None:
    name, _, rest = value.partition(":")
    if current is None:
        if name == "group" and rest.startswith("BUNDLE"):
            session.bundle = rest.split()[1:]
            return
        if name == "msid-semantic":
            session.msid_semantic = rest.strip()
            return
        if name == "ice-lite":
            session.ice_lite = True
            return
    if name == "mid":
        section.mid = rest.strip()
    elif name in DIRECTIONS and not rest:
        section.direction = name
    elif name == "rtpmap":
        payload_type, _, encoding = rest.partition(" ")
        pt = _int(payload_type, "payload type")
        parts = encoding.split("/")
        if len(parts) < 2 or not parts[0]:
            raise SdpError("rtpmap needs a name and a clock rate")
        if str(pt) not in section.formats:
            raise SdpError("rtpmap for a payload type the m= line does not list")
        channels = _int(parts[2], "channels") if len(parts) > 2 else None
        section.codecs.append(Codec(pt, parts[0], _int(parts[1], "clock rate"), channels))
    elif name == "fmtp":
        payload_type, _, parameters = rest.partition(" ")
        codec = section.codec(_int(payload_type, "payload type"))
        if codec is not None:
            codec.fmtp = parameters
        else:
            section.extra.append("a=" + value)
    elif name == "rtcp-fb":
        payload_type, _, feedback = rest.partition(" ")
        if payload_type == "*":
            for codec in section.codecs:
                codec.rtcp_fb.append(feedback)
        else:
            codec = section.codec(_int(payload_type, "payload type"))
            if codec is not None:
                codec.rtcp_fb.append(feedback)
    elif name == "extmap":
        identifier, _, uri = rest.partition(" ")
        ext_id, _, direction = identifier.partition("/")
        number = _int(ext_id, "extmap id")
        if not 1 <= number <= 255:
            raise SdpError("extmap id out of range")
        uri = uri.split(" ")[0]
        if not uri:
            raise SdpError("extmap without a URI")
        section.extmaps.append(Extmap(number, uri, direction or None))
    elif name == "msid":
        section.msid = rest
    elif name == "ssrc":
        ssrc, _, attribute = rest.partition(" ")
        number = _int(ssrc, "ssrc")
        if number > 0xFFFFFFFF:
            raise SdpError("ssrc out of range")
        section.ssrcs.append((number, attribute))
    elif name == "ssrc-group":
        parts = rest.split()
        if not parts:
            raise SdpError("empty ssrc-group")
        section.ssrc_groups.append(SsrcGroup(parts[0], [_int(ssrc, "ssrc") for ssrc in parts[1:]]))
    elif name == "rid":
        parts = rest.split(" ", 2)
        if len(parts) < 2 or parts[1] not in ("send", "recv"):
            raise SdpError("rid needs an id and a direction")
        section.rids.append(Rid(parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    elif name == "simulcast":
        parts = rest.split()
        if len(parts) < 2 or parts[0] not in ("send", "recv"):
            raise SdpError("simulcast needs a direction and streams")
        streams = [alternatives.split(",") for alternatives in parts[1].split(";")]
        section.simulcast = Simulcast(parts[0], streams)
    elif name == "ice-ufrag":
        section.ice_ufrag = rest
    elif name == "ice-pwd":
        section.ice_pwd = rest
    elif name == "ice-options":
        section.ice_options = rest
    elif name == "fingerprint":
        algorithm, _, digest = rest.partition(" ")
        if not digest:
            raise SdpError("fingerprint needs an algorithm and a value")
        section.fingerprints.append((algorithm.lower(), digest.strip()))
    elif name == "setup":
        section.setup = rest.strip()
    elif name == "candidate":
        section.candidates.append(rest)
    elif name == "end-of-candidates":
        section.end_of_candidates = True
    elif name == "rtcp-mux":
        section.rtcp_mux = True
    elif name == "rtcp-rsize":
        section.rtcp_rsize = True
    else:
        section.extra.append("a=" + value)


def _inherit(defaults: MediaSection, session: SessionDescription) -> None:
    """Session-level ICE and DTLS attributes (Firefox puts the fingerprint there) apply to
    every media section that does not set its own."""
    for section in session.media:
        section.ice_ufrag = section.ice_ufrag or defaults.ice_ufrag
        section.ice_pwd = section.ice_pwd or defaults.ice_pwd
        section.ice_options = section.ice_options or defaults.ice_options
        section.fingerprints = section.fingerprints or list(defaults.fingerprints)
        section.setup = section.setup or defaults.setup
    session.extra.extend(defaults.extra)


def serialize_sdp(session: SessionDescription) -> str:
    lines = ["v=0", f"o={session.origin}", f"s={session.name}", "t=0 0"]
    if session.bundle:
        lines.append("a=group:BUNDLE " + " ".join(session.bundle))
    if session.msid_semantic:
        lines.append(f"a=msid-semantic:{session.msid_semantic}")
    if session.ice_lite:
        lines.append("a=ice-lite")
    lines.extend(session.extra)
    for section in session.media:
        lines.extend(_section_lines(section))
    return "\r\n".join(lines) + "\r\n"


def _section_lines(section: MediaSection) -> list[str]:
    formats = " ".join(section.formats)
    lines = [f"m={section.kind} {section.port} {section.protocol} {formats}".rstrip()]
    lines.append(f"c={section.connection}")
    if section.mid is not None:
        lines.append(f"a=mid:{section.mid}")
    for extmap in section.extmaps:
        direction = f"/{extmap.direction}" if extmap.direction else ""
        lines.append(f"a=extmap:{extmap.id}{direction} {extmap.uri}")
    lines.append(f"a={section.direction}")
    if section.msid:
        lines.append(f"a=msid:{section.msid}")
    if section.rtcp_mux:
        lines.append("a=rtcp-mux")
    if section.rtcp_rsize:
        lines.append("a=rtcp-rsize")
    for codec in section.codecs:
        channels = f"/{codec.channels}" if codec.channels else ""
        lines.append(f"a=rtpmap:{codec.payload_type} {codec.name}/{codec.clock_rate}{channels}")
        lines.extend(f"a=rtcp-fb:{codec.payload_type} {fb}" for fb in codec.rtcp_fb)
        if codec.fmtp:
            lines.append(f"a=fmtp:{codec.payload_type} {codec.fmtp}")
    for rid in section.rids:
        lines.append(f"a=rid:{rid.id} {rid.direction}" + (f" {rid.params}" if rid.params else ""))
    if section.simulcast:
        streams = ";".join(",".join(alternatives) for alternatives in section.simulcast.streams)
        lines.append(f"a=simulcast:{section.simulcast.direction} {streams}")
    for group in section.ssrc_groups:
        lines.append(f"a=ssrc-group:{group.semantics} " + " ".join(map(str, group.ssrcs)))
    lines.extend(f"a=ssrc:{ssrc} {attribute}".rstrip() for ssrc, attribute in section.ssrcs)
    if section.ice_ufrag:
        lines.append(f"a=ice-ufrag:{section.ice_ufrag}")
    if section.ice_pwd:
        lines.append(f"a=ice-pwd:{section.ice_pwd}")
    if section.ice_options:
        lines.append(f"a=ice-options:{section.ice_options}")
    lines.extend(f"a=fingerprint:{algorithm} {value}" for algorithm, value in section.fingerprints)
    if section.setup:
        lines.append(f"a=setup:{section.setup}")
    lines.extend(f"a=candidate:{candidate}" for candidate in section.candidates)
    if section.end_of_candidates:
        lines.append("a=end-of-candidates")
    lines.extend(section.extra)
    return lines
