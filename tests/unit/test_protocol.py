"""The signaling protocol's schemas: everything off gets a typed error, nothing else escapes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.signaling.protocol import (
    MAX_FRAME_BYTES,
    MESSAGE_TYPES,
    ErrorCode,
    Join,
    ProtocolError,
    clean_name,
    parse_client_message,
)


def test_a_valid_join_parses() -> None:
    message = parse_client_message(
        json.dumps({"id": 1, "type": "join", "meeting": "abcd-efgh-jkmn", "name": "Ann"})
    )
    assert isinstance(message, Join)
    assert message.name == "Ann"


@pytest.mark.parametrize(
    ("frame", "echoed_id"),
    [
        ("", None),
        ("null", None),
        ("[]", None),
        ('{"type": "join"}', None),
        ('{"id": 3, "type": "teleport"}', 3),
        ('{"id": 4, "type": "chat", "text": ""}', 4),
        ('{"id": 5, "type": "chat", "text": "hi", "extra": true}', 5),
        ('{"id": 6, "type": "hand", "raised": "yes please"}', 6),
        ('{"id": 7, "type": "mute", "participant": "../../etc"}', 7),
        ('{"id": -1, "type": "ping"}', None),
        (
            '{"id": 8, "type": "view", "videos": '
            '[{"participant": "p000000000000", "width": -5, "height": 1}]}',
            8,
        ),
    ],
)
def test_malformed_frames_get_bad_request(frame: str, echoed_id: int | None) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_client_message(frame)
    assert error.value.code is ErrorCode.BAD_REQUEST
    assert error.value.request_id == echoed_id


def test_oversized_frames_are_refused_before_parsing() -> None:
    frame = json.dumps({"id": 1, "type": "chat", "text": "x" * MAX_FRAME_BYTES})
    with pytest.raises(ProtocolError, match="larger than"):
        parse_client_message(frame)


def test_binary_frames_are_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_client_message(b'{"id": 1, "type": "ping"}')


def test_error_messages_never_echo_the_input() -> None:
    secret = "hunter2-secret-passcode"
    with pytest.raises(ProtocolError) as error:
        parse_client_message(json.dumps({"id": 1, "type": "join", "passcode": [secret]}))
    assert secret not in error.value.message


@pytest.mark.parametrize("name", ["", "   ", "a\u202eb", "bell\x07", "x" * 65, "zero\u200bwidth"])
def test_names_with_control_or_direction_characters_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        clean_name(name)


frames = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=50),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=15,
    ).map(lambda v: json.dumps(v, allow_nan=True)),
    st.builds(
        lambda kind, extra: json.dumps({"id": 1, "type": kind, **extra}),
        st.sampled_from(sorted(MESSAGE_TYPES)),
        st.dictionaries(
            st.sampled_from(["text", "name", "meeting", "to", "participants", "sdp", "videos"]),
            st.none() | st.text(max_size=30) | st.integers() | st.lists(st.text(max_size=5)),
        ),
    ),
)


@settings(max_examples=500)
@given(frames)
def test_any_frame_parses_or_fails_with_a_typed_error(frame: str | bytes) -> None:
    try:
        parse_client_message(frame)
    except ProtocolError as error:
        assert error.code in ErrorCode
        assert len(error.message) < 1000
