"""What each request does once its sender is in a room.

A handler parses, asks the domain, applies, replies — nothing else: every decision (who may,
to whom, what changes along) is a `LiveMeeting` method or a `permissions.may` question, which
raise `Forbidden`, `NotFound` or `NameTaken`; `dispatch` turns those into typed errors. A
handler tells the right people what changed and returns the ``result`` of its reply.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from mosaic.domain.breakouts import BreakoutError, NoSuchRoom
from mosaic.domain.ids import new_passcode
from mosaic.domain.meeting import Forbidden, NameTaken, NotFound
from mosaic.domain.permissions import Action
from mosaic.domain.roster import Participant, Source, State
from mosaic.domain.settings import MeetingSettings
from mosaic.media.wire.sdp import SdpError
from mosaic.security.hashing import hash_secret
from mosaic.signaling import protocol as p
from mosaic.signaling.breakouts import HANDLERS as BREAKOUT_HANDLERS
from mosaic.signaling.protocol import ErrorCode, ProtocolError
from mosaic.signaling.recording import RecordingUnavailable
from mosaic.signaling.room import CLOSE_POLICY, Member, Room

Result = dict[str, Any] | None
Handler = Callable[[Room, Member, Any], Awaitable[Result]]
HANDLERS: dict[type[p.Request], Handler] = dict(BREAKOUT_HANDLERS)

# Requests a participant in the waiting room may still make; anything else is refused before
# a handler runs (the domain would refuse it too: a waiting participant may do nothing), so
# that a waiting guest learns nothing, not even whether an id it names exists.
WAITING_ALLOWED = (p.Leave, p.Ping)


def handles(kind: type[p.Request]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return register


def _target(room: Room, participant_id: str) -> Participant:
    return room.meeting.target(participant_id)


def _require(room: Room, member: Member, action: Action, target: Participant | None = None) -> None:
    room.meeting.require(member.participant, action, target)


@handles(p.Ping)
async def ping(room: Room, member: Member, msg: p.Ping) -> Result:
    return {"pong": time.time()}


# -- media ---------------------------------------------------------------------------------------


def _media(room: Room) -> Any:
    if room.media is None:
        raise ProtocolError(ErrorCode.INTERNAL, "media is not available on this server")
    return room.media


@handles(p.Publish)
async def publish(room: Room, member: Member, msg: p.Publish) -> Result:
    _require(room, member, Action.PUBLISH)
    sdp = await _media(room).publish(member.id, msg.sdp, dict(msg.sources))
    return {"sdp": sdp}


@handles(p.Answer)
async def answer(room: Room, member: Member, msg: p.Answer) -> Result:
    _require(room, member, Action.RECEIVE_MEDIA)
    await _media(room).answer(member.id, msg.sdp)
    return {}


@handles(p.IceCandidate)
async def ice(room: Room, member: Member, msg: p.IceCandidate) -> Result:
    _require(room, member, Action.PUBLISH if msg.pc == "publish" else Action.RECEIVE_MEDIA)
    await _media(room).ice_candidate(member.id, msg.pc, msg.candidate, msg.mid)
    return {}


@handles(p.Restart)
async def restart(room: Room, member: Member, msg: p.Restart) -> Result:
    _require(room, member, Action.RECEIVE_MEDIA)
    await _media(room).restart(member.id, msg.pc)
    return {}


@handles(p.SetMedia)
async def set_media(room: Room, member: Member, msg: p.SetMedia) -> Result:
    displaced = room.meeting.set_source(member.participant, msg.source, msg.on)
    if displaced is not None:
        room.to_member(displaced.id, {"type": "muted", "source": Source.SCREEN, "by": "host"})
        _sources_changed(room, displaced)
    _sources_changed(room, member.participant)
    return {}


@handles(p.View)
async def view(room: Room, member: Member, msg: p.View) -> Result:
    _require(room, member, Action.RECEIVE_MEDIA)
    videos = [(v.participant, Source(v.source), v.width, v.height) for v in msg.videos]
    _media(room).view(member.id, videos, msg.max_kbps)
    return {}


def _sources_changed(room: Room, participant: Participant) -> None:
    room.participant_changed(participant)
    if room.media is not None:
        room.media.sources_changed(participant)


# -- the room ------------------------------------------------------------------------------------


@handles(p.Chat)
async def chat(room: Room, member: Member, msg: p.Chat) -> Result:
    audience = room.meeting.chat_audience(member.participant, msg.to)
    room.meeting.check_chat_text(msg.text)
    sender, recipient = member.participant, audience.recipient
    frame = {
        "type": "chat",
        "from": sender.id,
        "name": sender.name,
        "to": recipient.id if recipient else None,
        "text": msg.text,
        "at": time.time(),
    }
    room.post_chat(audience.participants, frame)
    # An encrypted meeting's chat is relayed, never kept (not even as ciphertext).
    if room.meeting.keeps_chat():
        room.spawn(room.keep_chat(sender.name, recipient.name if recipient else None, msg.text))
    return {}


@handles(p.Hand)
async def hand(room: Room, member: Member, msg: p.Hand) -> Result:
    room.meeting.raise_hand(member.participant, msg.raised, time.time())
    room.participant_changed(member.participant)
    return {}


@handles(p.React)
async def react(room: Room, member: Member, msg: p.React) -> Result:
    _require(room, member, Action.REACT)
    room.to_admitted({"type": "reaction", "participant": member.id, "emoji": msg.emoji})
    return {}


@handles(p.Rename)
async def rename(room: Room, member: Member, msg: p.Rename) -> Result:
    target = member.participant
    if msg.participant is not None and msg.participant != member.id:
        target = _target(room, msg.participant)
    old = room.meeting.rename(member.participant, target, msg.name)
    room.audit("rename", actor=member.participant.name, subject=old, detail=msg.name)
    room.participant_changed(target)
    return {}


# -- end-to-end encryption: the server relays, never reads nor keeps (docs/e2ee.md) ---------------


@handles(p.E2eeHello)
async def e2ee_hello(room: Room, member: Member, msg: p.E2eeHello) -> Result:
    room.meeting.publish_e2ee_key(member.participant, msg.public_key)
    room.participant_changed(member.participant)
    return {}


@handles(p.E2eeKey)
async def e2ee_key(room: Room, member: Member, msg: p.E2eeKey) -> Result:
    recipient = room.meeting.e2ee_key_recipient(member.participant, msg.to)
    room.flush_roster_now()  # the sender's public key (its hello) reaches them first
    room.to_member(
        recipient.id, {"type": "e2ee.key", "from": member.id, "epoch": msg.epoch, "blob": msg.blob}
    )
    return {}


# -- host controls -------------------------------------------------------------------------------


def _waiting_targets(room: Room, ids: list[str], everyone: bool) -> list[Participant]:
    if everyone:
        return room.meeting.roster.waiting()
    targets = []
    for pid in ids:
        target = room.meeting.roster.get(pid)
        if target is not None and target.state is State.WAITING:
            targets.append(target)
    return targets


@handles(p.Admit)
async def admit(room: Room, member: Member, msg: p.Admit) -> Result:
    _require(room, member, Action.SEE_WAITING_ROOM)
    admitted = []
    for target in _waiting_targets(room, msg.participants, msg.all):
        room.meeting.admit(member.participant, target)
        admitted.append(target.id)
        room.admit_member(room.members[target.id])
    return {"admitted": admitted}


@handles(p.Deny)
async def deny(room: Room, member: Member, msg: p.Deny) -> Result:
    _require(room, member, Action.SEE_WAITING_ROOM)
    denied = []
    for target in _waiting_targets(room, msg.participants, msg.all):
        room.meeting.deny(member.participant, target)
        denied.append(target.id)
        room.audit("deny", actor=member.participant.name, subject=target.name)
        await _put_out(room, target.id, "denied")
    return {"denied": denied}


async def _put_out(room: Room, participant_id: str, event: str) -> None:
    gone = room.members.get(participant_id)
    if gone is None:
        return
    gone.outbox.send({"type": event})
    await room.depart(gone, kind=event)
    await gone.outbox.close(flush_timeout=0.5)
    await gone.disconnect(CLOSE_POLICY, event)


@handles(p.Remove)
async def remove(room: Room, member: Member, msg: p.Remove) -> Result:
    target = _target(room, msg.participant)
    room.meeting.remove(member.participant, target)
    room.audit("remove", actor=member.participant.name, subject=target.name)
    await _put_out(room, target.id, "removed")
    await room.save_state()  # the bans outlive the room and the process
    return {}


@handles(p.Mute)
async def mute(room: Room, member: Member, msg: p.Mute) -> Result:
    target = _target(room, msg.participant)
    room.meeting.block_source(member.participant, target, msg.source)
    room.to_member(
        target.id, {"type": "muted", "source": msg.source, "by": member.participant.name}
    )
    _sources_changed(room, target)
    return {}


@handles(p.MuteAll)
async def mute_all(room: Room, member: Member, msg: p.MuteAll) -> Result:
    for target in room.meeting.mute_all(member.participant):
        room.to_member(
            target.id,
            {"type": "muted", "source": Source.MICROPHONE, "by": member.participant.name},
        )
        _sources_changed(room, target)
    room.audit("mute_all", actor=member.participant.name)
    return {}


@handles(p.LowerHand)
async def lower_hand(room: Room, member: Member, msg: p.LowerHand) -> Result:
    target = _target(room, msg.participant)
    room.meeting.lower_hand(member.participant, target)
    room.participant_changed(target)
    return {}


@handles(p.Lock)
async def lock(room: Room, member: Member, msg: p.Lock) -> Result:
    room.meeting.lock(member.participant, msg.locked)
    room.audit("lock" if msg.locked else "unlock", actor=member.participant.name)
    room.broadcast_meeting_state()
    await room.save_state()
    return {}


@handles(p.ChangeSettings)
async def change_settings(room: Room, member: Member, msg: p.ChangeSettings) -> Result:
    _require(room, member, Action.CHANGE_SETTINGS)
    current = room.meeting.settings.model_dump()
    try:
        settings = MeetingSettings.model_validate({**current, **msg.settings})
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "invalid settings") from exc
    problems = room.policy_violations(settings)
    if problems:
        raise ProtocolError(ErrorCode.FORBIDDEN, "required by the instance: " + ", ".join(problems))
    before = room.meeting.settings
    room.meeting.change_settings(member.participant, settings)
    room.audit("settings", actor=member.participant.name, detail=",".join(sorted(msg.settings)))
    room.broadcast_meeting_state()
    if room.media is not None:
        for participant in room.meeting.roster.admitted():
            room.media.sources_changed(participant)
    # Stored before the reply: the door reads the store, so the very next join obeys it. A
    # passcode turned on is made here and shown to this host once (as the REST API does).
    passcode = None
    extra: dict[str, Any] = {}
    if settings.passcode_required and not before.passcode_required:
        passcode = new_passcode()
        extra["passcode_hash"] = await hash_secret(passcode)
    elif not settings.passcode_required and before.passcode_required:
        extra["clear_passcode"] = True
    await room.save_state(**extra)
    return {"passcode": passcode} if passcode else {}


@handles(p.Spotlight)
async def spotlight(room: Room, member: Member, msg: p.Spotlight) -> Result:
    room.meeting.set_spotlight(member.participant, list(msg.participants))
    room.broadcast_meeting_state()
    return {}


@handles(p.Cohost)
async def cohost(room: Room, member: Member, msg: p.Cohost) -> Result:
    target = _target(room, msg.participant)
    room.meeting.assign_cohost(member.participant, target, msg.cohost)
    room.audit(
        "cohost" if msg.cohost else "uncohost", actor=member.participant.name, subject=target.name
    )
    room.participant_changed(target)
    if room.may(target, Action.SEE_WAITING_ROOM):
        room.to_member(target.id, {"type": "waiting", "participants": room.waiting_list()})
    return {}


@handles(p.Suspend)
async def suspend(room: Room, member: Member, msg: p.Suspend) -> Result:
    for target in room.meeting.suspend_activities(member.participant):
        room.to_member(target.id, {"type": "suspended", "by": member.participant.name})
        _sources_changed(room, target)
    room.audit("suspend", actor=member.participant.name)
    room.broadcast_meeting_state()
    await room.save_state()
    return {}


@handles(p.End)
async def end(room: Room, member: Member, msg: p.End) -> Result:
    room.meeting.end(member.participant)
    room.audit("end", actor=member.participant.name)
    await room.save_state()  # guests who come later hear "ended" until the host starts again
    for other in list(room.members.values()):
        other.outbox.send({"type": "ended"})
    room.spawn(room.close(reason="meeting ended"))
    return {}


@handles(p.ReportParticipant)
async def report(room: Room, member: Member, msg: p.ReportParticipant) -> Result:
    target = _target(room, msg.participant)
    _require(room, member, Action.REPORT, target)
    room.audit("report", actor=member.participant.name, subject=target.name)
    await room.report(member.participant.name, target.name, msg.reason)
    return {}


@handles(p.AuditLog)
async def audit_log(room: Room, member: Member, msg: p.AuditLog) -> Result:
    _require(room, member, Action.SEE_AUDIT_LOG)
    return {"events": await room.audit_events()}


@handles(p.RecordingStart)
async def recording_start(room: Room, member: Member, msg: p.RecordingStart) -> Result:
    if room.meeting.start_recording(member.participant):
        try:
            await room.start_recorder()
        except RecordingUnavailable as exc:
            room.meeting.recording = False  # nobody is told of a recording that never was
            raise ProtocolError(
                ErrorCode.INTERNAL, str(exc), reason="recording_unavailable"
            ) from None
        room.audit("recording_start", actor=member.participant.name)
        room.broadcast_meeting_state()
    return {"recording": True}


@handles(p.RecordingStop)
async def recording_stop(room: Room, member: Member, msg: p.RecordingStop) -> Result:
    if room.meeting.stop_recording(member.participant):
        room.broadcast_meeting_state()
        room.audit("recording_stop", actor=member.participant.name)
        await room.stop_recorder()
    return {"recording": False}


async def dispatch(room: Room, member: Member, msg: p.Request) -> Result:
    """Run one request for a member; waiting members may only leave or ping."""
    if member.participant.state is State.WAITING and not isinstance(msg, WAITING_ALLOWED):
        raise ProtocolError(ErrorCode.FORBIDDEN, "waiting to be admitted")
    handler = HANDLERS.get(type(msg))
    if handler is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{msg.type} is not allowed here")  # type: ignore[attr-defined]
    try:
        return await handler(room, member, msg)
    except Forbidden as exc:
        raise ProtocolError(ErrorCode.FORBIDDEN, str(exc), reason=exc.reason) from None
    except NotFound:
        raise ProtocolError(ErrorCode.NOT_FOUND, "no such participant") from None
    except NoSuchRoom:
        raise ProtocolError(ErrorCode.NOT_FOUND, "no such room", reason=NoSuchRoom.reason) from None
    except BreakoutError as exc:
        raise ProtocolError(ErrorCode.FORBIDDEN, str(exc), reason=exc.reason) from None
    except NameTaken:
        raise p.name_taken() from None
    except SdpError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"invalid session description: {exc}") from None
