"""Keyframes and picture sizes from payload descriptors, without decoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.wire.codecs import is_keyframe, vp8_picture_ids, vp8_picture_size
from tests.helpers.packets import vp8_keyframe_header

# -- VP8 (RFC 7741) ----------------------------------------------------------------------------


def test_a_vp8_keyframe_starts_partition_0_with_the_p_bit_clear() -> None:
    assert is_keyframe("VP8", bytes([0x10]) + vp8_keyframe_header(640, 360))
    assert not is_keyframe("VP8", bytes([0x10, 0x01]))  # P = 1: an interframe


@pytest.mark.parametrize(
    "descriptor",
    [
        bytes([0x90, 0x80, 0x12]),  # X, I with a 7-bit PictureID
        bytes([0x90, 0x80, 0x81, 0x23]),  # 15-bit PictureID
        bytes([0x90, 0xE0, 0x81, 0x23, 0x05, 0x40]),  # PictureID, TL0PICIDX, TID
        bytes([0x90, 0x10, 0x00]),  # K only: the KEYIDX byte
        bytes([0x90, 0x00]),  # X with nothing in it
    ],
)
def test_the_extended_vp8_descriptor_is_skipped_to_reach_the_frame_header(
    descriptor: bytes,
) -> None:
    assert is_keyframe("vp8", descriptor + vp8_keyframe_header(320, 180))
    assert vp8_picture_size(descriptor + vp8_keyframe_header(320, 180)) == (320, 180)


def test_only_the_first_packet_of_partition_0_can_start_a_vp8_keyframe() -> None:
    header = vp8_keyframe_header(640, 360)
    assert not is_keyframe("vp8", bytes([0x00]) + header)  # S = 0: a continuation
    assert not is_keyframe("vp8", bytes([0x11]) + header)  # partition 1


def test_vp8_picture_size_ignores_the_scaling_bits() -> None:
    payload = bytes([0x10]) + vp8_keyframe_header(1280 | 0x4000, 720 | 0x8000)
    assert vp8_picture_size(payload) == (1280, 720)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes([0x10]),
        bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01]),  # truncated before the sizes
        bytes([0x10, 0x10, 0x02, 0x00, 0x00, 0x00, 0x00]) + bytes(4),  # no start code
        bytes([0x10, 0x11]) + bytes(12),  # an interframe
        bytes([0x10]) + vp8_keyframe_header(0, 360),  # zero width
        bytes([0x90, 0x80]),  # descriptor cut short
    ],
)
def test_vp8_picture_size_is_none_when_it_cannot_be_read(payload: bytes) -> None:
    assert vp8_picture_size(payload) is None


# -- H.264 (RFC 6184) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x65, 0x88]), True),  # single NAL unit: IDR slice
        (bytes([0x67, 0x42]), True),  # SPS
        (bytes([0x68, 0xCE]), False),  # PPS alone
        (bytes([0x41, 0x9A]), False),  # non-IDR slice
        (bytes([0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xCE, 0, 2, 0x65, 0x88]), True),  # STAP-A
        (bytes([0x78, 0, 2, 0x06, 0x05, 0, 2, 0x41, 0x9A]), False),  # STAP-A, no IDR
        (bytes([0x78, 0, 0, 0x65]), False),  # STAP-A with a zero-size unit
        (bytes([0x78, 0, 9, 0x06]), False),  # STAP-A cut short
        (bytes([0x7C, 0x85, 0x88]), True),  # FU-A start of an IDR slice
        (bytes([0x7C, 0x05, 0x88]), False),  # FU-A middle fragment
        (bytes([0x7C, 0x81, 0x9A]), False),  # FU-A start of a non-IDR slice
        (bytes([0x7C]), False),
        (bytes([0x79, 0, 0, 0, 2, 0x65, 0x88]), False),  # STAP-B: not for WebRTC
    ],
)
def test_h264_keyframes_are_idr_or_sps_in_any_packetization(payload: bytes, expected: bool) -> None:
    assert is_keyframe("H264", payload) is expected


# -- VP9 (RFC 9628) and AV1 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x08]), True),  # B, not P: starts an intra frame
        (bytes([0x0C, 0x00]), True),  # B and E
        (bytes([0x48]), False),  # P: inter-predicted
        (bytes([0x00]), False),  # not the start of a frame
        (bytes([0xA8, 0x85, 0x00, 0x00, 0x00]), True),  # I (15-bit), L with SID 0
        (bytes([0xA8, 0x05, 0x02, 0x00]), False),  # L with SID 1: an upper spatial layer
        (bytes([0x28]), False),  # L announced, no layer byte
        (bytes([0xA8]), False),  # I announced, no picture id
    ],
)
def test_vp9_keyframes_start_an_unpredicted_frame_in_spatial_layer_0(
    payload: bytes, expected: bool
) -> None:
    assert is_keyframe("VP9", payload) is expected


def test_av1_keyframes_open_a_coded_video_sequence() -> None:
    assert is_keyframe("AV1", bytes([0x18, 0x0A]))  # N set, W = 1
    assert not is_keyframe("AV1", bytes([0x10, 0x0A]))  # N clear
    assert not is_keyframe("AV1", bytes([0x88, 0x0A]))  # Z: a continued OBU cannot open one
    assert not is_keyframe("AV1", bytes([0x18]))


def test_unknown_codecs_have_no_keyframes() -> None:
    assert not is_keyframe("opus", bytes([0x10]) + vp8_keyframe_header(1, 1))
    assert not is_keyframe("", b"\x65")


# -- garbage -----------------------------------------------------------------------------------


@settings(max_examples=400)
@given(
    st.sampled_from(["VP8", "vp8", "H264", "VP9", "AV1", "av1", "unknown"]),
    st.binary(max_size=40),
    st.booleans(),
)
def test_keyframe_detection_never_raises(codec: str, payload: bytes, as_view: bool) -> None:
    data = memoryview(payload) if as_view else payload
    assert is_keyframe(codec, data) in (True, False)


@settings(max_examples=400)
@given(st.binary(max_size=40), st.booleans())
def test_vp8_picture_size_never_raises(payload: bytes, as_view: bool) -> None:
    size = vp8_picture_size(memoryview(payload) if as_view else payload)
    if size is not None:
        assert is_keyframe("vp8", payload)
        assert all(0 < side < 1 << 14 for side in size)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x90\xc0\x81\x02\x07\x00", (2, 0x102, 0x7FFF, 4, 7)),  # 15-bit PictureID, TL0PICIDX
        (b"\x90\x80\x05\x00", (2, 5, 0x7F, 0, 0)),  # 7-bit PictureID alone
        (b"\x90\x40\x09\x00", (0, 0, 0, 2, 9)),  # TL0PICIDX alone
        (b"\x10\x02\x00", None),  # no extension byte
        (b"\x90\x20\x40\x00", None),  # T only: no ID to renumber
        (b"\x90\xc0\x81", None),  # truncated inside the 15-bit PictureID
        (b"\x90\xc0\x05", None),  # truncated before TL0PICIDX
    ],
)
def test_vp8_picture_ids_are_found_by_the_descriptor_flags(
    payload: bytes, expected: tuple[int, int, int, int, int] | None
) -> None:
    """RFC 7741 §4.2: X, then I (M: 15 bits) and L say which IDs follow, and where."""
    assert vp8_picture_ids(payload) == expected


@settings(max_examples=400)
@given(st.binary(max_size=12), st.booleans())
def test_vp8_picture_ids_never_raise_nor_point_outside(payload: bytes, as_view: bool) -> None:
    """Whatever it finds lies inside the payload (a down track writes there in place)."""
    found = vp8_picture_ids(memoryview(payload) if as_view else payload)
    if found is not None:
        picture_at, picture_id, mask, tl0_at, tl0 = found
        assert picture_at or tl0_at
        if picture_at:
            assert picture_at + (2 if mask == 0x7FFF else 1) <= len(payload)
            assert 0 <= picture_id <= mask
        if tl0_at:
            assert tl0_at < len(payload) and payload[tl0_at] == tl0
