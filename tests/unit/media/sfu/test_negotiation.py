"""Answers to real browser offers, and offers a browser can answer."""

from __future__ import annotations

from pathlib import Path

from mosaic.media.sfu.negotiation import (
    LocalTransport,
    SlotDescription,
    answer_publish,
    merged_extension_ids,
    offer_subscribe,
)
from mosaic.media.wire.sdp import parse_sdp

FIXTURES = Path(__file__).parent.parent / "fixtures"

CHROMIUM_OFFER = (FIXTURES / "chromium-publish-offer.sdp").read_text()
LOCAL = LocalTransport(
    "ufrag", "password-password-12", [("sha-256", "AA:BB")], ["1 1 udp 1 127.0.0.1 5000 typ host"]
)


def test_chromium_offer_gets_opus_vp8_rtx_and_simulcast_receive() -> None:
    answer, published = answer_publish(parse_sdp(CHROMIUM_OFFER), LOCAL, {"0": True, "1": True})
    audio, video = answer.media
    assert [c.name for c in audio.codecs] == ["opus"]
    assert [c.name for c in video.codecs] == ["VP8", "rtx"]
    assert video.direction == "recvonly" and video.setup == "active"
    assert [(r.id, r.direction) for r in video.rids] == [
        ("q", "recv"),
        ("h", "recv"),
        ("f", "recv"),
    ]
    assert video.simulcast is not None and video.simulcast.direction == "recv"
    assert answer.bundle == ["0", "1"]
    assert published[1].rids == ["q", "h", "f"] and published[1].rtx_payload_type == 97
    ids = merged_extension_ids(answer)
    assert (ids.audio_level, ids.mid, ids.rid, ids.repaired_rid) == (1, 4, 10, 11)
    # Extensions we do not use (transport-cc, video-timing...) are not accepted.
    assert not video.extmap_id(
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
    )


def test_a_section_the_participant_may_not_publish_is_turned_down() -> None:
    answer, published = answer_publish(parse_sdp(CHROMIUM_OFFER), LOCAL, {"0": True})
    assert answer.media[1].port == 0 and answer.media[1].direction == "inactive"
    assert [p.mid for p in published] == ["0"]
    assert answer.bundle == ["0"]


def test_subscribe_offer_declares_every_slot_with_its_ssrcs() -> None:
    slots = [
        SlotDescription("0", "audio", 11, 12, "s0", "cn"),
        SlotDescription("1", "video", 21, 22, "s1", "cn"),
    ]
    offer = parse_sdp(str(offer_subscribe(slots, LOCAL, 1)))
    audio, video = offer.media
    assert audio.direction == video.direction == "sendonly"
    assert [c.name for c in video.codecs] == ["VP8", "rtx"]
    assert video.ssrc_groups[0].ssrcs == [21, 22]
    assert audio.ssrc_list() == [11]
    assert offer.bundle == ["0", "1"] and video.setup == "actpass"


FIREFOX_OFFER = (FIXTURES / "firefox-140-publish-offer.sdp").read_text()


def test_firefox_bundle_only_camera_is_accepted_with_its_payload_types_and_rids() -> None:
    # Firefox's camera section has port 0 and a=bundle-only (RFC 8843 §6): taking that for a
    # refusal left Firefox unable to publish video while it received everyone else's.
    offer = parse_sdp(FIREFOX_OFFER)
    assert offer.media[1].port == 0 and not offer.media[1].rejected
    answer, published = answer_publish(offer, LOCAL, {"0": True, "1": True})
    audio, video = answer.media
    assert video.port != 0 and video.direction == "recvonly"
    assert [(c.name, c.payload_type) for c in audio.codecs] == [("opus", 109)]
    assert [(c.name, c.payload_type) for c in video.codecs] == [("VP8", 120), ("rtx", 124)]
    assert [r.id for r in video.rids] == ["q", "h", "f"]
    assert answer.bundle == ["0", "1"]
    camera = published[1]
    assert (camera.payload_type, camera.rtx_payload_type, camera.rids) == (
        120,
        124,
        ["q", "h", "f"],
    )
    # Layers are learnt from their rid extension, not from the SSRCs Firefox lists.
    assert camera.ssrcs == [] and camera.rtx_of == {}
    ids = merged_extension_ids(answer)
    assert (ids.audio_level, ids.mid, ids.rid, ids.repaired_rid) == (1, 3, 9, 10)
    # Only what we use is accepted: no transport-cc, playout-delay or dependency descriptor.
    assert {e.uri for e in video.extmaps} <= {
        "urn:ietf:params:rtp-hdrext:sdes:mid",
        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    }


def test_a_port_zero_section_without_bundle_only_is_still_a_refusal() -> None:
    offer = parse_sdp(FIREFOX_OFFER.replace("a=bundle-only\n", ""))
    answer, published = answer_publish(offer, LOCAL, {"0": True, "1": True})
    assert answer.media[1].rejected and [p.mid for p in published] == ["0"]
