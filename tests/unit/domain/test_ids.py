from hypothesis import given
from hypothesis import strategies as st

from mosaic.domain.ids import (
    ALPHABET,
    MEETING_ID_BITS,
    new_meeting_id,
    new_participant_id,
    new_passcode,
    normalize_meeting_id,
)


def test_meeting_ids_carry_at_least_60_bits_of_entropy() -> None:
    assert len(set(ALPHABET)) == 32
    assert MEETING_ID_BITS >= 60
    meeting_id = new_meeting_id()
    assert len(meeting_id.replace("-", "")) * 5 >= 60


def test_meeting_ids_avoid_look_alike_characters() -> None:
    for _ in range(200):
        assert not set(new_meeting_id()) & set("01lo")


def test_meeting_ids_are_distinct() -> None:
    assert len({new_meeting_id() for _ in range(10_000)}) == 10_000


def test_a_typed_id_is_forgiven_case_spaces_and_missing_dashes() -> None:
    meeting_id = new_meeting_id()
    assert normalize_meeting_id(meeting_id.upper().replace("-", " ")) == meeting_id
    assert normalize_meeting_id(meeting_id.replace("-", "")) == meeting_id
    assert normalize_meeting_id("not a meeting") is None
    assert normalize_meeting_id("0000-0000-0000") is None


@given(st.text(max_size=40))
def test_normalize_never_raises_and_returns_canonical_ids(text: str) -> None:
    result = normalize_meeting_id(text)
    assert result is None or normalize_meeting_id(result) == result


def test_passcodes_and_participant_ids_have_their_shapes() -> None:
    assert len(new_passcode()) == 8
    assert new_participant_id().startswith("p") and len(new_participant_id()) == 13
