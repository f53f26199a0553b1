"""A live meeting's state and how it changes: who gets in, who waits, what hosts change.

Pure state and decisions, no I/O: the signaling layer calls these methods and turns their
results into messages; time is passed in so that tests control it. Every change a participant
asks for is one method here that asks `permissions.may` first (raising `Forbidden`) and then
changes the state as a whole (a screen share stops with its audio), so that no caller has to
know a rule or remember half of a change.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from mosaic.domain.access import Bans, MeetingAccess, Refusal, Visitor
from mosaic.domain.breakouts import Breakouts, LateJoiners, Mode, WrongPhase
from mosaic.domain.permissions import SOURCE_ACTIONS, Action, may
from mosaic.domain.roster import Participant, Role, Roster, Source, State
from mosaic.domain.settings import MeetingSettings, Who
from mosaic.domain.text import MAX_CHAT_CHARS, is_ciphertext, name_key

MAX_SPOTLIGHT = 2
# Join-flood defence: this many unknown guests admitted within the window turns the waiting
# room on by itself (a war-dialer who found a link brings friends fast; a class arrives slower).
FLOOD_GUESTS = 12
FLOOD_WINDOW_S = 10.0
# Longer windows too, (seconds, guests): a flood paced to stay under the short one (11 guests
# every 10 s is 66 a minute) is still far more than people arriving for a meeting do.
FLOOD_WINDOWS: tuple[tuple[float, int], ...] = (
    (FLOOD_WINDOW_S, FLOOD_GUESTS),
    (60.0, 40),
    (600.0, 150),
)


class Forbidden(Exception):
    """The actor may not do this; carries the action for the error message, or a message
    and a machine-readable ``reason`` where the refusal needs explaining to a person."""

    def __init__(
        self, action: Action, message: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message or f"not allowed: {action.value}")
        self.action = action
        self.reason = reason


NOT_RECORDED_E2EE = "recording is not available in an end-to-end encrypted meeting"


class NotFound(Exception):
    """No participant by that id is in the meeting to be acted on or written to. Someone
    waiting counts as absent: a participant cannot tell a waiting id from an unknown one."""


class NameTaken(Exception):
    """A name that would pass for a host's or co-host's: refused to anyone else, who could
    otherwise speak in the host's name (the people panel marks hosts too)."""


@dataclass(frozen=True, slots=True)
class ChatAudience:
    """Who receives one chat message: its ``recipient`` (None: everyone in the meeting), and
    everyone it is sent to (a private one: the recipient, and the sender's own copy)."""

    recipient: Participant | None
    participants: list[Participant]


@dataclass
class LiveMeeting:
    id: str
    topic: str
    host_user_id: int | None
    settings: MeetingSettings = field(default_factory=MeetingSettings)
    locked: bool = False
    ended: bool = False
    roster: Roster = field(default_factory=Roster)
    spotlight: list[str] = field(default_factory=list)
    bans: Bans = field(default_factory=Bans)
    # The stored version this live copy reflects (see `MeetingAccess.version`).
    version: int = 0
    # Devices admitted while this room was live (the store keeps them for later rooms).
    known_devices: set[str] = field(default_factory=set)
    _recent_guests: deque[float] = field(default_factory=deque)
    flood_windows: tuple[tuple[float, int], ...] = FLOOD_WINDOWS
    # The window that tripped the defence last, (guests, seconds), for the hosts' alert.
    last_flood: tuple[int, float] | None = None
    # Breakout rooms (see `mosaic.domain.breakouts`): the room one is in narrows chat and media.
    breakouts: Breakouts = field(default_factory=Breakouts)
    # The server records this meeting now; everyone is shown it (and joiners are told first).
    recording: bool = False

    # -- entry -----------------------------------------------------------------------------

    def access(self) -> MeetingAccess:
        """This meeting's entry state, as it is now (what the store is told to keep)."""
        return MeetingAccess(
            host_user_id=self.host_user_id,
            settings=self.settings,
            locked=self.locked,
            ended=self.ended,
            bans=self.bans,
            version=self.version,
        )

    def refresh(self, stored: MeetingAccess) -> bool:
        """Take on a stored state newer than this copy (a REST change, a write of our own
        completing); an older or equal one changes nothing. True if what people see (the
        settings, the lock) changed, so that the room tells them."""
        if stored.version <= self.version:
            return False
        visible = (stored.settings, stored.locked) != (self.settings, self.locked)
        self.settings = stored.settings
        self.locked = stored.locked
        self.ended = stored.ended
        self.bans = stored.bans
        self.version = stored.version
        return visible

    def refusal_for(self, visitor: Visitor, *, returning: bool = False) -> Refusal | None:
        """Why this visitor may not enter at all, or None (see `MeetingAccess.refusal_for`)."""
        return self.access().refusal_for(self._recognised(visitor), returning=returning)

    def _recognised(self, visitor: Visitor) -> Visitor:
        """The visitor, ``known`` if its device was admitted here before."""
        if visitor.known or visitor.device_id is None:
            return visitor
        if visitor.device_id not in self.known_devices:
            return visitor
        return replace(visitor, known=True)

    def is_host_user(self, visitor: Visitor) -> bool:
        return self.host_user_id is not None and visitor.user_id == self.host_user_id

    def enter(
        self, participant_id: str, name: str, visitor: Visitor, now: float
    ) -> tuple[Participant, bool]:
        """Add a visitor who passed `refusal_for`. Returns the participant and whether this
        entry tripped the join-flood defence (the waiting room was switched on)."""
        host = self.is_host_user(visitor)
        if not host:
            self.check_name(name, visitor=visitor)
        flood = False
        if host:
            role, state = Role.HOST, State.ADMITTED
            self.ended = False  # the host starts an ended meeting again
        elif self.access().must_wait(self._recognised(visitor)):
            role, state = Role.PARTICIPANT, State.WAITING
        else:
            flood = self._note_guest(now)
            role = Role.PARTICIPANT
            state = State.WAITING if flood else State.ADMITTED
        return self._seat(participant_id, name, visitor, role, state, now), flood

    def check_name(
        self, name: str, bearer: Participant | None = None, visitor: Visitor | None = None
    ) -> None:
        """Raise `NameTaken` if ``name`` is, to the eye, a present host's or co-host's name and
        its bearer is neither (see `mosaic.domain.text.name_key`). Someone entering (no bearer
        yet) may take the name of a co-host whose account or browser they share: a co-host
        whose page reloads keeps their name while their old place waits out its grace."""
        if bearer is not None and bearer.is_host_or_cohost:
            return
        key = name_key(name)
        for other in self.roster.hosts():
            if other is bearer or (visitor is not None and _same_person(visitor, other)):
                continue
            if name_key(other.name) == key:
                raise NameTaken()

    def rejoin(
        self,
        participant_id: str,
        name: str,
        visitor: Visitor,
        role: Role,
        admitted: bool,
        now: float,
    ) -> Participant:
        """Put back someone this meeting had let in (or was keeping waiting) before its server
        restarted, as the server's signed resume token says: same id, name and role, admitted
        or waiting as before. Entry rules for newcomers (lock, sign-in, domains, the waiting
        room, the flood defence) do not apply to them; the caller still asks `refusal_for`
        whether the meeting ended or they were removed. Host stays the meeting's host user's
        alone, whatever the token says."""
        if self.is_host_user(visitor):
            role, state = Role.HOST, State.ADMITTED
        else:
            role = Role.COHOST if role is Role.COHOST else Role.PARTICIPANT
            state = State.ADMITTED if admitted else State.WAITING
        return self._seat(participant_id, name, visitor, role, state, now)

    def _seat(
        self,
        participant_id: str,
        name: str,
        visitor: Visitor,
        role: Role,
        state: State,
        now: float,
    ) -> Participant:
        """Add the participant, carrying what identifies them at the door (for bans)."""
        participant = Participant(
            id=participant_id,
            name=name,
            role=role,
            state=state,
            joined_at=now,
            user_id=visitor.user_id,
            device_id=visitor.device_id,
            address=visitor.address,
        )
        self.roster.add(participant)
        if state is State.ADMITTED:
            self.breakouts.arrived(participant_id)
        return participant

    def _note_guest(self, now: float) -> bool:
        """Count an admitted guest; True if that trips a flood window (each window is
        watched: ``flood_windows``). Tripping switches the waiting room on and starts the
        count afresh, so that a host who turns it off again is not overruled at once."""
        recent = self._recent_guests
        recent.append(now)
        longest = max(window for window, _ in self.flood_windows)
        while recent and recent[0] < now - longest:
            recent.popleft()
        if self.settings.waiting_room:
            return False
        for window, guests in self.flood_windows:
            arrived = 0
            for at in reversed(recent):
                if at < now - window:
                    break
                arrived += 1
            if arrived >= guests:
                self.settings = self.settings.model_copy(update={"waiting_room": True})
                self.last_flood = (arrived, window)
                recent.clear()
                return True
        return False

    def leave(self, participant_id: str) -> Participant | None:
        """A participant hung up (or its connection died)."""
        participant = self.roster.discard(participant_id)
        self.breakouts.left(participant_id)
        if participant is not None:
            if participant.state in (State.ADMITTED, State.WAITING):
                participant.state = State.LEFT
            if participant_id in self.spotlight:
                self.spotlight.remove(participant_id)
        return participant

    # -- host controls ---------------------------------------------------------------------

    def require(
        self, actor: Participant, action: Action, target: Participant | None = None
    ) -> None:
        if not may(actor, action, self, target):
            raise Forbidden(action)

    def target(self, participant_id: str) -> Participant:
        """The participant a request names, or `NotFound`. Whether the actor may act on them
        is `may`'s question (a waiting one is fine to admit, not to mute)."""
        target = self.roster.get(participant_id)
        if target is None:
            raise NotFound()
        return target

    def admit(self, actor: Participant, target: Participant) -> None:
        self.require(actor, Action.ADMIT, target)
        target.state = State.ADMITTED
        self.breakouts.arrived(target.id)

    def deny(self, actor: Participant, target: Participant) -> None:
        self.require(actor, Action.DENY, target)
        target.state = State.DENIED
        self.roster.discard(target.id)

    def remove(self, actor: Participant, target: Participant) -> None:
        """Put someone out for good: their account, device and address may not come back
        (see `MeetingAccess.refusal_for`); the caller stores the bans."""
        self.require(actor, Action.REMOVE, target)
        target.state = State.REMOVED
        self.bans = self.bans.with_participant(target)
        self.roster.discard(target.id)
        if target.id in self.spotlight:
            self.spotlight.remove(target.id)

    def block_source(self, actor: Participant, target: Participant, source: Source) -> None:
        """Turn off one of someone's sources (mute, stop video, stop screen share). A screen
        share stops with its audio: the shared tab's sound is part of the share."""
        action = {
            Source.MICROPHONE: Action.MUTE,
            Source.CAMERA: Action.STOP_VIDEO,
            Source.SCREEN: Action.STOP_SCREEN_SHARE,
            Source.SCREEN_AUDIO: Action.STOP_SCREEN_SHARE,
        }[source]
        self.require(actor, action, target)
        if source is Source.SCREEN:
            _stop_share(target)
        target.sources.discard(source)
        target.blocked_sources.add(source)

    def mute_all(self, actor: Participant) -> list[Participant]:
        """Mute everyone of lower rank; returns who was muted."""
        self.require(actor, Action.MUTE_ALL)
        muted = []
        for participant in self.roster.admitted():
            if may(actor, Action.MUTE_ALL, self, participant):
                participant.blocked_sources.add(Source.MICROPHONE)
                if Source.MICROPHONE in participant.sources:
                    participant.sources.discard(Source.MICROPHONE)
                    muted.append(participant)
        return muted

    def set_source(self, actor: Participant, source: Source, on: bool) -> Participant | None:
        """A participant turns its own microphone, camera or screen share on or off.

        One screen share at a time: starting one while someone else shares needs
        ``TAKE_OVER_SCREEN_SHARE`` (hosts and co-hosts); the displaced sharer, whose share
        stops with its audio, is returned.
        """
        if not on:
            actor.sources.discard(source)
            return None
        self.require(actor, SOURCE_ACTIONS[source])
        displaced = None
        if source is Source.SCREEN:
            sharer = self.screen_sharer()
            if sharer is not None and sharer.id != actor.id:
                self.require(actor, Action.TAKE_OVER_SCREEN_SHARE)
                _stop_share(sharer)
                displaced = sharer
        actor.sources.add(source)
        actor.blocked_sources.discard(source)
        return displaced

    def lock(self, actor: Participant, locked: bool) -> None:
        self.require(actor, Action.LOCK)
        self.locked = locked

    def change_settings(self, actor: Participant, settings: MeetingSettings) -> None:
        self.require(actor, Action.CHANGE_SETTINGS)
        if settings.cohosts_may_record != self.settings.cohosts_may_record:
            self.require(actor, Action.LET_COHOSTS_RECORD)
        conflict = self.settings_conflict(settings)
        if conflict:
            raise Forbidden(Action.CHANGE_SETTINGS, conflict, reason="recording")
        self.settings = settings

    def settings_conflict(self, settings: MeetingSettings) -> str | None:
        """Why these settings cannot apply to the meeting as it is now, or None: encryption
        switched on while the server records would leave a recording of the clear part
        and of nothing after it."""
        if settings.e2ee and not self.settings.e2ee and self.recording:
            return "stop the recording before turning on end-to-end encryption"
        return None

    def suspend_activities(self, actor: Participant) -> list[Participant]:
        """Zoom's emergency button: everyone of lower rank loses audio, video and screen share,
        the meeting locks, chat and renaming close. Hosts re-open each thing deliberately."""
        self.require(actor, Action.SUSPEND_ACTIVITIES)
        self.locked = True
        self.settings = self.settings.model_copy(
            update={
                "participants_may_unmute": False,
                "participants_may_start_video": False,
                "participants_may_chat": False,
                "participants_may_rename": False,
                "screen_share": Who.HOSTS,
            }
        )
        affected = []
        for participant in self.roster.admitted():
            if may(actor, Action.SUSPEND_ACTIVITIES, self, participant):
                stopped = participant.sources & {
                    Source.MICROPHONE,
                    Source.CAMERA,
                    Source.SCREEN,
                    Source.SCREEN_AUDIO,
                }
                participant.blocked_sources |= {Source.MICROPHONE, Source.CAMERA}
                participant.sources -= stopped
                affected.append(participant)
        return affected

    def assign_cohost(self, actor: Participant, target: Participant, cohost: bool) -> None:
        """Make someone a co-host, or take the role back (``cohost`` False)."""
        if cohost:
            self.require(actor, Action.ASSIGN_COHOST, target)
            target.role = Role.COHOST
        else:
            self.require(actor, Action.REVOKE_COHOST, target)
            target.role = Role.PARTICIPANT

    # -- what participants change about themselves (and hosts correct) -----------------------

    def rename(self, actor: Participant, target: Participant, name: str) -> str:
        """Rename oneself (``RENAME``) or, as a host's correction of an offensive name,
        someone else (``RENAME_OTHER``). Raises `NameTaken` for a name that passes for a
        host's. Returns the old name (for the audit trail)."""
        if target.id == actor.id:
            self.require(actor, Action.RENAME)
        else:
            self.require(actor, Action.RENAME_OTHER, target)
        self.check_name(name, target)
        old, target.name = target.name, name
        return old

    def raise_hand(self, actor: Participant, raised: bool, now: float) -> None:
        """Raise or lower one's own hand; raising it again keeps its place in the queue."""
        self.require(actor, Action.RAISE_HAND)
        if not raised:
            actor.hand_raised_at = None
        elif actor.hand_raised_at is None:
            actor.hand_raised_at = now

    def lower_hand(self, actor: Participant, target: Participant) -> None:
        """A host lowers someone's hand (the question was answered)."""
        self.require(actor, Action.LOWER_HAND, target)
        target.hand_raised_at = None

    def chat_audience(self, actor: Participant, to: str | None) -> ChatAudience:
        """Who receives the actor's chat message: everyone admitted, or for a private one
        (``to``) its recipient and the sender's own copy, nobody else (hosts do not read
        private messages). A recipient who is not in the meeting (waiting, unknown, or
        oneself) is `NotFound`; with chat closed, a participant may still write to a host."""
        if to is None:
            self.require(actor, Action.CHAT)
            # While breakout rooms are open, a message stays in its sender's room.
            together = self.breakouts.together
            return ChatAudience(
                None, [p for p in self.roster.admitted() if together(actor.id, p.id)]
            )
        recipient = self.roster.get(to)
        if recipient is None or not recipient.admitted or recipient.id == actor.id:
            raise NotFound()
        self.require(actor, Action.CHAT, recipient)
        return ChatAudience(recipient, [recipient, actor])

    def check_chat_text(self, text: str) -> None:
        """An encrypted meeting carries only ciphertext chat (``e2ee:``, docs/e2ee.md), so a
        client that would send clear text there is stopped; elsewhere the long ciphertext
        form is not chat (plain text stays within `MAX_CHAT_CHARS`)."""
        ciphertext = is_ciphertext(text)
        if self.settings.e2ee and not ciphertext:
            raise Forbidden(Action.CHAT, "this meeting's chat is end-to-end encrypted", "e2ee")
        if not self.settings.e2ee and ciphertext and len(text) > MAX_CHAT_CHARS:
            raise Forbidden(Action.CHAT, "this meeting is not end-to-end encrypted", "e2ee")

    def keeps_chat(self) -> bool:
        """Whether chat may be kept anywhere (the chat record, any journal): never in an
        encrypted meeting, whose chat the server must hold no history of, even as ciphertext."""
        return self.settings.record_chat and not self.settings.e2ee

    def publish_e2ee_key(self, actor: Participant, public_key: str) -> None:
        """A client's ephemeral public key, shown in its roster entry (docs/e2ee.md)."""
        self.require(actor, Action.E2EE_HELLO)
        actor.e2ee_key = public_key

    def e2ee_key_recipient(self, actor: Participant, to: str) -> Participant:
        """The one participant a wrapped meeting key goes to. Someone waiting, unknown, or
        oneself is `NotFound` (as for private chat: a waiting id is never confirmed)."""
        recipient = self.roster.get(to)
        if recipient is None or not recipient.admitted or recipient.id == actor.id:
            raise NotFound()
        self.require(actor, Action.SEND_E2EE_KEY, recipient)
        return recipient

    def set_spotlight(self, actor: Participant, participant_ids: list[str]) -> None:
        """Show up to two participants large for everyone (the yoga teacher)."""
        self.require(actor, Action.SPOTLIGHT)
        chosen = []
        for pid in participant_ids[:MAX_SPOTLIGHT]:
            target = self.roster.get(pid)
            if target is None or target.state is not State.ADMITTED:
                raise Forbidden(Action.SPOTLIGHT)
            chosen.append(pid)
        self.spotlight = chosen

    def start_recording(self, actor: Participant) -> bool:
        """Turn the meeting's recording on; False if it was on already (nothing changes).
        An end-to-end encrypted meeting is refused with the reason (``e2ee``) said."""
        if not may(actor, Action.START_RECORDING, self):
            if self.settings.e2ee and may(actor, Action.STOP_RECORDING, self):
                raise Forbidden(Action.START_RECORDING, NOT_RECORDED_E2EE, reason="e2ee")
            raise Forbidden(Action.START_RECORDING)
        if self.recording:
            return False
        self.recording = True
        return True

    def stop_recording(self, actor: Participant) -> bool:
        """Turn the meeting's recording off; False if it was off already."""
        self.require(actor, Action.STOP_RECORDING)
        if not self.recording:
            return False
        self.recording = False
        return True

    # -- breakout rooms (state in `mosaic.domain.breakouts`; the rules here) -------------------

    def create_breakouts(self, actor: Participant, names: list[str], mode: Mode) -> None:
        """New rooms; the automatic modes place the participants present at once (hosts and
        co-hosts stay free to go where they are needed)."""
        self.require(actor, Action.MANAGE_BREAKOUTS)
        self.breakouts.create(names, mode, self._placeable())

    def rename_breakout(self, actor: Participant, room_id: str, name: str) -> None:
        self.require(actor, Action.MANAGE_BREAKOUTS)
        self.breakouts.rename(room_id, name)

    def assign_breakouts(self, actor: Participant, assignments: dict[str, str | None]) -> None:
        """Place people in rooms (None: main); while open they move at once. Everyone named
        must be in the meeting, or nothing changes (`NotFound`)."""
        self.require(actor, Action.MANAGE_BREAKOUTS)
        for pid in assignments:
            target = self.roster.get(pid)
            if target is None or not target.admitted:
                raise NotFound()
        self.breakouts.assign(assignments)

    def auto_assign_breakouts(self, actor: Participant, how: Mode) -> None:
        self.require(actor, Action.MANAGE_BREAKOUTS)
        self.breakouts.auto(how, self._placeable())

    def open_breakouts(
        self,
        actor: Participant,
        now: float,
        seconds: float | None,
        allow_return: bool,
        late_joiners: LateJoiners,
    ) -> None:
        self.require(actor, Action.MANAGE_BREAKOUTS)
        self.breakouts.open(now, seconds, allow_return, late_joiners)

    def extend_breakouts(self, actor: Participant, now: float, minutes: int) -> None:
        self.require(actor, Action.MANAGE_BREAKOUTS)
        self.breakouts.extend(now, minutes)

    def close_breakouts(self, actor: Participant) -> None:
        self.require(actor, Action.MANAGE_BREAKOUTS)
        self.breakouts.close()

    def move_to_room(self, actor: Participant, room_id: str | None) -> None:
        """Go to a room (None: main). A host or co-host visits any room and stays what they
        are there; a participant chooses a room or returns to main as the host allowed."""
        if actor.is_host_or_cohost:
            self.require(actor, Action.VISIT_ROOM)
        elif room_id is None:
            self.require(actor, Action.RETURN_TO_MAIN)
        else:
            self.require(actor, Action.CHOOSE_ROOM)
        self.breakouts.move(actor.id, room_id)
        self.breakouts.late.discard(actor.id)

    def set_room_cohost(self, actor: Participant, target: Participant, room_id: str | None) -> None:
        """Make a participant co-host of one breakout room (None: no longer), as the host
        makes co-hosts of the meeting."""
        self.require(actor, Action.ASSIGN_COHOST, target)
        self.breakouts.set_room_cohost(target.id, room_id)

    def broadcast_audience(self, actor: Participant) -> list[Participant]:
        """A host's message to every room (and main): everyone admitted."""
        self.require(actor, Action.BROADCAST)
        if not self.breakouts.is_open:
            raise WrongPhase("breakouts_not_open")
        return self.roster.admitted()

    def help_audience(self, actor: Participant) -> list[Participant]:
        """Whom a participant's "ask for help" reaches: the hosts and co-hosts."""
        self.require(actor, Action.ASK_FOR_HELP)
        return [p for p in self.roster.hosts() if p.id != actor.id]

    def _placeable(self) -> list[str]:
        return [p.id for p in self.roster.admitted() if not p.is_host_or_cohost]

    def end(self, actor: Participant) -> None:
        self.require(actor, Action.END_MEETING)
        self.ended = True

    def screen_sharer(self) -> Participant | None:
        for participant in self.roster.admitted():
            if Source.SCREEN in participant.sources:
                return participant
        return None


def _stop_share(sharer: Participant) -> None:
    """A screen share stops with the tab audio shared along with it."""
    sharer.sources -= {Source.SCREEN, Source.SCREEN_AUDIO}


def _same_person(visitor: Visitor, participant: Participant) -> bool:
    """Same account, or same browser (the device the server issued, never a client's say)."""
    return (visitor.user_id is not None and visitor.user_id == participant.user_id) or (
        visitor.device_id is not None and visitor.device_id == participant.device_id
    )
