"""Our SDP reader and writer, on a real Chromium offer and on generated descriptions."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sdp import (
    Codec,
    Extmap,
    MediaSection,
    Rid,
    SdpError,
    SessionDescription,
    Simulcast,
    SsrcGroup,
    parse_sdp,
    serialize_sdp,
)

FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM_OFFER = (FIXTURES / "chromium-publish-offer.sdp").read_text()


def test_a_chromium_simulcast_offer_is_understood() -> None:
    offer = parse_sdp(CHROMIUM_OFFER)
    assert offer.bundle == ["0", "1"]
    audio, video = offer.media
    assert (audio.kind, audio.mid, audio.direction) == ("audio", "0", "sendonly")
    assert audio.codec(111).name == "opus"  # type: ignore[union-attr]
    assert audio.extmap_id("urn:ietf:params:rtp-hdrext:ssrc-audio-level") == 1
    assert video.simulcast == Simulcast("send", [["q"], ["h"], ["f"]])
    assert [rid.id for rid in video.rids] == ["q", "h", "f"]
    vp8 = video.codec(96)
    assert vp8 and vp8.name == "VP8" and "nack pli" in vp8.rtcp_fb
    assert video.codec(97).parameters() == {"apt": "96"}  # type: ignore[union-attr]
    assert video.ice_ufrag and video.fingerprints[0][0] == "sha-256"
    assert video.setup == "actpass"
    assert any(" 127.0.0.1 " in c for c in video.candidates)


def test_reading_and_writing_loses_nothing() -> None:
    offer = parse_sdp(CHROMIUM_OFFER)
    again = parse_sdp(serialize_sdp(offer))
    assert again == offer
    assert "a=rtcp-xr:rcvr-rtt=all" in serialize_sdp(offer)  # unknown attributes kept


def test_session_level_fingerprints_apply_to_every_section() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "a=fingerprint:sha-256 AA:BB\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 109\r\na=mid:0\r\na=rtpmap:109 opus/48000/2\r\n"
    )
    (section,) = parse_sdp(text).media
    assert section.fingerprints == [("sha-256", "AA:BB")]
    assert (section.ice_ufrag, section.ice_pwd) == ("u", "p")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "v=1\r\n",
        "v=0\r\nm=audio\r\n",
        "v=0\r\nm=audio x UDP/TLS/RTP/SAVPF 111\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 300\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:96 opus/48000\r\n",
        "v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n",
        "v=0\r\nm=video 9 RTP/AVP 96\r\na=extmap:0 urn:x\r\n",
        "v=0\r\nm=video 9 RTP/AVP 96\r\na=simulcast:sideways a;b\r\n",
        "v=0\r\n" + "m=audio 9 RTP/AVP 0\r\n" * 65,
        "v=0\r\n" + "a=x:" + "y" * 70000 + "\r\n",
    ],
)
def test_broken_descriptions_raise_sdp_error(text: str) -> None:
    with pytest.raises(SdpError):
        parse_sdp(text)


@settings(max_examples=500)
@given(st.text(max_size=400))
def test_any_text_parses_or_raises_sdp_error(text: str) -> None:
    with contextlib.suppress(SdpError):
        parse_sdp("v=0\r\n" + text)


@settings(max_examples=300)
@given(st.lists(st.text(alphabet="=:/ ;,-~0123456789abcmrv\r\n", max_size=60), max_size=30))
def test_line_soup_parses_or_raises_sdp_error(lines: list[str]) -> None:
    with contextlib.suppress(SdpError):
        parse_sdp("\r\n".join(["v=0", "m=video 9 UDP/TLS/RTP/SAVPF 96", *lines]))


tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
sections = st.builds(
    lambda kind, mid, pts, ext_ids, rids, ssrc, direction: MediaSection(
        kind=kind,
        formats=[str(pt) for pt in pts],
        mid=mid,
        direction=direction,
        codecs=[Codec(pt, "VP8", 90000, None, f"x={pt}", ["nack", "nack pli"]) for pt in pts],
        extmaps=[Extmap(i, f"urn:test:{i}") for i in ext_ids],
        rids=[Rid(r, "send") for r in rids],
        simulcast=Simulcast("send", [[r] for r in rids]) if rids else None,
        ssrcs=[(ssrc, "cname:abc")],
        ssrc_groups=[SsrcGroup("FID", [ssrc, ssrc + 1])],
        ice_ufrag="uf",
        ice_pwd="pw",
        fingerprints=[("sha-256", "AB:CD")],
        setup="actpass",
        rtcp_mux=True,
    ),
    st.sampled_from(["audio", "video"]),
    tokens,
    st.lists(st.integers(0, 127), min_size=1, max_size=4, unique=True),
    st.lists(st.integers(1, 14), max_size=4, unique=True),
    st.lists(tokens, max_size=3, unique=True),
    st.integers(1, 2**31),
    st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"]),
)


@given(st.lists(sections, min_size=1, max_size=5, unique_by=lambda s: s.mid))
def test_generated_descriptions_round_trip(media: list[MediaSection]) -> None:
    description = SessionDescription(bundle=[m.mid for m in media if m.mid], media=media)
    assert parse_sdp(serialize_sdp(description)) == description
