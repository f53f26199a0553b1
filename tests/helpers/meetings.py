"""Live meetings built in memory for domain tests: who is seated, with which role."""

from __future__ import annotations

from mosaic.domain.access import Visitor
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.roster import Participant
from mosaic.domain.settings import MeetingSettings

HOST_USER = 1


def seated(**settings: object) -> tuple[LiveMeeting, Participant, Participant, Participant]:
    """A meeting with its host, a co-host and a guest, all in (no waiting room)."""
    m = LiveMeeting(
        id="abcd-efgh-jkmn",
        topic="Class",
        host_user_id=HOST_USER,
        settings=MeetingSettings(waiting_room=False, **settings),
    )
    host, _ = m.enter("host", "Host", Visitor(user_id=HOST_USER), 0.0)
    cohost, _ = m.enter("cohost", "Cohost", Visitor(), 0.0)
    guest, _ = m.enter("guest", "Guest", Visitor(), 0.0)
    m.assign_cohost(host, cohost, True)
    return m, host, cohost, guest
