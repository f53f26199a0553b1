"""The media plane's questions, answered from the domain's rules.

The router asks before it accepts a published track and before it forwards one; this is where
"a waiting participant receives nothing" and "a muted participant is not heard" are enforced
for media, from the same `permissions.may` that guards every signaling request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.permissions import may_negotiate, may_publish
from mosaic.domain.roster import Source
from mosaic.media.sfu.router import Router
from mosaic.media.sfu.scope import Reach


class DomainGate:
    def __init__(self, meeting: LiveMeeting) -> None:
        self.meeting = meeting

    def may_publish(self, participant_id: str, source: Source) -> bool:
        """Whether a track of this source may be set up at all (`permissions.may_negotiate`)."""
        participant = self.meeting.roster.get(participant_id)
        return participant is not None and may_negotiate(participant, source, self.meeting)

    def reach(self, viewer_id: str) -> Reach:
        """Whose media this viewer may receive: while breakout rooms are open, the people
        of its room only (main counts as one); otherwise everyone (None)."""
        breakouts = self.meeting.breakouts
        if not breakouts.is_open:
            return None
        room = breakouts.room_of(viewer_id)
        return lambda publisher_id: breakouts.room_of(publisher_id) == room

    def may_forward(self, participant_id: str, source: Source) -> bool:
        """Whether others receive this source right now: turned on, and allowed."""
        participant = self.meeting.roster.get(participant_id)
        return (
            participant is not None
            and source in participant.sources
            and may_publish(participant, source, self.meeting)
        )


MediaFactory = Callable[[LiveMeeting, Callable[[str, dict[str, Any]], None]], Router]


def router_factory(ice_servers: list[Any] | None = None) -> MediaFactory:
    def make(meeting: LiveMeeting, send: Callable[[str, dict[str, Any]], None]) -> Router:
        gate = DomainGate(meeting)
        return Router(gate, send, ice_servers=ice_servers, scope=gate.reach)

    return make
