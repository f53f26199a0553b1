"""Breakout rooms on the wire: the requests' handlers, the ``breakouts`` event, the clock.

Handlers parse, ask the domain, apply, reply, as in `mosaic.signaling.commands` (which takes
`HANDLERS` from here and turns the domain's errors into typed ones). The domain decides
(`LiveMeeting`'s breakout methods, `mosaic.domain.breakouts`); this module turns a change into
one ``breakouts`` event per participant, each seeing what they may (hosts the plan, others
their room), asks the media plane to re-scope who receives whom, and wakes the room at the
timer's next deadline (the 60 s warning, then the end).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mosaic.domain.breakouts import LateJoiners, Mode
from mosaic.domain.permissions import Action
from mosaic.domain.roster import Participant
from mosaic.signaling import protocol as p
from mosaic.signaling.room import Member, Room

Result = dict[str, Any] | None
HANDLERS: dict[type[p.Request], Callable[[Room, Member, Any], Awaitable[Result]]] = {}


def _handles(kind: type[p.Request]) -> Callable[[Any], Any]:
    def register(handler: Any) -> Any:
        HANDLERS[kind] = handler
        return handler

    return register


def view(room: Room, participant: Participant) -> dict[str, Any]:
    """The ``breakouts`` state as this participant may see it."""
    manager = room.may(participant, Action.MANAGE_BREAKOUTS)
    return room.meeting.breakouts.view(participant.id, manager)


def changed(room: Room) -> None:
    """Announce the change just after the handler that made it has replied: who sees the
    plan is the domain's answer for each person, not part of deciding the request."""
    asyncio.get_running_loop().call_soon(announce, room)


def announce(room: Room) -> None:
    """The rooms changed: everyone hears where they are, media follows at once (a move is
    a change of subscriptions on the same connections), and the clock is set again."""
    if not room.members:
        return  # the room closed meanwhile: no clock to keep it alive
    for participant in room.meeting.roster.admitted():
        room.to_member(participant.id, {"type": "breakouts", **view(room, participant)})
    if room.media is not None:
        room.media.scope_changed()
    schedule(room)


def schedule(room: Room) -> None:
    """Wake the room at the timer's next deadline, if the rooms are open with a timer."""
    if room.breakout_timer is not None:
        room.breakout_timer.cancel()
        room.breakout_timer = None
    deadline = room.meeting.breakouts.next_deadline()
    if deadline is not None:
        delay = max(0.0, deadline - time.time())
        room.breakout_timer = asyncio.get_running_loop().call_later(delay, _tick, room)


def _tick(room: Room) -> None:
    room.breakout_timer = None
    if room.meeting.breakouts.tick(time.time()):
        announce(room)
    else:
        schedule(room)


# -- the requests -------------------------------------------------------------------------------


@_handles(p.BreakoutsCreate)
async def create(room: Room, member: Member, msg: p.BreakoutsCreate) -> Result:
    names = [spec.name for spec in msg.rooms]
    room.meeting.create_breakouts(member.participant, names, Mode(msg.mode))
    room.audit("breakouts_create", actor=member.participant.name, detail=str(len(names)))
    changed(room)
    return {"rooms": [{"id": r.id, "name": r.name} for r in room.meeting.breakouts.rooms]}


@_handles(p.BreakoutsRename)
async def rename(room: Room, member: Member, msg: p.BreakoutsRename) -> Result:
    room.meeting.rename_breakout(member.participant, msg.room_id, msg.name)
    changed(room)
    return {}


@_handles(p.BreakoutsAssign)
async def assign(room: Room, member: Member, msg: p.BreakoutsAssign) -> Result:
    meeting = room.meeting
    if msg.auto is not None:
        meeting.auto_assign_breakouts(member.participant, Mode(msg.auto))
    if msg.assignments or msg.auto is None:
        meeting.assign_breakouts(member.participant, dict(msg.assignments))
    changed(room)
    return {}


@_handles(p.BreakoutsOpen)
async def open_rooms(room: Room, member: Member, msg: p.BreakoutsOpen) -> Result:
    seconds: float | None = msg.seconds
    if seconds is None and msg.minutes is not None:
        seconds = msg.minutes * 60
    room.meeting.open_breakouts(
        member.participant,
        time.time(),
        seconds,
        msg.allow_return,
        LateJoiners(msg.late_joiners),
    )
    room.audit("breakouts_open", actor=member.participant.name)
    changed(room)
    return {}


@_handles(p.BreakoutsExtend)
async def extend(room: Room, member: Member, msg: p.BreakoutsExtend) -> Result:
    room.meeting.extend_breakouts(member.participant, time.time(), msg.minutes)
    changed(room)
    return {}


@_handles(p.BreakoutsBroadcast)
async def broadcast(room: Room, member: Member, msg: p.BreakoutsBroadcast) -> Result:
    sender = member.participant
    audience = room.meeting.broadcast_audience(sender)
    room.meeting.check_chat_text(msg.text)  # an encrypted meeting's word to the rooms too
    frame = {
        "type": "broadcast",
        "from": sender.id,
        "name": sender.name,
        "text": msg.text,
        "at": time.time(),
    }
    room.to_participants(audience, frame)
    return {}


@_handles(p.BreakoutsMove)
async def move(room: Room, member: Member, msg: p.BreakoutsMove) -> Result:
    room.meeting.move_to_room(member.participant, msg.room_id)
    changed(room)
    return {}


@_handles(p.BreakoutsCohost)
async def room_cohost(room: Room, member: Member, msg: p.BreakoutsCohost) -> Result:
    target = room.meeting.target(msg.participant)
    room.meeting.set_room_cohost(member.participant, target, msg.room_id)
    room.audit("breakouts_cohost", actor=member.participant.name, subject=target.name)
    changed(room)
    return {}


@_handles(p.BreakoutsHelp)
async def help_requested(room: Room, member: Member, msg: p.BreakoutsHelp) -> Result:
    asker = member.participant
    hosts = room.meeting.help_audience(asker)
    frame = {
        "type": "help_requested",
        "participant_id": asker.id,
        "name": asker.name,
        "room_id": room.meeting.breakouts.room_of(asker.id),
    }
    room.to_participants(hosts, frame)
    return {}


@_handles(p.BreakoutsClose)
async def close(room: Room, member: Member, msg: p.BreakoutsClose) -> Result:
    room.meeting.close_breakouts(member.participant)
    room.audit("breakouts_close", actor=member.participant.name)
    changed(room)
    return {}
