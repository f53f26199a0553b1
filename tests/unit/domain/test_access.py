"""Who may enter a meeting, from its stored state (settings, lock, end, bans), without I/O."""

from __future__ import annotations

from mosaic.domain.access import Bans, MeetingAccess, Refusal, Visitor
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.roster import State
from mosaic.domain.settings import MeetingSettings

HOST = 1
TROLL = Visitor(device_id="troll-device", address="troll-address")


NO_BANS = Bans()


def access(bans: Bans = NO_BANS, **settings: object) -> MeetingAccess:
    return MeetingAccess(
        host_user_id=HOST, settings=MeetingSettings(waiting_room=False, **settings), bans=bans
    )


def after_removal(**settings: object) -> MeetingAccess:
    removed = Bans(devices=frozenset({"troll-device"}), addresses=frozenset({"troll-address"}))
    return access(removed, **settings)


def test_a_removal_holds_on_device_and_on_address_for_strangers() -> None:
    rules = after_removal()
    assert rules.refusal_for(TROLL) is Refusal.REMOVED
    # A new device (or none) from the same address: still out.
    assert rules.refusal_for(Visitor(device_id="new", address="troll-address")) is Refusal.REMOVED
    assert rules.refusal_for(Visitor(address="troll-address")) is Refusal.REMOVED
    # The banned device from elsewhere: still out.
    assert rules.refusal_for(Visitor(device_id="troll-device", address="x")) is Refusal.REMOVED


def test_a_device_the_meeting_knows_is_not_caught_by_an_address_ban() -> None:
    """A classmate behind the same school address, admitted before the removal."""
    classmate = Visitor(device_id="classmate", address="troll-address", known=True)
    assert after_removal().refusal_for(classmate) is None
    assert not after_removal().must_wait(classmate)


def test_after_a_removal_strangers_wait_unless_the_host_says_otherwise() -> None:
    stranger = Visitor(device_id="new", address="elsewhere")
    assert after_removal().refusal_for(stranger) is None
    assert after_removal().must_wait(stranger)
    assert not after_removal(wait_after_removal=False).must_wait(stranger)
    assert not access().must_wait(stranger)  # no removal, no waiting room
    # An account is not a stranger, unless it comes from the removed one's address.
    assert not after_removal().must_wait(Visitor(user_id=5, address="elsewhere"))
    assert after_removal().must_wait(Visitor(user_id=5, address="troll-address"))


def test_the_end_keeps_everyone_out_but_the_host_who_starts_again() -> None:
    ended = MeetingAccess(host_user_id=HOST, ended=True, bans=after_removal().bans)
    assert ended.refusal_for(TROLL) is Refusal.ENDED
    assert ended.refusal_for(Visitor()) is Refusal.ENDED
    assert ended.refusal_for(Visitor(user_id=HOST)) is None


def test_the_lock_keeps_newcomers_out_not_those_coming_back_after_a_restart() -> None:
    locked = MeetingAccess(host_user_id=HOST, locked=True, bans=after_removal().bans)
    assert locked.refusal_for(Visitor(device_id="a")) is Refusal.LOCKED
    assert locked.refusal_for(Visitor(device_id="a"), returning=True) is None
    assert locked.refusal_for(TROLL, returning=True) is Refusal.REMOVED


def test_a_live_meeting_takes_only_newer_stored_state() -> None:
    live = LiveMeeting(id="abcd-efgh-jkmn", topic="t", host_user_id=HOST, version=3)
    older = MeetingAccess(host_user_id=HOST, locked=True, version=3)
    assert not live.refresh(older) and not live.locked
    newer = MeetingAccess(host_user_id=HOST, locked=True, version=4)
    assert live.refresh(newer) and live.locked and live.version == 4


def test_removing_bans_account_device_and_address() -> None:
    live = LiveMeeting(
        id="abcd-efgh-jkmn",
        topic="t",
        host_user_id=HOST,
        settings=MeetingSettings(waiting_room=False),
    )
    host, _ = live.enter("h", "Host", Visitor(user_id=HOST), 0.0)
    troll, _ = live.enter("t", "Troll", Visitor(user_id=7, device_id="d", address="a"), 0.0)
    live.known_devices.add("d")  # admitted before: the ban must still hold
    live.remove(host, troll)
    assert troll.state is State.REMOVED
    assert live.bans == Bans(frozenset({7}), frozenset({"d"}), frozenset({"a"}))
    assert live.refusal_for(Visitor(device_id="d")) is Refusal.REMOVED
