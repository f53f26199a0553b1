"""Offer/answer for the SFU's two kinds of connection (RFC 8829).

Publish: the participant offers what it sends; we accept Opus and VP8 (with RTX and simulcast)
and turn down the rest. Subscribe: we offer a fixed set of sending slots, each with its own
SSRCs, in our own payload-type and header-extension numbering, whatever each publisher used.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from mosaic.media.wire.rtp import ExtensionIds
from mosaic.media.wire.sdp import (
    Codec,
    Extmap,
    MediaSection,
    Rid,
    SdpError,
    SessionDescription,
    Simulcast,
    Ssrc,
    SsrcGroup,
)

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
SDES_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
SDES_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
SDES_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
ACCEPTED_EXTENSIONS = {
    "audio": (AUDIO_LEVEL, SDES_MID),
    "video": (SDES_MID, SDES_RID, SDES_REPAIRED_RID, ABS_SEND_TIME),
}
VIDEO_FEEDBACK = ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
# Transport-wide feedback covers audio packets too (they share the downlink).
AUDIO_FEEDBACK = ["transport-cc"]
MAX_SIMULCAST_LAYERS = 3

# Our numbering on subscribe connections.
OPUS_PT = 111
VP8_PT = 96
RTX_PT = 97
AUDIO_LEVEL_ID = 1
ABS_SEND_TIME_ID = 2
TRANSPORT_CC_ID = 3
DOWN_EXTENSIONS = ExtensionIds(
    audio_level=AUDIO_LEVEL_ID, abs_send_time=ABS_SEND_TIME_ID, transport_cc=TRANSPORT_CC_ID
)


@dataclass(frozen=True)
class LocalTransport:
    """Our side of one connection's ICE and DTLS, as SDP needs it."""

    ice_ufrag: str
    ice_pwd: str
    fingerprints: list[tuple[str, str]]
    candidates: list[str]


@dataclass(frozen=True)
class RemoteTransport:
    ice_ufrag: str
    ice_pwd: str
    fingerprints: list[tuple[str, str]]
    candidates: list[str]
    setup: str


@dataclass
class PublishedSection:
    """One accepted m-section of a publish offer: a track we will receive."""

    mid: str
    kind: str
    codec: str
    payload_type: int
    clock_rate: int
    rtx_payload_type: int | None
    rids: list[str]
    # SSRCs declared in the offer (browsers declare them without simulcast): media → RTX.
    ssrcs: list[int] = field(default_factory=list)
    rtx_of: dict[int, int] = field(default_factory=dict)


def remote_transport(description: SessionDescription) -> RemoteTransport:
    """The remote ICE credentials, fingerprints and candidates (BUNDLE: the first section)."""
    sections = [m for m in description.media if not m.rejected]
    if not sections:
        raise SdpError("no usable media section")
    first = sections[0]
    if not (first.ice_ufrag and first.ice_pwd and first.fingerprints):
        raise SdpError("missing ICE credentials or DTLS fingerprint")
    candidates = [c for m in sections for c in m.candidates]
    return RemoteTransport(
        first.ice_ufrag, first.ice_pwd, first.fingerprints, candidates, first.setup or "actpass"
    )


def answer_setup(offer_setup: str) -> str:
    """Our DTLS role (RFC 8842 §5.3): as answerer we initiate unless the offerer will."""
    return "passive" if offer_setup == "active" else "active"


def _transport_attributes(section: MediaSection, local: LocalTransport, setup: str) -> None:
    section.ice_ufrag = local.ice_ufrag
    section.ice_pwd = local.ice_pwd
    section.fingerprints = list(local.fingerprints)
    section.setup = setup
    section.candidates = list(local.candidates)
    section.end_of_candidates = True
    section.rtcp_mux = True


def _reject(offered: MediaSection) -> MediaSection:
    return MediaSection(
        kind=offered.kind,
        port=0,
        protocol=offered.protocol,
        formats=offered.formats[:1] or ["0"],
        mid=offered.mid,
        direction="inactive",
    )


def _pick(offered: MediaSection, name: str, clock_rate: int) -> Codec | None:
    for codec in offered.codecs:
        if codec.name.lower() == name and codec.clock_rate == clock_rate:
            return codec
    return None


def _rtx_for(offered: MediaSection, payload_type: int) -> Codec | None:
    for codec in offered.codecs:
        if codec.name.lower() == "rtx" and codec.parameters().get("apt") == str(payload_type):
            return codec
    return None


def answer_publish(
    offer: SessionDescription,
    local: LocalTransport,
    accept: dict[str, bool],
) -> tuple[SessionDescription, list[PublishedSection]]:
    """Answer a publish offer. ``accept`` says, per mid, whether that track may be published
    (permissions were checked by the caller); other sections are turned down."""
    setup = answer_setup(remote_transport(offer).setup)
    answer = SessionDescription(origin_id=secrets.randbelow(2**62), version=1)
    published: list[PublishedSection] = []
    for offered in offer.media:
        section = _answer_section(offered, accept.get(offered.mid or "", False), local, setup)
        answer.media.append(section)
        if section.rejected:
            continue
        codec = section.codecs[0]
        rtx = section.codecs[1] if len(section.codecs) > 1 else None
        # Simulcast layers are told apart by their rid header extension (RFC 8852), not
        # by the SSRCs an offer may list (Firefox lists one pair per layer, in no set order).
        ssrcs, rtx_of = ([], {}) if section.simulcast else _declared_ssrcs(offered)
        published.append(
            PublishedSection(
                mid=section.mid or "",
                kind=section.kind,
                codec=codec.name.lower(),
                payload_type=codec.payload_type,
                clock_rate=codec.clock_rate,
                rtx_payload_type=rtx.payload_type if rtx else None,
                rids=section.simulcast.rids() if section.simulcast else [],
                ssrcs=ssrcs,
                rtx_of=rtx_of,
            )
        )
    answer.bundle = [m.mid for m in answer.media if not m.rejected and m.mid is not None]
    return answer, published


def _answer_section(
    offered: MediaSection, allowed: bool, local: LocalTransport, setup: str
) -> MediaSection:
    if not allowed or offered.rejected or offered.kind not in ("audio", "video"):
        return _reject(offered)
    if offered.direction not in ("sendonly", "sendrecv"):
        return _reject(offered)
    if offered.kind == "audio":
        codec = _pick(offered, "opus", 48000)
        codecs = (
            [Codec(codec.payload_type, "opus", 48000, 2, "minptime=10;useinbandfec=1")]
            if codec
            else []
        )
    else:
        codec = _pick(offered, "vp8", 90000)
        codecs = []
        if codec:
            codecs.append(Codec(codec.payload_type, "VP8", 90000, None, None, list(VIDEO_FEEDBACK)))
            rtx = _rtx_for(offered, codec.payload_type)
            if rtx:
                codecs.append(
                    Codec(rtx.payload_type, "rtx", 90000, None, f"apt={codec.payload_type}")
                )
    if not codecs:
        return _reject(offered)
    section = MediaSection(
        kind=offered.kind,
        port=9,
        protocol=offered.protocol,
        formats=[str(c.payload_type) for c in codecs],
        mid=offered.mid,
        direction="recvonly",
        codecs=codecs,
        extmaps=[
            Extmap(e.id, e.uri)
            for e in offered.extmaps
            if e.uri in ACCEPTED_EXTENSIONS[offered.kind]
        ],
        rtcp_rsize=offered.rtcp_rsize,
    )
    if offered.simulcast and offered.simulcast.direction == "send" and offered.kind == "video":
        rids = offered.simulcast.rids()[:MAX_SIMULCAST_LAYERS]
        section.rids = [Rid(rid, "recv") for rid in rids]
        section.simulcast = Simulcast("recv", [[rid] for rid in rids])
    _transport_attributes(section, local, setup)
    return section


def _declared_ssrcs(offered: MediaSection) -> tuple[list[int], dict[int, int]]:
    rtx_of: dict[int, int] = {}
    for group in offered.ssrc_groups:
        if group.semantics == "FID" and len(group.ssrcs) == 2:
            rtx_of[group.ssrcs[1]] = group.ssrcs[0]
    media = [ssrc for ssrc in offered.ssrc_list() if ssrc not in rtx_of]
    return media, rtx_of


def extension_ids(section: MediaSection) -> ExtensionIds:
    return ExtensionIds(
        audio_level=section.extmap_id(AUDIO_LEVEL),
        abs_send_time=section.extmap_id(ABS_SEND_TIME),
        mid=section.extmap_id(SDES_MID),
        rid=section.extmap_id(SDES_RID),
        repaired_rid=section.extmap_id(SDES_REPAIRED_RID),
    )


def merged_extension_ids(description: SessionDescription) -> ExtensionIds:
    """One numbering for a bundle: browsers use the same id for a URI in every section."""
    ids = ExtensionIds()
    for section in description.media:
        if section.rejected:
            continue
        found = extension_ids(section)
        for name in ("audio_level", "abs_send_time", "mid", "rid", "repaired_rid"):
            if getattr(found, name) and not getattr(ids, name):
                setattr(ids, name, getattr(found, name))
    return ids


# -- subscribe offers --------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotDescription:
    mid: str
    kind: str
    ssrc: int
    rtx_ssrc: int
    stream_id: str
    cname: str


def offer_subscribe(
    slots: list[SlotDescription], local: LocalTransport, version: int
) -> SessionDescription:
    """Our offer for a subscribe connection: one send-only section per slot."""
    offer = SessionDescription(origin_id=secrets.randbelow(2**62), version=version)
    for slot in slots:
        if slot.kind == "audio":
            section = MediaSection(
                kind="audio",
                formats=[str(OPUS_PT)],
                codecs=[
                    Codec(
                        OPUS_PT,
                        "opus",
                        48000,
                        2,
                        "minptime=10;useinbandfec=1",
                        list(AUDIO_FEEDBACK),
                    )
                ],
                extmaps=[
                    Extmap(AUDIO_LEVEL_ID, AUDIO_LEVEL),
                    Extmap(TRANSPORT_CC_ID, TRANSPORT_CC),
                ],
                ssrcs=[
                    Ssrc(slot.ssrc, f"cname:{slot.cname}"),
                    Ssrc(slot.ssrc, f"msid:{slot.stream_id} {slot.mid}"),
                ],
            )
        else:
            section = MediaSection(
                kind="video",
                formats=[str(VP8_PT), str(RTX_PT)],
                codecs=[
                    Codec(VP8_PT, "VP8", 90000, None, None, list(VIDEO_FEEDBACK)),
                    Codec(RTX_PT, "rtx", 90000, None, f"apt={VP8_PT}"),
                ],
                extmaps=[
                    Extmap(ABS_SEND_TIME_ID, ABS_SEND_TIME),
                    Extmap(TRANSPORT_CC_ID, TRANSPORT_CC),
                ],
                ssrc_groups=[SsrcGroup("FID", [slot.ssrc, slot.rtx_ssrc])],
                ssrcs=[
                    Ssrc(slot.ssrc, f"cname:{slot.cname}"),
                    Ssrc(slot.ssrc, f"msid:{slot.stream_id} {slot.mid}"),
                    Ssrc(slot.rtx_ssrc, f"cname:{slot.cname}"),
                    Ssrc(slot.rtx_ssrc, f"msid:{slot.stream_id} {slot.mid}"),
                ],
            )
        section.mid = slot.mid
        section.direction = "sendonly"
        section.msid = f"{slot.stream_id} {slot.mid}"
        section.rtcp_rsize = True
        _transport_attributes(section, local, "actpass")
        offer.media.append(section)
    offer.bundle = [slot.mid for slot in slots]
    return offer


def check_subscribe_answer(answer: SessionDescription, slots: list[SlotDescription]) -> None:
    """The answer must take every slot we offered, in order."""
    if [m.mid for m in answer.media] != [slot.mid for slot in slots]:
        raise SdpError("the answer's media sections do not match the offer")
    for section in answer.media:
        if section.rejected:
            raise SdpError(f"the answer turned down media section {section.mid}")


def transport_cc_mids(answer: SessionDescription) -> set[str]:
    """The sections whose receiver kept the transport-wide sequence number: Chromium keeps
    it on audio and video, Firefox on video only (it reads the number on no audio packet,
    and reports every one as lost), aiortc on none (REMB and receiver reports only)."""
    return {
        section.mid
        for section in answer.media
        if section.mid is not None
        and not section.rejected
        and section.extmap_id(TRANSPORT_CC) == TRANSPORT_CC_ID
    }
