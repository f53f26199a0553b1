from hypothesis import given
from hypothesis import strategies as st

from mosaic.media.codecs import is_keyframe, vp8_picture_size


def vp8_keyframe(width: int = 640, height: int = 360, descriptor: bytes = b"\x10") -> bytes:
    # Descriptor with S=1, PID=0; frame tag with P=0 (keyframe); start code; sizes.
    frame_tag = bytes([0x00, 0x00, 0x00])
    start_code = b"\x9d\x01\x2a"
    sizes = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return descriptor + frame_tag + start_code + sizes + b"\x00" * 20


def test_vp8_keyframe_and_its_size_are_recognised() -> None:
    payload = vp8_keyframe(1280, 720)
    assert is_keyframe("VP8", payload)
    assert vp8_picture_size(payload) == (1280, 720)


def test_vp8_extended_descriptor_with_picture_id_is_skipped() -> None:
    descriptor = bytes([0x90, 0x80, 0x81, 0x23])  # X, I with a 15-bit picture id
    assert vp8_picture_size(vp8_keyframe(320, 180, descriptor)) == (320, 180)


def test_vp8_interframes_and_continuations_are_not_keyframes() -> None:
    interframe = b"\x10\x01\x00\x00" + b"\x00" * 10
    continuation = b"\x00" + vp8_keyframe()[1:]
    assert not is_keyframe("vp8", interframe)
    assert not is_keyframe("vp8", continuation)


def test_h264_idr_in_single_nal_stap_a_and_fu_a() -> None:
    assert is_keyframe("H264", bytes([0x65, 0x88]))  # IDR slice
    assert is_keyframe("h264", bytes([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0x00]))
    assert is_keyframe("h264", bytes([0x7C, 0x85, 0x00]))  # FU-A start of an IDR
    assert not is_keyframe("h264", bytes([0x7C, 0x05, 0x00]))  # FU-A continuation
    assert not is_keyframe("h264", bytes([0x41, 0x9A]))  # non-IDR slice


@given(st.sampled_from(["vp8", "VP8", "h264", "vp9", "av1", "opus"]), st.binary(max_size=40))
def test_garbage_is_never_a_crash(codec: str, payload: bytes) -> None:
    is_keyframe(codec, payload)
    vp8_picture_size(payload)
