"""The one place that answers "may this participant do that?".

Signaling asks before it acts on a client's words, and the media plane asks before it forwards
a track, so a crafted WebSocket message or SDP offer gains nothing the UI would not allow.
Every rule of who may do what in a live meeting lives here: roles, ranks, the meeting's
settings, and who may be the target of what. ``LiveMeeting`` methods and the signaling room ask
`may`; none of them looks at a role to decide.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from mosaic.domain.roster import Participant, Role, Source, State
from mosaic.domain.settings import Who

if TYPE_CHECKING:
    from mosaic.domain.meeting import LiveMeeting


class Action(StrEnum):
    # What every admitted participant does.
    SEE_ROSTER = "see_roster"
    RECEIVE_MEDIA = "receive_media"
    # Set up one's publish connection; what flows through it is each source's own action.
    PUBLISH = "publish"
    PUBLISH_MICROPHONE = "publish_microphone"
    PUBLISH_CAMERA = "publish_camera"
    SHARE_SCREEN = "share_screen"
    CHAT = "chat"
    RENAME = "rename"
    RAISE_HAND = "raise_hand"
    REACT = "react"
    # End-to-end encryption (docs/e2ee.md): publish one's public key; hand a wrapped meeting
    # key to another participant (the server relays it and cannot read it).
    E2EE_HELLO = "e2ee_hello"
    SEND_E2EE_KEY = "send_e2ee_key"
    # Breakout rooms, as the host set them up: pick a room, go back to main, call a host.
    CHOOSE_ROOM = "choose_room"
    RETURN_TO_MAIN = "return_to_main"
    ASK_FOR_HELP = "ask_for_help"
    # What hosts and co-hosts do.
    SEE_WAITING_ROOM = "see_waiting_room"
    ADMIT = "admit"
    DENY = "deny"
    REMOVE = "remove"
    MUTE = "mute"
    MUTE_ALL = "mute_all"
    STOP_VIDEO = "stop_video"
    STOP_SCREEN_SHARE = "stop_screen_share"
    # Start one's screen share while someone else shares (theirs stops).
    TAKE_OVER_SCREEN_SHARE = "take_over_screen_share"
    LOWER_HAND = "lower_hand"
    # Correct someone else's (offensive) name.
    RENAME_OTHER = "rename_other"
    LOCK = "lock"
    CHANGE_SETTINGS = "change_settings"
    SPOTLIGHT = "spotlight"
    SUSPEND_ACTIVITIES = "suspend_activities"
    REPORT = "report"
    SEE_AUDIT_LOG = "see_audit_log"
    # Breakout rooms: make, fill, open, time and close them; speak to all; go into any.
    MANAGE_BREAKOUTS = "manage_breakouts"
    BROADCAST = "broadcast"
    VISIT_ROOM = "visit_room"
    # Start or stop the server's recording: the host, and co-hosts when the host lets them
    # (`MeetingSettings.cohosts_may_record`).
    START_RECORDING = "start_recording"
    STOP_RECORDING = "stop_recording"
    # What only the host does.
    ASSIGN_COHOST = "assign_cohost"
    REVOKE_COHOST = "revoke_cohost"
    END_MEETING = "end_meeting"
    # Change `cohosts_may_record`: a co-host, who changes the other settings, would otherwise
    # hand themselves the recording.
    LET_COHOSTS_RECORD = "let_cohosts_record"


HOST_CONTROLS = frozenset(
    {
        Action.SEE_WAITING_ROOM,
        Action.ADMIT,
        Action.DENY,
        Action.REMOVE,
        Action.MUTE,
        Action.MUTE_ALL,
        Action.STOP_VIDEO,
        Action.STOP_SCREEN_SHARE,
        Action.TAKE_OVER_SCREEN_SHARE,
        Action.LOWER_HAND,
        Action.RENAME_OTHER,
        Action.LOCK,
        Action.CHANGE_SETTINGS,
        Action.SPOTLIGHT,
        Action.SUSPEND_ACTIVITIES,
        Action.REPORT,
        Action.SEE_AUDIT_LOG,
        Action.MANAGE_BREAKOUTS,
        Action.BROADCAST,
        Action.VISIT_ROOM,
    }
)
HOST_ONLY = frozenset(
    {
        Action.ASSIGN_COHOST,
        Action.REVOKE_COHOST,
        Action.END_MEETING,
        Action.LET_COHOSTS_RECORD,
    }
)
# Controls aimed at another participant: they need a target of lower rank than the actor.
TARGETED = frozenset(
    {
        Action.ADMIT,
        Action.DENY,
        Action.REMOVE,
        Action.MUTE,
        Action.STOP_VIDEO,
        Action.STOP_SCREEN_SHARE,
        Action.LOWER_HAND,
        Action.RENAME_OTHER,
        Action.REPORT,
        Action.ASSIGN_COHOST,
        Action.REVOKE_COHOST,
    }
)
# Controls aimed at everyone at once: asked without a target, whether the actor may do it at
# all; asked with one, whether it reaches that participant.
SWEEPING = frozenset({Action.MUTE_ALL, Action.SUSPEND_ACTIVITIES})
# What a per-room co-host does to the participants of their breakout room (and nowhere else).
ROOM_COHOST_CONTROLS = frozenset(
    {Action.MUTE, Action.STOP_VIDEO, Action.STOP_SCREEN_SHARE, Action.LOWER_HAND}
)
_RANK = {Role.PARTICIPANT: 0, Role.COHOST: 1, Role.HOST: 2}
SOURCE_ACTIONS = {
    Source.MICROPHONE: Action.PUBLISH_MICROPHONE,
    Source.CAMERA: Action.PUBLISH_CAMERA,
    Source.SCREEN: Action.SHARE_SCREEN,
    Source.SCREEN_AUDIO: Action.SHARE_SCREEN,
}


def may(
    actor: Participant,
    action: Action,
    meeting: LiveMeeting,
    target: Participant | None = None,
) -> bool:
    """Whether ``actor`` may do ``action`` (to ``target``) in ``meeting`` right now.

    ``meeting`` is the context every rule reads (its settings, whether it ended); ``target``
    is the participant the action is aimed at, for the actions that have one (`TARGETED`, a
    private chat's recipient, one participant a `SWEEPING` control would reach)."""
    if meeting.ended or actor.state is not State.ADMITTED:
        return False
    if action in HOST_ONLY:
        allowed = actor.role is Role.HOST
    elif action in HOST_CONTROLS:
        allowed = actor.is_host_or_cohost
        if not allowed and action in ROOM_COHOST_CONTROLS:
            return _room_cohost_may(actor, meeting, target)
    else:
        allowed = _participant_may(actor, action, meeting, target)
    if not allowed:
        return False
    if action in TARGETED or (action in SWEEPING and target is not None):
        return _may_target(actor, action, target)
    return True


def may_publish(actor: Participant, source: Source, meeting: LiveMeeting) -> bool:
    """Whether others may receive this source of the actor's now (if it is turned on)."""
    return may(actor, SOURCE_ACTIONS[source], meeting)


def may_negotiate(actor: Participant, source: Source, meeting: LiveMeeting) -> bool:
    """Whether a track of this source may be set up in the actor's publish connection at all.
    Microphone and camera may be negotiated muted, to be turned on later if allowed; a screen
    only while sharing is allowed now."""
    if source in (Source.SCREEN, Source.SCREEN_AUDIO):
        return may(actor, Action.SHARE_SCREEN, meeting)
    return may(actor, Action.PUBLISH, meeting)


def _participant_may(
    actor: Participant, action: Action, meeting: LiveMeeting, target: Participant | None
) -> bool:
    settings = meeting.settings
    privileged = actor.is_host_or_cohost
    match action:
        case (
            Action.SEE_ROSTER
            | Action.RECEIVE_MEDIA
            | Action.PUBLISH
            | Action.RAISE_HAND
            | Action.REACT
        ):
            return True
        case Action.PUBLISH_MICROPHONE:
            return (
                privileged
                or settings.participants_may_unmute
                or Source.MICROPHONE not in actor.blocked_sources
            )
        case Action.PUBLISH_CAMERA:
            return (
                privileged
                or settings.participants_may_start_video
                or Source.CAMERA not in actor.blocked_sources
            )
        case Action.SHARE_SCREEN:
            return privileged or settings.screen_share is Who.EVERYONE
        case Action.CHAT:
            # While breakout rooms are open, a private word crosses rooms only to or from a
            # host (a pupil asks the teacher; pupils do not pass notes between rooms).
            if (
                target is not None
                and not (privileged or target.is_host_or_cohost)
                and not meeting.breakouts.together(actor.id, target.id)
            ):
                return False
            # With chat closed, a participant may still write privately to a host.
            return (
                privileged
                or settings.participants_may_chat
                or (target is not None and target.is_host_or_cohost)
            )
        case Action.CHOOSE_ROOM:
            return meeting.breakouts.may_choose(actor.id)
        case Action.RETURN_TO_MAIN:
            return meeting.breakouts.may_return(actor.id)
        case Action.ASK_FOR_HELP:
            return meeting.breakouts.room_of(actor.id) is not None
        case Action.RENAME:
            return privileged or settings.participants_may_rename
        case Action.E2EE_HELLO:
            return settings.e2ee
        case Action.SEND_E2EE_KEY:
            # Only to someone admitted (a waiting guest holds no key until let in) who has
            # published a key to wrap to, in an encrypted meeting.
            return (
                settings.e2ee
                and target is not None
                and target.id != actor.id
                and target.state is State.ADMITTED
                and target.e2ee_key is not None
            )
        case Action.START_RECORDING:
            # The server could only store ciphertext: an encrypted meeting is not recorded.
            return not settings.e2ee and (
                actor.role is Role.HOST
                or (actor.role is Role.COHOST and settings.cohosts_may_record)
            )
        case Action.STOP_RECORDING:
            return actor.role is Role.HOST or (
                actor.role is Role.COHOST and settings.cohosts_may_record
            )
    return False


def _room_cohost_may(actor: Participant, meeting: LiveMeeting, target: Participant | None) -> bool:
    """A per-room co-host moderates the plain participants of the room they are in, while
    they are both in it; a visiting host or co-host outranks them."""
    return (
        target is not None
        and target.id != actor.id
        and target.state is State.ADMITTED
        and target.role is Role.PARTICIPANT
        and meeting.breakouts.moderates(actor.id, target.id)
    )


def _may_target(actor: Participant, action: Action, target: Participant | None) -> bool:
    if target is None or target.id == actor.id:
        return False
    if action in (Action.ADMIT, Action.DENY):
        return target.state is State.WAITING
    if target.state is not State.ADMITTED:
        return False
    if action is Action.REVOKE_COHOST:
        return target.role is Role.COHOST
    if action is Action.SUSPEND_ACTIVITIES:
        # Suspension takes away what the closed settings forbid, and those bind plain
        # participants only: a co-host keeps their microphone when the host suspends.
        return target.role is Role.PARTICIPANT
    return _RANK[actor.role] > _RANK[target.role]
