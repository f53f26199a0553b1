"""Session descriptions for WebRTC (RFC 8866 syntax, RFC 8829 JSEP usage), read and written
by Mosaic itself: aiortc's SDP code has no simulcast, which an SFU needs (RFC 8853
``a=simulcast``, RFC 8851 ``a=rid``).

Scope: unified plan, BUNDLE (RFC 8843), rtcp-mux, as every current browser speaks it. The
model keeps what the SFU acts on as typed fields and every other line verbatim in ``extra``,
so a description read and written again loses nothing a browser cares about. Codec attributes
are matched by payload type whatever their order (Firefox lists ``a=fmtp`` before
``a=rtpmap``); session-level ICE, DTLS and direction attributes (Firefox puts the fingerprint
there) are copied into each media section that sets none.

`parse_sdp` raises `SdpError` (a ``ValueError``) for structural errors and nothing else. It
refuses oversized input (64 KiB, 64 media sections) before doing any work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mosaic.media.wire.sdp_model import (
    DIRECTIONS,
    SETUP_ROLES,
    Codec,
    Extmap,
    MediaSection,
    Rid,
    SessionDescription,
    Simulcast,
    Ssrc,
    SsrcGroup,
)

__all__ = [
    "DIRECTIONS",
    "MAX_MEDIA_SECTIONS",
    "MAX_SDP_CHARS",
    "SETUP_ROLES",
    "Codec",
    "Extmap",
    "MediaSection",
    "Rid",
    "SdpError",
    "SessionDescription",
    "Simulcast",
    "Ssrc",
    "SsrcGroup",
    "parse_sdp",
    "serialize_sdp",
]

MAX_SDP_CHARS = 64 * 1024
MAX_MEDIA_SECTIONS = 64
# RFC 8866 §9 token characters; RFC 8851 §10 rid-id characters.
_TOKEN = frozenset(
    "!#$%&'*+-.^_`{|}~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_RID = frozenset("-_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_AFTER_TIMING = ("r", "z", "k")  # session-level lines that RFC 8866 §5 puts after t=


class SdpError(ValueError):
    """A session description that cannot be understood: answered with a typed error."""


# -- reading -----------------------------------------------------------------------------------


def _int(text: str, what: str, maximum: int) -> int:
    # Strict ASCII digits: int() would also take "١٢", " 5" or "1_0".
    if not text or len(text) > 20 or not _DIGITS.issuperset(text):
        raise SdpError(f"{what} is not a number")
    value = int(text)
    if value > maximum:
        raise SdpError(f"{what} out of range")
    return value


def _token(text: str, what: str, alphabet: frozenset[str] = _TOKEN) -> str:
    if not text or not alphabet.issuperset(text):
        raise SdpError(f"{what} is not a valid token")
    return text


@dataclass
class _Pending:
    """A section's codec attributes, matched to rtpmaps when the section ends."""

    fmtp: list[tuple[str, str, str]] = field(default_factory=list)  # (pt, value, line)
    feedback: list[tuple[str, str, str]] = field(default_factory=list)
    explicit_direction: bool = False


def parse_sdp(text: str) -> SessionDescription:
    """Read a session description (lines end in CRLF or LF); raise `SdpError` when it is
    oversized or structurally wrong: no ``v=0`` first, a malformed ``o=`` or ``m=`` line,
    a bad number, an rtpmap for a payload type the m= line lacks, an extmap id outside
    1..255, two sections with one mid, and the like."""
    if not isinstance(text, str) or len(text) > MAX_SDP_CHARS:
        raise SdpError("session description missing or larger than 64 KiB")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpError("a session description starts with v=0")
    session = SessionDescription(msid_semantic=None)
    defaults = MediaSection(kind="session", direction="")
    sections: list[tuple[MediaSection, _Pending]] = []
    seen_origin = False
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not "a" <= line[0] <= "z":
            raise SdpError("a line is not <type>=<value>")
        if any(c < " " and c != "\t" for c in line):
            raise SdpError("control character in a line")
        kind, value = line[0], line[2:]
        if kind == "m":
            if len(sections) >= MAX_MEDIA_SECTIONS:
                raise SdpError("too many media sections")
            sections.append((_media_line(value), _Pending()))
        elif sections:
            section, pending = sections[-1]
            if kind == "a":
                _media_attribute(section, pending, value)
            elif kind == "c":
                section.connection = value
            elif kind == "b":
                section.bandwidths.append(value)
            else:
                section.extra.append(line)
        elif kind == "o":
            _origin(session, value)
            seen_origin = True
        elif kind == "s":
            session.session_name = value
        elif kind == "t":
            session.timing = value
        elif kind == "a":
            _session_attribute(session, defaults, value)
        else:
            session.extra.append(line)
    if not seen_origin:
        raise SdpError("no o= line")
    # Kept in the order `serialize_sdp` writes them, so that reading what it wrote gives
    # back the same description even for input whose lines were out of RFC 8866 order.
    session.extra.sort(key=_session_line_rank)
    for section, pending in sections:
        _finish(section, pending, defaults)
        section.extra.sort(key=lambda line: line.startswith("a="))
        session.media.append(section)
    mids = [section.mid for section in session.media if section.mid is not None]
    if len(mids) != len(set(mids)):
        raise SdpError("two media sections share a mid")
    return session


def _session_line_rank(line: str) -> int:
    if line.startswith("a="):
        return 2
    return 1 if line[0] in _AFTER_TIMING else 0


def _origin(session: SessionDescription, value: str) -> None:
    parts = value.split(" ")
    if len(parts) != 6 or not all(parts):
        raise SdpError("o= needs six fields")
    session.origin_username = parts[0]
    session.origin_id = _int(parts[1], "session id", (1 << 64) - 1)
    session.version = _int(parts[2], "session version", (1 << 64) - 1)
    session.origin_address = " ".join(parts[3:])


def _media_line(value: str) -> MediaSection:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("m= needs a kind, a port, a protocol and formats")
    kind = _token(parts[0], "media kind")
    section = MediaSection(kind, _int(parts[1], "port", 65535), parts[2], parts[3:])
    if section.is_rtp:
        payload_types = [_int(pt, "payload type", 127) for pt in section.formats]
        if len(set(payload_types)) != len(payload_types):
            raise SdpError("a payload type is listed twice")
        section.formats = [str(pt) for pt in payload_types]
    return section


def _session_attribute(session: SessionDescription, defaults: MediaSection, value: str) -> None:
    name, colon, rest = value.partition(":")
    if name == "group" and rest.startswith("BUNDLE") and not session.bundle:
        session.bundle = rest.split()[1:]
    elif name == "msid-semantic":
        session.msid_semantic = rest.strip()
    elif name == "ice-lite" and not colon:
        session.ice_lite = True
    elif name in DIRECTIONS and not colon:
        defaults.direction = name
    elif name in ("ice-ufrag", "ice-pwd", "ice-options", "fingerprint", "setup"):
        _media_attribute(defaults, _Pending(), value)
    else:
        session.extra.append("a=" + value)


def _media_attribute(section: MediaSection, pending: _Pending, value: str) -> None:  # noqa: PLR0915 - one branch per attribute reads as the map it is
    name, colon, rest = value.partition(":")
    if name in DIRECTIONS and not colon:
        section.direction = name
        pending.explicit_direction = True
    elif name == "mid":
        if section.mid is not None:
            raise SdpError("two a=mid lines in one section")
        section.mid = _token(rest, "mid")
    elif name == "rtpmap":
        _rtpmap(section, rest)
    elif name in ("fmtp", "rtcp-fb"):
        payload_type, _, parameters = rest.partition(" ")
        target = pending.fmtp if name == "fmtp" else pending.feedback
        target.append((payload_type, parameters, "a=" + value))
    elif name == "extmap":
        _extmap(section, rest)
    elif name == "msid" and section.msid is None:
        section.msid = rest
    elif name == "ssrc":
        ssrc, _, attribute = rest.partition(" ")
        if not attribute:
            raise SdpError("a=ssrc needs an attribute")
        section.ssrcs.append(Ssrc(_int(ssrc, "ssrc", 0xFFFFFFFF), attribute))
    elif name == "ssrc-group":
        parts = rest.split()
        if len(parts) < 2:
            raise SdpError("a=ssrc-group needs semantics and SSRCs")
        ssrcs = [_int(ssrc, "ssrc", 0xFFFFFFFF) for ssrc in parts[1:]]
        section.ssrc_groups.append(SsrcGroup(_token(parts[0], "semantics"), ssrcs))
    elif name == "rid":
        parts = rest.split(" ", 2)
        if len(parts) < 2 or parts[1] not in ("send", "recv"):
            raise SdpError("a=rid needs an id and send or recv")
        rid = _token(parts[0], "rid", _RID)
        if any(existing.id == rid for existing in section.rids):
            raise SdpError("a rid is declared twice")
        section.rids.append(Rid(rid, parts[1], parts[2] if len(parts) > 2 else ""))
    elif name == "simulcast":
        section.simulcast = _simulcast(rest)
    elif name == "ice-ufrag":
        section.ice_ufrag = rest
    elif name == "ice-pwd":
        section.ice_pwd = rest
    elif name == "ice-options":
        section.ice_options = rest
    elif name == "fingerprint":
        algorithm, _, digest = rest.partition(" ")
        if not algorithm or not digest.strip():
            raise SdpError("a=fingerprint needs an algorithm and a value")
        section.fingerprints.append((algorithm.lower(), digest.strip()))
    elif name == "setup":
        if rest not in SETUP_ROLES:
            raise SdpError("unknown a=setup role")
        section.setup = rest
    elif name == "candidate":
        if not rest:
            raise SdpError("empty a=candidate")
        section.candidates.append(rest)
    elif name == "end-of-candidates" and not colon:
        section.end_of_candidates = True
    elif name == "rtcp-mux" and not colon:
        section.rtcp_mux = True
    elif name == "rtcp-rsize" and not colon:
        section.rtcp_rsize = True
    else:
        section.extra.append("a=" + value)


def _rtpmap(section: MediaSection, rest: str) -> None:
    payload_type, _, encoding = rest.partition(" ")
    pt = _int(payload_type, "payload type", 127)
    if payload_type not in section.formats or not section.is_rtp:
        raise SdpError("a=rtpmap for a payload type the m= line does not list")
    if section.codec(pt) is not None:
        raise SdpError("two a=rtpmap lines for one payload type")
    parts = encoding.split("/")
    if len(parts) not in (2, 3) or not parts[0] or " " in parts[0]:
        raise SdpError("a=rtpmap needs <name>/<clock rate>[/<channels>]")
    channels = _int(parts[2], "channels", 255) if len(parts) == 3 else None
    section.codecs.append(Codec(pt, parts[0], _int(parts[1], "clock rate", 1 << 32), channels))


def _extmap(section: MediaSection, rest: str) -> None:
    parts = rest.split(" ", 2)
    if len(parts) < 2 or not parts[1]:
        raise SdpError("a=extmap needs an id and a URI")
    number, _, direction = parts[0].partition("/")
    ext_id = _int(number, "extmap id", 255)
    if ext_id < 1:
        raise SdpError("extmap id out of 1..255")
    if direction and direction not in DIRECTIONS:
        raise SdpError("unknown extmap direction")
    if any(existing.id == ext_id for existing in section.extmaps):
        raise SdpError("an extmap id is used twice")
    attributes = parts[2] if len(parts) > 2 else None
    section.extmaps.append(Extmap(ext_id, parts[1], direction or None, attributes))


def _streams(text: str) -> list[list[str]]:
    streams = []
    for alternatives in text.split(";"):
        ids = alternatives.split(",")
        for rid in ids:
            _token(rid[1:] if rid.startswith("~") else rid, "simulcast rid", _RID)
        streams.append(ids)
    return streams


def _simulcast(rest: str) -> Simulcast:
    parts = rest.split()
    if len(parts) not in (2, 4) or parts[0] not in ("send", "recv"):
        raise SdpError("a=simulcast needs send or recv and a list of rids")
    simulcast = Simulcast(parts[0], _streams(parts[1]))
    if len(parts) == 4:
        if {parts[0], parts[2]} != {"send", "recv"}:
            raise SdpError("a=simulcast directions must differ")
        simulcast.other = _streams(parts[3])
    return simulcast


def _codec_named(section: MediaSection, payload_type: str) -> Codec | None:
    if not payload_type or len(payload_type) > 3 or not _DIGITS.issuperset(payload_type):
        return None
    return section.codec(int(payload_type))


def _finish(section: MediaSection, pending: _Pending, defaults: MediaSection) -> None:
    """Attach fmtp and rtcp-fb lines to their codecs (unknown ones stay in ``extra``), and
    inherit session-level attributes."""
    for payload_type, parameters, line in pending.fmtp:
        codec = _codec_named(section, payload_type)
        if codec is not None and codec.fmtp is None:
            codec.fmtp = parameters
        else:
            section.extra.append(line)
    for payload_type, feedback, line in pending.feedback:
        if payload_type == "*" and feedback:
            for codec in section.codecs:
                codec.rtcp_fb.append(feedback)
            continue
        codec = _codec_named(section, payload_type)
        if codec is not None and feedback:
            codec.rtcp_fb.append(feedback)
        else:
            section.extra.append(line)
    if section.ice_ufrag is None:
        section.ice_ufrag = defaults.ice_ufrag
    if section.ice_pwd is None:
        section.ice_pwd = defaults.ice_pwd
    if section.ice_options is None:
        section.ice_options = defaults.ice_options
    if section.setup is None:
        section.setup = defaults.setup
    section.fingerprints = section.fingerprints or list(defaults.fingerprints)
    if not pending.explicit_direction and defaults.direction:
        section.direction = defaults.direction


# -- writing -----------------------------------------------------------------------------------


def serialize_sdp(session: SessionDescription) -> str:
    """The description as SDP text, CRLF line ends (RFC 8866 §5), attributes in the order
    browsers write them: mid, extmap, direction, msid, rtcp-mux/rsize, codecs, rid,
    simulcast, ssrc-group, ssrc, ICE, fingerprint, setup, candidates."""
    origin = f"{session.origin_username} {session.origin_id} {session.version}"
    lines = ["v=0", f"o={origin} {session.origin_address}", f"s={session.session_name}"]
    lines += [line for line in session.extra if line[:1] not in ("a", *_AFTER_TIMING)]
    lines.append(f"t={session.timing}")
    lines += [line for line in session.extra if line[:1] in _AFTER_TIMING]
    if session.bundle:
        lines.append("a=group:BUNDLE " + " ".join(session.bundle))
    if session.msid_semantic is not None:
        lines.append(f"a=msid-semantic: {session.msid_semantic}")
    if session.ice_lite:
        lines.append("a=ice-lite")
    lines += [line for line in session.extra if line.startswith("a")]
    for section in session.media:
        lines += _section_lines(section)
    if any("\n" in line or "\r" in line for line in lines):
        raise ValueError("a value contains a line break")
    return "\r\n".join(lines) + "\r\n"


def _section_lines(section: MediaSection) -> list[str]:
    lines = [f"m={section.kind} {section.port} {section.protocol} {' '.join(section.formats)}"]
    lines.append(f"c={section.connection}")
    lines += [f"b={bandwidth}" for bandwidth in section.bandwidths]
    lines += [line for line in section.extra if not line.startswith("a")]
    if section.mid is not None:
        lines.append(f"a=mid:{section.mid}")
    for extmap in section.extmaps:
        direction = f"/{extmap.direction}" if extmap.direction else ""
        attributes = f" {extmap.attributes}" if extmap.attributes is not None else ""
        lines.append(f"a=extmap:{extmap.id}{direction} {extmap.uri}{attributes}")
    lines.append(f"a={section.direction}")
    if section.msid is not None:
        lines.append(f"a=msid:{section.msid}")
    if section.rtcp_mux:
        lines.append("a=rtcp-mux")
    if section.rtcp_rsize:
        lines.append("a=rtcp-rsize")
    for codec in section.codecs:
        channels = f"/{codec.channels}" if codec.channels is not None else ""
        lines.append(f"a=rtpmap:{codec.payload_type} {codec.name}/{codec.clock_rate}{channels}")
        lines += [f"a=rtcp-fb:{codec.payload_type} {feedback}" for feedback in codec.rtcp_fb]
        if codec.fmtp is not None:
            lines.append(f"a=fmtp:{codec.payload_type} {codec.fmtp}")
    for rid in section.rids:
        lines.append(f"a=rid:{rid.id} {rid.direction}" + (f" {rid.params}" if rid.params else ""))
    if section.simulcast is not None:
        simulcast = section.simulcast
        text = f"a=simulcast:{simulcast.direction} {_stream_text(simulcast.streams)}"
        if simulcast.other:
            opposite = "recv" if simulcast.direction == "send" else "send"
            text += f" {opposite} {_stream_text(simulcast.other)}"
        lines.append(text)
    for group in section.ssrc_groups:
        lines.append(f"a=ssrc-group:{group.semantics} " + " ".join(map(str, group.ssrcs)))
    lines += [f"a=ssrc:{ssrc} {attribute}" for ssrc, attribute in section.ssrcs]
    if section.ice_ufrag is not None:
        lines.append(f"a=ice-ufrag:{section.ice_ufrag}")
    if section.ice_pwd is not None:
        lines.append(f"a=ice-pwd:{section.ice_pwd}")
    if section.ice_options is not None:
        lines.append(f"a=ice-options:{section.ice_options}")
    lines += [f"a=fingerprint:{algorithm} {value}" for algorithm, value in section.fingerprints]
    if section.setup is not None:
        lines.append(f"a=setup:{section.setup}")
    lines += [f"a=candidate:{candidate}" for candidate in section.candidates]
    if section.end_of_candidates:
        lines.append("a=end-of-candidates")
    lines += [line for line in section.extra if line.startswith("a")]
    return lines


def _stream_text(streams: list[list[str]]) -> str:
    return ";".join(",".join(alternatives) for alternatives in streams)
