"""`permissions.may` as the one answer, and the meeting changes that ask it (no I/O)."""

from __future__ import annotations

import pytest

from mosaic.domain.meeting import Forbidden, NotFound
from mosaic.domain.permissions import Action, may, may_negotiate
from mosaic.domain.roster import Participant, Role, Source, State
from mosaic.domain.settings import Who
from tests.helpers.meetings import seated


def test_renaming_someone_else_is_its_own_rank_rule_not_removal() -> None:
    m, host, cohost, guest = seated()
    assert may(cohost, Action.RENAME_OTHER, m, guest)
    assert not may(cohost, Action.RENAME_OTHER, m, host)
    assert not may(guest, Action.RENAME_OTHER, m, cohost)
    assert m.rename(cohost, guest, "Fixed") == "Guest" and guest.name == "Fixed"
    with pytest.raises(Forbidden) as refused:
        m.rename(guest, cohost, "Mine")
    assert refused.value.action is Action.RENAME_OTHER and cohost.name == "Cohost"


def test_publishing_needs_admission_and_its_own_rule() -> None:
    m, _, _, guest = seated()
    waiter = Participant("waiter", "Waiter", Role.PARTICIPANT, State.WAITING, 0.0)
    m.roster.add(waiter)
    assert may(guest, Action.PUBLISH, m) and not may(waiter, Action.PUBLISH, m)
    # A microphone and camera are negotiated muted; a screen only while sharing is allowed.
    assert may_negotiate(guest, Source.MICROPHONE, m)
    assert not may_negotiate(guest, Source.SCREEN, m)
    assert not may_negotiate(guest, Source.SCREEN_AUDIO, m)
    assert not may_negotiate(waiter, Source.CAMERA, m)


def test_mute_all_reaches_whoever_ranks_lower() -> None:
    m, host, cohost, guest = seated()
    for participant in (host, cohost, guest):
        m.set_source(participant, Source.MICROPHONE, True)
    assert m.mute_all(cohost) == [guest]
    m.set_source(guest, Source.MICROPHONE, True)
    assert m.mute_all(host) == [cohost, guest]
    assert Source.MICROPHONE in host.sources


def test_suspension_reaches_plain_participants_only() -> None:
    m, host, cohost, guest = seated()
    assert may(host, Action.SUSPEND_ACTIVITIES, m, guest)
    assert not may(host, Action.SUSPEND_ACTIVITIES, m, cohost)
    m.set_source(cohost, Source.MICROPHONE, True)
    m.set_source(guest, Source.MICROPHONE, True)
    assert m.suspend_activities(host) == [guest]
    assert cohost.sources == {Source.MICROPHONE} and guest.sources == set()


def test_only_the_host_takes_back_a_cohost_role_and_only_from_a_cohost() -> None:
    m, host, cohost, guest = seated()
    assert not may(cohost, Action.REVOKE_COHOST, m, host)
    assert not may(host, Action.REVOKE_COHOST, m, guest)
    m.assign_cohost(host, cohost, False)
    assert cohost.role is Role.PARTICIPANT


def test_blocking_a_screen_share_stops_its_audio_as_a_take_over_does() -> None:
    m, host, cohost, guest = seated(screen_share=Who.EVERYONE)
    m.set_source(guest, Source.SCREEN, True)
    m.set_source(guest, Source.SCREEN_AUDIO, True)
    m.block_source(cohost, guest, Source.SCREEN)
    assert guest.sources == set()
    m.set_source(guest, Source.SCREEN, True)
    m.set_source(guest, Source.SCREEN_AUDIO, True)
    assert m.set_source(host, Source.SCREEN, True) is guest
    assert guest.sources == set()


def test_hands_are_raised_once_and_lowered_by_rank() -> None:
    m, _, cohost, guest = seated()
    m.raise_hand(guest, True, now=5.0)
    m.raise_hand(guest, True, now=9.0)
    assert guest.hand_raised_at == 5.0
    with pytest.raises(Forbidden):
        m.lower_hand(guest, cohost)
    m.lower_hand(cohost, guest)
    assert guest.hand_raised_at is None


def test_a_chat_audience_is_everyone_in_or_one_recipient_and_the_sender() -> None:
    m, host, cohost, guest = seated()
    everyone = m.chat_audience(guest, None)
    assert (everyone.recipient, everyone.participants) == (None, [host, cohost, guest])
    private = m.chat_audience(guest, "cohost")
    assert (private.recipient, private.participants) == (cohost, [cohost, guest])
    for to in ("guest", "nobody"):
        with pytest.raises(NotFound):
            m.chat_audience(guest, to)
