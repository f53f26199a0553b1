"""The rules of a live meeting, without any I/O."""

from __future__ import annotations

import pytest

from mosaic.domain.access import Refusal, Visitor
from mosaic.domain.meeting import FLOOD_GUESTS, Forbidden, LiveMeeting
from mosaic.domain.permissions import Action, may
from mosaic.domain.roster import Role, Source, State
from mosaic.domain.settings import InstancePolicy, MeetingSettings, Who

HOST_USER = 1


def meeting(**settings: object) -> LiveMeeting:
    return LiveMeeting(
        id="abcd-efgh-jkmn",
        topic="Class",
        host_user_id=HOST_USER,
        settings=MeetingSettings(**settings),
    )


def enter(m: LiveMeeting, pid: str, visitor: Visitor | None = None, now: float = 0.0):  # type: ignore[no-untyped-def]
    participant, _ = m.enter(pid, pid.upper(), visitor or Visitor(), now)
    return participant


def test_new_meetings_are_safe_by_default() -> None:
    settings = MeetingSettings()
    assert settings.passcode_required and settings.waiting_room
    assert settings.screen_share is Who.HOSTS
    assert not settings.participants_may_rename


def test_the_host_walks_in_and_guests_wait() -> None:
    m = meeting()
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    guest = enter(m, "guest")
    assert (host.role, host.state) == (Role.HOST, State.ADMITTED)
    assert (guest.role, guest.state) == (Role.PARTICIPANT, State.WAITING)
    m.admit(host, guest)
    assert guest.state is State.ADMITTED


def test_without_waiting_room_guests_are_admitted_directly() -> None:
    m = meeting(waiting_room=False)
    assert enter(m, "guest").state is State.ADMITTED


def test_a_waiting_participant_may_do_nothing() -> None:
    m = meeting()
    guest = enter(m, "guest")
    for action in Action:
        assert not may(guest, action, m)


def test_only_hosts_admit_and_only_waiting_people() -> None:
    m = meeting()
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    first = enter(m, "first")
    second = enter(m, "second")
    m.admit(host, first)
    with pytest.raises(Forbidden):
        m.admit(first, second)
    with pytest.raises(Forbidden):
        m.admit(host, first)  # already in


def test_a_removed_participant_cannot_come_back_by_account_or_device() -> None:
    m = meeting(waiting_room=False)
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    troll = enter(m, "troll", Visitor(user_id=7, device_id="dev-1"))
    m.remove(host, troll)
    assert m.roster.get("troll") is None
    assert m.refusal_for(Visitor(user_id=7)) is Refusal.REMOVED
    assert m.refusal_for(Visitor(device_id="dev-1")) is Refusal.REMOVED
    assert m.refusal_for(Visitor(user_id=8)) is None


def test_a_locked_meeting_lets_nobody_in_but_its_host() -> None:
    m = meeting()
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    m.lock(host, True)
    assert m.refusal_for(Visitor()) is Refusal.LOCKED
    assert m.refusal_for(Visitor(user_id=HOST_USER)) is None


def test_signed_in_only_and_email_domains() -> None:
    m = meeting(signed_in_only=True, allowed_email_domains=["school.example"])
    assert m.refusal_for(Visitor()) is Refusal.SIGN_IN_REQUIRED
    assert m.refusal_for(Visitor(user_id=5, email="kid@other.example")) is (
        Refusal.DOMAIN_NOT_ALLOWED
    )
    # Anyone can sign up with any address: until it is verified, it proves nothing.
    assert m.refusal_for(Visitor(user_id=5, email="kid@school.example")) is (
        Refusal.EMAIL_NOT_VERIFIED
    )
    kid = Visitor(user_id=5, email="kid@school.example", email_verified=True)
    assert m.refusal_for(kid) is None


def test_signed_in_only_needs_a_verified_address() -> None:
    m = meeting(signed_in_only=True)
    assert m.refusal_for(Visitor(user_id=5, email="a@x.example")) is Refusal.EMAIL_NOT_VERIFIED
    assert m.refusal_for(Visitor(user_id=5, email="a@x.example", email_verified=True)) is None
    assert meeting().refusal_for(Visitor(user_id=5, email="a@x.example")) is None


def test_cohosts_cannot_act_on_the_host_and_participants_on_anyone() -> None:
    m = meeting(waiting_room=False)
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    helper = enter(m, "helper")
    pupil = enter(m, "pupil")
    m.assign_cohost(host, helper, True)
    assert helper.role is Role.COHOST
    assert may(helper, Action.REMOVE, m, pupil)
    assert not may(helper, Action.REMOVE, m, host)
    assert not may(helper, Action.END_MEETING, m)
    assert not may(helper, Action.ASSIGN_COHOST, m, pupil)
    assert not may(pupil, Action.MUTE, m, helper)
    assert not may(host, Action.REMOVE, m, host)


def test_mute_all_blocks_unmuting_when_the_meeting_forbids_it() -> None:
    m = meeting(waiting_room=False, participants_may_unmute=False)
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    pupil = enter(m, "pupil")
    m.set_source(pupil, Source.MICROPHONE, True)
    assert m.mute_all(host) == [pupil]
    assert Source.MICROPHONE not in pupil.sources
    with pytest.raises(Forbidden):
        m.set_source(pupil, Source.MICROPHONE, True)
    m.change_settings(host, m.settings.model_copy(update={"participants_may_unmute": True}))
    m.set_source(pupil, Source.MICROPHONE, True)
    assert Source.MICROPHONE in pupil.sources


def test_screen_share_is_for_hosts_by_default_and_one_at_a_time() -> None:
    m = meeting(waiting_room=False)
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    pupil = enter(m, "pupil")
    with pytest.raises(Forbidden):
        m.set_source(pupil, Source.SCREEN, True)
    m.change_settings(host, m.settings.model_copy(update={"screen_share": Who.EVERYONE}))
    m.set_source(pupil, Source.SCREEN, True)
    other = enter(m, "other")
    with pytest.raises(Forbidden):
        m.set_source(other, Source.SCREEN, True)
    assert m.set_source(host, Source.SCREEN, True) is pupil  # the host takes over
    assert m.screen_sharer() is host


def test_suspend_stops_everything_locks_and_closes_chat() -> None:
    m = meeting(waiting_room=False, screen_share=Who.EVERYONE)
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    pupil = enter(m, "pupil")
    for source in (Source.MICROPHONE, Source.CAMERA, Source.SCREEN):
        m.set_source(pupil, source, True)
    m.suspend_activities(host)
    assert pupil.sources == set()
    assert m.locked
    assert not may(pupil, Action.CHAT, m)
    assert not may(pupil, Action.PUBLISH_MICROPHONE, m)
    assert not may(pupil, Action.SHARE_SCREEN, m)
    assert may(pupil, Action.CHAT, m, host)  # a word to the host is still possible
    assert may(host, Action.PUBLISH_CAMERA, m)


def test_a_join_flood_turns_the_waiting_room_on() -> None:
    m = meeting(waiting_room=False)
    flooded = []
    for i in range(FLOOD_GUESTS + 3):
        _, flood = m.enter(f"g{i}", "guest", Visitor(), now=i * 0.1)
        flooded.append(flood)
    assert flooded.count(True) == 1
    assert m.settings.waiting_room
    assert m.roster.get(f"g{FLOOD_GUESTS + 2}").state is State.WAITING  # type: ignore[union-attr]


def test_guests_arriving_slowly_are_no_flood() -> None:
    m = meeting(waiting_room=False)
    for i in range(FLOOD_GUESTS * 3):
        _, flood = m.enter(f"g{i}", "guest", Visitor(), now=i * 2.0)
        assert not flood


def test_spotlight_takes_up_to_two_admitted_participants() -> None:
    m = meeting(waiting_room=False)
    host = enter(m, "host", Visitor(user_id=HOST_USER))
    teacher = enter(m, "teacher")
    m.set_spotlight(host, ["teacher"])
    assert m.spotlight == ["teacher"]
    with pytest.raises(Forbidden):
        m.set_spotlight(teacher, ["host"])
    with pytest.raises(Forbidden):
        m.set_spotlight(host, ["nobody"])


def test_instance_policy_names_what_it_forbids() -> None:
    policy = InstancePolicy(require_passcode=True, require_waiting_room=True)
    loose = MeetingSettings(passcode_required=False, waiting_room=False)
    assert policy.violations(loose) == ["passcode_required", "waiting_room"]
    assert policy.violations(MeetingSettings()) == []


def test_settings_refuse_unknown_fields_and_bad_domains() -> None:
    with pytest.raises(ValueError):
        MeetingSettings.model_validate({"waiting_rom": False})
    with pytest.raises(ValueError):
        MeetingSettings(allowed_email_domains=["not a domain"])
    assert MeetingSettings(allowed_email_domains=["@School.Example"]).allowed_email_domains == [
        "school.example"
    ]
