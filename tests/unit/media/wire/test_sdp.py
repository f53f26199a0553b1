"""Our SDP reader and writer: real browser offers, structural errors, lossless round trips."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    parse_sdp,
    serialize_sdp,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
CHROMIUM_SIMULCAST = (FIXTURES / "chromium-156-simulcast-offer.sdp").read_bytes().decode()
CHROMIUM_DATACHANNEL = (FIXTURES / "chromium-156-datachannel-offer.sdp").read_bytes().decode()
CHROMIUM_ANSWER = (FIXTURES / "chromium-156-subscribe-answer.sdp").read_bytes().decode()
FIREFOX_SIMULCAST = (FIXTURES / "firefox-128-simulcast-offer.sdp").read_bytes().decode()
ALL_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.sdp"))

SDES_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
SDES_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MINIMAL = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


# -- real browser descriptions -----------------------------------------------------------------


def test_a_chromium_simulcast_offer_is_understood() -> None:
    offer = parse_sdp(CHROMIUM_SIMULCAST)
    assert offer.bundle == ["0", "1"] and offer.origin_id == 8814123034143433144
    assert offer.msid_semantic == "WMS 11d4022d-2e9d-4273-8faa-cd2aff63c41c"
    audio, video = offer.media
    assert (audio.kind, audio.mid, audio.direction, audio.port) == ("audio", "0", "sendonly", 57590)
    assert audio.codec(111) == Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1",
                                     ["transport-cc"])  # fmt: skip
    assert audio.extmap_id(AUDIO_LEVEL) == 1
    assert video.simulcast == Simulcast("send", [["q"], ["h"], ["f"]])
    assert video.rids == [Rid("q", "send"), Rid("h", "send"), Rid("f", "send")]
    assert (video.extmap_id(SDES_RID), video.extmap_id(SDES_REPAIRED_RID)) == (10, 11)
    vp8 = video.codec(96)
    assert vp8 is not None and vp8.rtcp_fb == [
        "goog-remb", "transport-cc", "ccm fir", "nack", "nack pli",
    ]  # fmt: skip
    assert video.codec(97).parameters() == {"apt": "96"}  # type: ignore[union-attr]
    assert video.ssrcs == []  # simulcast: SSRCs are learned from the rid extension
    assert video.ice_ufrag == "ctUR" and video.fingerprints[0][0] == "sha-256"
    assert (video.setup, video.rtcp_mux, video.rtcp_rsize) == ("actpass", True, True)
    assert len(video.candidates) == 4 and video.connection == "IN IP4 192.0.2.2"
    assert "a=rtcp-xr:rcvr-rtt=all" in video.extra and "a=extmap-allow-mixed" in offer.extra


def test_a_chromium_offer_with_a_data_channel_keeps_the_sctp_section() -> None:
    offer = parse_sdp(CHROMIUM_DATACHANNEL)
    audio, video, data = offer.media
    assert video.ssrc_groups == [SsrcGroup("FID", [71013096, 2635665109])]
    assert video.ssrcs[0] == Ssrc(71013096, "cname:8AhHyAjQnx/JHTxL")
    assert video.ssrcs[0].name == "cname" and video.ssrcs[0].value == "8AhHyAjQnx/JHTxL"
    assert video.ssrc_list() == [71013096, 2635665109]
    assert (data.kind, data.protocol, data.formats) == (
        "application", "UDP/DTLS/SCTP", ["webrtc-datachannel"],
    )  # fmt: skip
    assert "a=sctp-port:5000" in data.extra and not data.is_rtp
    assert offer.msid_semantic == "WMS" and audio.msid == "- aa89ce7f-6c86-4635-8bac-2788650ffd08"


def test_a_firefox_offer_in_alphabetical_order_is_understood() -> None:
    offer = parse_sdp(FIREFOX_SIMULCAST)
    audio, video = offer.media
    # The fingerprint sits at session level in Firefox offers: every section gets it.
    assert audio.fingerprints == video.fingerprints and video.fingerprints[0][0] == "sha-256"
    assert audio.ice_options == "trickle"
    # fmtp comes before rtpmap, and is still matched to its codec.
    assert video.codec(124).parameters() == {"apt": "120"}  # type: ignore[union-attr]
    assert audio.codec(109).fmtp == "maxplaybackrate=48000;stereo=1;useinbandfec=1"  # type: ignore[union-attr]
    assert audio.codec(9) == Codec(9, "G722", 8000, 1)
    assert video.codec(120).rtcp_fb[:2] == ["nack", "nack pli"]  # type: ignore[union-attr]
    assert video.simulcast is not None and video.simulcast.rids() == ["h", "m", "l"]
    assert (video.extmap_id(SDES_RID), video.extmap_id(SDES_REPAIRED_RID)) == (8, 9)
    assert Extmap(6, "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay", "recvonly") in (
        video.extmaps
    )
    assert [group.semantics for group in video.ssrc_groups] == ["FID"] * 3
    assert video.end_of_candidates and offer.origin_username.startswith("mozilla")
    assert not [line for line in video.extra if line.startswith(("a=fmtp", "a=rtcp-fb"))]


def test_chromium_answered_an_offer_we_wrote() -> None:
    answer = parse_sdp(CHROMIUM_ANSWER)
    assert [(m.mid, m.direction, m.setup) for m in answer.media] == [
        ("0", "recvonly", "active"), ("1", "recvonly", "active"), ("2", "recvonly", "active"),
    ]  # fmt: skip
    assert [c.name for c in answer.media[1].codecs] == ["VP8", "rtx"]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_reading_and_writing_a_real_description_loses_nothing(name: str) -> None:
    text = (FIXTURES / name).read_bytes().decode()
    first = parse_sdp(text)
    written = serialize_sdp(first)
    assert parse_sdp(written) == first
    assert serialize_sdp(parse_sdp(written)) == written
    assert written.endswith("\r\n") and "\n" not in written.replace("\r\n", "")
    # Every line of the original is still there, perhaps moved (session-level attributes
    # are written into each section; Firefox's session-level a=sendrecv is a default that
    # every section of its overrides).
    lines = set(written.split("\r\n"))
    moved = ("a=fingerprint", "a=ice-options", "a=msid-semantic", "a=sendrecv", "c=", "o=")
    missing = [line for line in text.splitlines() if line not in lines]
    assert [line for line in missing if not line.startswith(moved)] == []


# -- writing -----------------------------------------------------------------------------------


def subscribe_offer() -> SessionDescription:
    video = MediaSection(
        kind="video",
        formats=["96", "97"],
        mid="1",
        direction="sendonly",
        codecs=[
            Codec(96, "VP8", 90000, None, None, ["nack", "nack pli"]),
            Codec(97, "rtx", 90000, None, "apt=96"),
        ],
        extmaps=[Extmap(2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")],
        ssrcs=[Ssrc(11, "cname:c"), Ssrc(12, "cname:c")],
        ssrc_groups=[SsrcGroup("FID", [11, 12])],
        rids=[Rid("q", "recv")],
        simulcast=Simulcast("recv", [["q"]]),
        msid="s t",
        ice_ufrag="u",
        ice_pwd="p" * 22,
        ice_options="trickle",
        fingerprints=[("sha-256", "AB:CD")],
        setup="actpass",
        candidates=["1 1 udp 1 127.0.0.1 5000 typ host"],
        end_of_candidates=True,
        rtcp_mux=True,
        rtcp_rsize=True,
        extra=["a=x-mosaic:1"],
    )
    return SessionDescription(origin_id=42, version=3, bundle=["1"], media=[video])


def test_attributes_are_written_in_the_order_browsers_use() -> None:
    text = str(subscribe_offer())
    order = [
        "v=0", "o=- 42 3 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 1",
        "a=msid-semantic: WMS *", "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 0.0.0.0",
        "a=mid:1", "a=extmap:2", "a=sendonly", "a=msid:s t", "a=rtcp-mux", "a=rtcp-rsize",
        "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", "a=rid:q recv", "a=simulcast:recv q",
        "a=ssrc-group:FID 11 12", "a=ssrc:11 cname:c", "a=ssrc:12 cname:c", "a=ice-ufrag:u",
        "a=ice-pwd:", "a=ice-options:trickle", "a=fingerprint:sha-256 AB:CD",
        "a=setup:actpass", "a=candidate:1 1 udp", "a=end-of-candidates", "a=x-mosaic:1",
    ]  # fmt: skip
    lines = text.split("\r\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == len(order)
    for line, start in zip(lines, order, strict=False):
        assert line.startswith(start)
    assert subscribe_offer().serialize() == text


def test_a_line_break_inside_a_value_is_refused() -> None:
    offer = subscribe_offer()
    offer.media[0].msid = "s\r\na=evil"
    with pytest.raises(ValueError, match="line break"):
        str(offer)


# -- reading details ---------------------------------------------------------------------------


def section(*lines: str, media: str = "m=video 9 UDP/TLS/RTP/SAVPF 96 97") -> MediaSection:
    return parse_sdp(MINIMAL + "\r\n".join([media, *lines]) + "\r\n").media[0]


def test_simulcast_with_paused_rids_and_alternatives_in_both_directions() -> None:
    simulcast = section("a=simulcast:send h;~m,m2;l recv r1;r2").simulcast
    assert simulcast == Simulcast("send", [["h"], ["~m", "m2"], ["l"]], [["r1"], ["r2"]])
    assert simulcast.rids() == ["h", "m", "l"]
    written = str(parse_sdp(MINIMAL + "m=video 9 RTP/AVP 96\r\na=simulcast:recv ~a;b\r\n"))
    assert "a=simulcast:recv ~a;b\r\n" in written


def test_lf_line_ends_and_blank_lines_are_tolerated() -> None:
    text = MINIMAL.replace("\r\n", "\n") + "\nm=audio 9 RTP/AVP 0\n\na=mid:a\n"
    assert parse_sdp(text).media[0].mid == "a"


def test_unknown_media_kinds_are_kept_as_they_are() -> None:
    description = parse_sdp(MINIMAL + "m=text 9 RTP/AVP 98\r\na=rtpmap:98 t140/1000\r\n")
    assert description.media[0].kind == "text"
    assert "m=text 9 RTP/AVP 98" in str(description)


def test_empty_session_level_values_are_inherited_as_empty_not_as_missing() -> None:
    text = MINIMAL + "a=ice-options:\r\na=ice-ufrag:\r\nm=audio 9 RTP/AVP 0\r\n"
    description = parse_sdp(text)
    assert (description.media[0].ice_options, description.media[0].ice_ufrag) == ("", "")
    assert parse_sdp(str(description)) == description


def test_session_level_direction_applies_where_a_section_says_nothing() -> None:
    text = MINIMAL + "a=recvonly\r\nm=audio 9 RTP/AVP 0\r\nm=audio 9 RTP/AVP 0\r\na=inactive\r\n"
    assert [m.direction for m in parse_sdp(text).media] == ["recvonly", "inactive"]


def test_codec_attributes_for_unknown_payload_types_are_kept_verbatim() -> None:
    s = section("a=fmtp:97 apt=96", "a=rtcp-fb:* nack", "a=rtpmap:96 VP8/90000", "a=fmtp:99 x")
    assert s.codec(96).rtcp_fb == ["nack"]  # type: ignore[union-attr]
    assert s.extra == ["a=fmtp:97 apt=96", "a=fmtp:99 x"]


def test_rejected_sections_are_recognised() -> None:
    assert section(media="m=video 0 UDP/TLS/RTP/SAVPF 96").rejected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "v=1\r\n",
        "v=0\r\ns=-\r\n",  # no o= line
        "v=0\r\no=- x 1 IN IP4 0.0.0.0\r\n",  # session id not a number
        "v=0\r\no=- 1 1 IN IP4\r\n",  # five fields
        MINIMAL + "x\r\n",  # not <type>=<value>
        MINIMAL + "A=b\r\n",
        MINIMAL + "a=x\x00y\r\n",  # a control character
        MINIMAL + "m=audio\r\n",
        MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF\r\n",  # no formats
        MINIMAL + "m=audio x UDP/TLS/RTP/SAVPF 111\r\n",
        MINIMAL + "m=audio 70000 UDP/TLS/RTP/SAVPF 111\r\n",
        MINIMAL + "m=audio 9/2 UDP/TLS/RTP/SAVPF 111\r\n",
        MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF 300\r\n",
        MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF \uff11\uff11\r\n",  # fullwidth digits
        MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF 1_1\r\n",
        MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF 111 111\r\n",
        MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:96 opus/48000\r\n",
        MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus\r\n",
        MINIMAL + "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 a/1\r\na=rtpmap:0 b/1\r\n",
        MINIMAL + "m=audio 9 RTP/AVP 0\r\na=mid:a\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n",
        MINIMAL + "m=audio 9 RTP/AVP 0\r\na=mid:a\r\na=mid:b\r\n",
        MINIMAL + "m=audio 9 RTP/AVP 0\r\na=mid:\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=extmap:0 urn:x\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=extmap:256 urn:x\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=extmap:1/sideways urn:x\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=extmap:1 urn:x\r\na=extmap:1 urn:y\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=extmap:1\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=simulcast:sideways a;b\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=simulcast:send a;;b\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=simulcast:send a recv\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=simulcast:send a send b\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=rid:h\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=rid:h/x send\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=rid:h send\r\na=rid:h send\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=ssrc:1\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=ssrc:4294967296 cname:x\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=ssrc-group:FID\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=setup:whatever\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=fingerprint:sha-256\r\n",
        MINIMAL + "m=video 9 RTP/AVP 96\r\na=candidate:\r\n",
        MINIMAL + "m=audio 9 RTP/AVP 0\r\n" * 65,
        MINIMAL + "a=x:" + "y" * 70000 + "\r\n",
    ],
)
def test_structural_errors_are_sdp_errors(text: str) -> None:
    with pytest.raises(SdpError):
        parse_sdp(text)


def test_sixty_four_sections_are_allowed() -> None:
    assert len(parse_sdp(MINIMAL + "m=audio 9 RTP/AVP 0\r\n" * 64).media) == 64


# -- properties --------------------------------------------------------------------------------

TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789-_.", min_size=1, max_size=12)
RID = st.text("abcXYZ019-_", min_size=1, max_size=8)
WORDS = st.lists(TOKEN, min_size=1, max_size=3).map(" ".join)


@st.composite
def codecs(draw: st.DrawFn) -> list[Codec]:
    payload_types = draw(st.lists(st.integers(0, 127), max_size=5, unique=True))
    return [
        Codec(
            pt,
            draw(TOKEN),
            draw(st.integers(1, 200_000)),
            draw(st.none() | st.integers(1, 8)),
            draw(st.none() | st.lists(TOKEN.map(lambda t: t + "=1"), min_size=1).map(";".join)),
            draw(st.lists(WORDS, max_size=3)),
        )
        for pt in payload_types
    ]


@st.composite
def media_sections(draw: st.DrawFn, mid: str) -> MediaSection:
    section_codecs = draw(codecs())
    formats = [str(c.payload_type) for c in section_codecs]
    formats += [str(pt) for pt in draw(st.lists(st.integers(0, 127), max_size=2, unique=True))
                if str(pt) not in formats]  # fmt: skip
    ext_ids = draw(st.lists(st.integers(1, 255), max_size=4, unique=True))
    rids = draw(st.lists(RID, max_size=3, unique=True))
    paused = st.builds(lambda p, r: ("~" if p else "") + r, st.booleans(), RID)
    return MediaSection(
        kind=draw(st.sampled_from(["audio", "video", "text"])),
        port=draw(st.integers(0, 65535)),
        protocol="UDP/TLS/RTP/SAVPF",
        formats=formats or ["0"],
        mid=mid,
        direction=draw(st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"])),
        codecs=section_codecs,
        extmaps=[
            Extmap(
                i,
                "urn:" + draw(TOKEN),
                draw(st.none() | st.sampled_from(["sendonly"])),
                draw(st.none() | TOKEN),
            )
            for i in ext_ids
        ],
        msid=draw(st.none() | WORDS),
        ssrcs=draw(
            st.lists(st.builds(Ssrc, st.integers(0, 2**32 - 1), TOKEN.map("cname:".__add__)))
        ),
        ssrc_groups=draw(
            st.lists(
                st.builds(
                    SsrcGroup,
                    st.sampled_from(["FID", "SIM"]),
                    st.lists(st.integers(0, 2**32 - 1), min_size=1),
                )
            )
        ),
        rids=[
            Rid(r, draw(st.sampled_from(["send", "recv"])), draw(st.just("") | TOKEN)) for r in rids
        ],
        simulcast=draw(
            st.none()
            | st.builds(
                Simulcast,
                st.sampled_from(["send", "recv"]),
                st.lists(st.lists(paused, min_size=1, max_size=2), min_size=1, max_size=3),
                st.lists(st.lists(RID, min_size=1, max_size=2), max_size=2),
            )
        ),
        ice_ufrag=draw(st.none() | TOKEN),
        ice_pwd=draw(st.none() | TOKEN),
        ice_options=draw(st.none() | st.just("trickle")),
        fingerprints=draw(
            st.lists(st.tuples(st.sampled_from(["sha-256", "sha-1"]), TOKEN), max_size=2)
        ),
        setup=draw(st.none() | st.sampled_from(["actpass", "active", "passive"])),
        candidates=draw(st.lists(WORDS, max_size=3)),
        end_of_candidates=draw(st.booleans()),
        rtcp_mux=draw(st.booleans()),
        rtcp_rsize=draw(st.booleans()),
        connection=draw(st.sampled_from(["IN IP4 0.0.0.0", "IN IP6 ::1"])),
        bandwidths=draw(st.lists(st.integers(1, 10**6).map("AS:{}".format), max_size=1)),
        extra=draw(st.lists(TOKEN.map("a=x-".__add__), max_size=3)),
    )


@st.composite
def descriptions(draw: st.DrawFn) -> SessionDescription:
    mids = draw(st.lists(TOKEN, max_size=4, unique=True))
    return SessionDescription(
        origin_id=draw(st.integers(0, 2**63)),
        version=draw(st.integers(0, 2**32)),
        bundle=draw(st.lists(TOKEN, max_size=3)),
        msid_semantic=draw(st.none() | st.sampled_from(["WMS *", "WMS", "WMS a b"])),
        ice_lite=draw(st.booleans()),
        media=[draw(media_sections(mid)) for mid in mids],
        extra=draw(st.lists(TOKEN.map("a=x-".__add__), max_size=2)),
        origin_username=draw(st.sampled_from(["-", "mozilla...THIS_IS_SDPARTA-128.0"])),
        session_name=draw(st.sampled_from(["-", "Mosaic"])),
    )


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions())
def test_any_description_we_can_build_reads_back_equal(description: SessionDescription) -> None:
    assert parse_sdp(serialize_sdp(description)) == description


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_a_description_or_an_sdp_error(text: str) -> None:
    with contextlib.suppress(SdpError):
        parse_sdp(text)


SOURCE_LINES = CHROMIUM_SIMULCAST.splitlines() + FIREFOX_SIMULCAST.splitlines()[8:40]
MUTATION = st.tuples(
    st.sampled_from(["delete", "duplicate", "garble", "truncate"]),
    st.integers(0, 10**6),
    st.text(max_size=20),
)


@settings(max_examples=300)
@given(st.lists(MUTATION, min_size=1, max_size=6))
def test_damaged_real_offers_give_a_description_or_an_sdp_error(
    mutations: list[tuple[str, int, str]],
) -> None:
    lines = list(SOURCE_LINES)
    for action, where, text in mutations:
        index = where % len(lines)
        if action == "delete" and len(lines) > 1:
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "garble":
            line = lines[index]
            cut = where % (len(line) + 1)
            lines[index] = line[:cut] + text + line[cut:]
        else:
            lines[index] = lines[index][: where % (len(lines[index]) + 1)]
    try:
        description = parse_sdp("\r\n".join(lines))
    except SdpError:
        return
    try:
        written = serialize_sdp(description)
    except ValueError:
        return  # a garbled value with a line break in it is refused on the way out too
    assert parse_sdp(written) == description
