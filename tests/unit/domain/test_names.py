"""Names in a live meeting: nobody else may pass for a present host or co-host."""

from __future__ import annotations

import pytest

from mosaic.domain.access import Visitor
from mosaic.domain.meeting import LiveMeeting, NameTaken
from mosaic.domain.roster import Role
from mosaic.domain.settings import MeetingSettings

HOST_USER = 1


def _meeting() -> LiveMeeting:
    return LiveMeeting(
        id="abcd-efgh-jkmn",
        topic="Class",
        host_user_id=HOST_USER,
        settings=MeetingSettings(waiting_room=False),
    )


def test_a_guest_cannot_enter_or_rename_as_the_host() -> None:
    m = _meeting()
    m.enter("host", "Alice Martin", Visitor(user_id=HOST_USER), 0.0)
    with pytest.raises(NameTaken):
        m.enter("mallory", "ALICE martin", Visitor(device_id="d-mallory"), 0.0)
    guest, _ = m.enter("guest", "Mallory", Visitor(device_id="d-mallory"), 0.0)
    with pytest.raises(NameTaken):
        m.check_name("Alice Martín", guest)
    m.check_name("Alice Martinez", guest)


def test_the_host_may_share_a_name_and_a_cohost_coming_back_keeps_theirs() -> None:
    m = _meeting()
    m.enter("guest", "Carol", Visitor(device_id="d-carol"), 0.0)
    m.enter("host", "carol", Visitor(user_id=HOST_USER), 0.0)  # hosts are exempt
    cohost, _ = m.enter("cohost", "Dave", Visitor(user_id=7, device_id="d-dave"), 0.0)
    cohost.role = Role.COHOST
    # Dave's page reloads: a new entry while his old place waits out its grace.
    m.enter("dave-again", "Dave", Visitor(user_id=7), 0.0)
    m.enter("dave-browser", "Dave", Visitor(device_id="d-dave"), 0.0)
    with pytest.raises(NameTaken):
        m.enter("not-dave", "Dave", Visitor(user_id=8, device_id="d-other"), 0.0)
