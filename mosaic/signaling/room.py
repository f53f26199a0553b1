"""A live meeting on this node: its rules (domain), its people's connections, its media.

The room turns the domain's decisions into frames for the right people. Roster changes are
batched, so a join storm of N people costs about N frames per flush instead of N² frames.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mosaic.domain.access import Visitor
from mosaic.domain.meeting import FLOOD_WINDOWS, LiveMeeting, NameTaken
from mosaic.domain.permissions import Action, may
from mosaic.domain.roster import Participant, Source, State
from mosaic.domain.settings import InstancePolicy, MeetingSettings
from mosaic.signaling.device_log import DeviceLog
from mosaic.signaling.live_state import CHAT_KEPT, Journals, LiveState, NoJournals, visible_chat
from mosaic.signaling.outbox import Outbox, encode
from mosaic.signaling.protocol import name_taken
from mosaic.signaling.recording import ActiveRecording, RecordingDesk, RecordingUnavailable
from mosaic.signaling.resume import REFRESH_S, ResumeClaim, ResumeTokens
from mosaic.store.audit import Audit
from mosaic.store.meetings import MeetingRecord, Meetings
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008


def _background_failed(error: BaseException) -> None:
    log.error("background task of a room failed", exc_info=error)


class MediaRoom(Protocol):
    """What the room needs from the media plane (implemented by `mosaic.media.sfu.router`)."""

    async def publish(self, participant_id: str, sdp: str, sources: dict[str, Source]) -> str: ...
    async def answer(self, participant_id: str, sdp: str) -> None: ...
    async def ice_candidate(
        self, participant_id: str, pc: str, candidate: str | None, mid: str | None
    ) -> None: ...
    def view(
        self,
        participant_id: str,
        videos: list[tuple[str, Source, int, int]],
        max_kbps: int | None = None,
    ) -> None: ...
    def admit(self, participant_id: str) -> None: ...
    def sources_changed(self, participant: Participant) -> None: ...
    # Its signaling came back; True when its media is gone and the client must start it
    # afresh (a spanned meeting's media worker died: `mosaic.signaling.span`).
    def resumed(self, participant_id: str) -> bool | None: ...
    # Who is in which breakout room changed: re-check who receives whom.
    def scope_changed(self) -> None: ...
    async def restart(self, participant_id: str, pc: str) -> None: ...
    async def remove(self, participant_id: str) -> None: ...
    async def close(self) -> None: ...

    # Told of each participant's connection quality and uplink trouble (set by `Rooms`).
    on_condition: Callable[[str, str, bool], None]


@dataclass(frozen=True)
class RoomServices:
    """What a room uses beyond its own state: the audit trail, the instance's policy, and
    the ICE servers (with credentials) to hand each participant."""

    audit: Audit
    policy: InstancePolicy
    ice_servers: Callable[[str], list[dict[str, Any]]] | None = None
    # Signed with the server's key (Services.secret_key) so that a restarted server believes
    # them; a room built without one (unit tests) signs with a key of its own.
    resume_tokens: ResumeTokens = field(
        default_factory=lambda: ResumeTokens(secrets.token_bytes(32))
    )
    # Where the meeting's entry state (settings, lock, end, bans) is stored; None in tests of
    # a room alone.
    meetings: Meetings | None = None
    # Join-flood windows, (seconds, guests) each (see `mosaic.domain.meeting.FLOOD_WINDOWS`).
    flood_windows: tuple[tuple[float, int], ...] = FLOOD_WINDOWS
    # Starts and stops the server's recordings; None in tests of a room alone (the flag
    # everyone sees still changes).
    recordings: RecordingDesk | None = None
    # Where each room writes the live state that must outlive its worker (raised hands,
    # chat, ...: `mosaic.signaling.live_state`); nowhere on a single process.
    journals: Journals = field(default_factory=NoJournals)
    # How long a dropped connection keeps its place (`--resume-grace-s`); None: the
    # module's RESUME_GRACE_S, read when the connection drops.
    resume_grace_s: float | None = None


# A participant whose connection dropped keeps its place this long, to come back with its
# resume token (no new trip through the waiting room, no duplicate tile).
RESUME_GRACE_S = 15.0
CLOSE_REPLACED = 4000


@dataclass(eq=False)
class Member:
    """One participant's place in the room, and the connection it is reached through."""

    participant: Participant
    outbox: Outbox
    disconnect: Callable[[int, str], Awaitable[None]]
    resume_token: str = ""  # the last one issued (see `Room.issue_token`)
    token_says: tuple[str, str, str] = ("", "", "")  # (name, role, state) it was issued for
    connection: object = None  # the session now serving this member
    expiry: asyncio.TimerHandle | None = None  # set while disconnected, awaiting a resume
    joined_monotonic: float = field(default_factory=time.monotonic)

    @property
    def id(self) -> str:
        return self.participant.id


# A participant's live state as journaled (see `mosaic.signaling.live_state`), and none.
_NOTHING: dict[str, Any] = {"hand": None, "blocked": []}


def _live_of(participant: Participant) -> dict[str, Any]:
    return {
        "hand": participant.hand_raised_at,
        "blocked": sorted(s.value for s in participant.blocked_sources),
    }


def roster_flush_interval(size: int) -> float:
    """Small rooms feel live (50 ms); a thousand people get one roster frame per second."""
    return min(1.0, 0.05 + size / 1000.0)


class Room:
    def __init__(
        self,
        meeting: LiveMeeting,
        *,
        services: RoomServices,
        media: MediaRoom | None = None,
        on_empty: Callable[[Room], None] | None = None,
    ) -> None:
        self.meeting = meeting
        self.media = media
        self.members: dict[str, Member] = {}
        self._services = services
        self._on_empty = on_empty
        self._roster_changes: dict[str, str] = {}
        self._waiting_changed = False
        self._flush_handle: asyncio.TimerHandle | None = None
        self._background = TaskSet(on_error=_background_failed)
        self.frames_sent = 0
        # Who left this room for good (left, denied, removed), so that their resume tokens,
        # still valid for minutes, cannot bring them back: participant id -> how they went.
        self.departed: dict[str, str] = {}
        self._token_refresh: asyncio.TimerHandle | None = None
        # The breakout rooms' next deadline (see `mosaic.signaling.breakouts.schedule`).
        self.breakout_timer: asyncio.TimerHandle | None = None
        self._devices = DeviceLog(meeting.id, meeting.known_devices, services.meetings, self.spawn)
        self._recording: ActiveRecording | None = None
        # The live state that must outlive this worker, written as it changes.
        self.journal = services.journals.open(meeting.id)
        # The last chat messages, each with its audience: given back to whoever returns.
        self.chat: deque[dict[str, Any]] = deque(maxlen=CHAT_KEPT)
        # Hands and turned-off sources of people not back yet (read from a journal when this
        # room was opened on a new home); each is applied when its participant rejoins.
        self._returning: dict[str, dict[str, Any]] = {}
        # What the journal holds of each participant, so that only changes are written.
        self._journaled: dict[str, dict[str, Any]] = {}
        self._journaled_spotlight: list[str] = []

    @property
    def id(self) -> str:
        return self.meeting.id

    # -- the live state that outlives this worker --------------------------------------------

    def restore(self, state: LiveState) -> None:
        """Take back the live state a previous home of this meeting journaled (it died or
        handed the meeting over): who left for good, the chat, the spotlight, and each
        participant's hand and turned-off sources for when they rejoin."""
        self.departed.update(state.get("departed", {}))
        self.chat.extend(state.get("chat", []))
        self.meeting.spotlight = list(state.get("spotlight", []))[:2]
        self._journaled_spotlight = list(self.meeting.spotlight)
        self._returning = dict(state.get("people", {}))
        self._journaled = dict(self._returning)

    def live_state(self) -> LiveState:
        """All the live state the journal should hold now (to rewrite it whole)."""
        states = {p.id: _live_of(p) for p in self.meeting.roster.admitted()}
        people = {pid: state for pid, state in states.items() if state != _NOTHING}
        return {
            "people": {**self._returning, **people},
            "departed": dict(self.departed),
            "spotlight": list(self.meeting.spotlight),
            "chat": list(self.chat),
        }

    def _journal_person(self, participant: Participant) -> None:
        state = _live_of(participant)
        if self._journaled.get(participant.id, _NOTHING) != state:
            self._journaled[participant.id] = state
            self.journal.person(participant.id, None if state == _NOTHING else state)

    def post_chat(self, participants: list[Participant], frame: dict[str, Any]) -> None:
        """Send a chat message to its audience (the domain chose it), and keep it with that
        audience, so that a participant put back on a new home is given what it saw; its id
        lets clients drop a message they have already."""
        frame = {"id": secrets.token_hex(8), **frame}
        self.to_participants(participants, frame)
        # An encrypted meeting's chat is relayed, never kept, not even as ciphertext.
        if self.meeting.settings.e2ee:
            return
        kept = {**frame, "audience": [p.id for p in participants]}
        self.chat.append(kept)
        self.journal.chat(kept)

    # -- entering ------------------------------------------------------------------------------

    def enter(
        self,
        participant_id: str,
        name: str,
        visitor: Visitor,
        outbox: Outbox,
        disconnect: Callable[[int, str], Awaitable[None]],
    ) -> Member:
        """Place a visitor who passed the door (see `Door.admission`) in the room."""
        try:
            participant, flood = self.meeting.enter(participant_id, name, visitor, time.time())
        except NameTaken:
            raise name_taken() from None
        member = Member(participant, outbox, disconnect)
        self.members[participant.id] = member
        self._refresh_tokens_later()
        self.audit("join", subject=participant.name, detail=participant.state.value)
        if flood:
            guests, window = self.meeting.last_flood or (0, 0.0)
            self.audit("join_flood", detail=f"{guests} guests in {window:g} s: waiting room on")
            self.alert(
                {"type": "alert", "code": "join_flood", "guests": guests, "seconds": int(window)}
            )
            self.broadcast_meeting_state()
            self.spawn(self.save_state())
        if participant.state is State.ADMITTED:
            self._admitted(member)
        else:
            self._waiting_changed = True
            self._schedule_flush()
        return member

    def _admitted(self, member: Member) -> None:
        self._roster_changes[member.id] = "joined"
        self._schedule_flush()
        if member.participant.device_id is not None:
            self._devices.admitted(member.participant.device_id)
        if self.media is not None:
            self.media.admit(member.id)

    # -- the stored state ------------------------------------------------------------------

    async def save_state(self, **extra: Any) -> MeetingRecord | None:
        """Store the meeting's entry state as it is now in this room (settings, lock, end,
        bans; ``extra``: a passcode hash made or cleared), so that the door, which reads the
        store, applies it to the very next join, and it outlives the room and the process."""
        meetings = self._services.meetings
        if meetings is None:
            return None
        meeting = self.meeting
        record = await meetings.update(
            self.id,
            settings=meeting.settings,
            locked=meeting.locked,
            ended=meeting.ended,
            bans=meeting.bans,
            **extra,
        )
        if record is not None:
            self.apply_stored(record)
        return record

    def apply_stored(self, record: MeetingRecord) -> None:
        """Bring this room up to a newer stored state of its meeting (changed through REST,
        or by a write of its own) and tell the people in it what they would see change."""
        meeting = self.meeting
        if record.version <= meeting.version:
            return
        topic_changed = record.topic != meeting.topic
        meeting.topic = record.topic
        if meeting.refresh(record.access) or topic_changed:
            self.broadcast_meeting_state()
            if self.media is not None:
                for participant in meeting.roster.admitted():
                    self.media.sources_changed(participant)

    def entry_result(self, member: Member) -> dict[str, Any]:
        """The reply to `join` (and the body of the `admitted` event)."""
        participant = member.participant
        if participant.state is State.WAITING:
            return {
                "state": "waiting",
                "self": {"id": participant.id, "name": participant.name},
                "resume_token": self.issue_token(member),
            }
        result: dict[str, Any] = {
            "state": "joined",
            "self": participant.public(),
            "meeting": self.meeting_state(),
            "participants": [p.public() for p in self.meeting.roster.admitted()],
            "ice_servers": self.ice_servers(member.id),
        }
        if self.may(participant, Action.SEE_WAITING_ROOM):
            result["waiting"] = self.waiting_list()
        chat = visible_chat(list(self.chat), participant.id)
        if chat:  # someone returning: what it was sent (clients drop the ones they have)
            result["chat"] = chat
        manages = self.may(participant, Action.MANAGE_BREAKOUTS)
        result["breakouts"] = self.meeting.breakouts.view(participant.id, manages)
        result["resume_token"] = self.issue_token(member)
        return result

    def ice_servers(self, participant_id: str) -> list[dict[str, Any]]:
        """STUN/TURN servers for this participant's browser, with fresh credentials."""
        return self._services.ice_servers(participant_id) if self._services.ice_servers else []

    # -- connections that drop and come back -------------------------------------------------

    def issue_token(self, member: Member) -> str:
        """A fresh resume token saying who the member is now (never logged)."""
        participant = member.participant
        member.resume_token = self._services.resume_tokens.issue(self.id, participant)
        member.token_says = (participant.name, participant.role.value, participant.state.value)
        return member.resume_token

    def _send_token(self, member: Member) -> None:
        member.outbox.send({"type": "token", "resume_token": self.issue_token(member)})

    def _refresh_tokens_later(self) -> None:
        if self._token_refresh is None:
            loop = asyncio.get_running_loop()
            self._token_refresh = loop.call_later(REFRESH_S, self._refresh_tokens)

    def _refresh_tokens(self) -> None:
        """Tokens are short-lived: connected members get new ones before theirs expire."""
        self._token_refresh = None
        for member in self.members.values():
            if member.expiry is None:
                self._send_token(member)
        if self.members:
            self._refresh_tokens_later()

    def rejoin(
        self,
        claim: ResumeClaim,
        visitor: Visitor,
        outbox: Outbox,
        disconnect: Callable[[int, str], Awaitable[None]],
    ) -> Member:
        """Give back a place this room does not know (the server restarted, or the connection
        stayed away past the grace) to a participant with a valid resume token, who passed
        the door's checks (`Door.readmit`). Its media starts afresh."""
        participant = self.meeting.rejoin(
            claim.participant_id, claim.name, visitor, claim.role, claim.admitted, time.time()
        )
        returning = self._returning.pop(participant.id, None)
        if returning is not None and participant.admitted:
            participant.hand_raised_at = returning.get("hand")
            participant.blocked_sources = {Source(s) for s in returning.get("blocked", ())}
        member = Member(participant, outbox, disconnect)
        self.members[participant.id] = member
        self._refresh_tokens_later()
        self.audit("rejoin", subject=participant.name, detail=participant.state.value)
        if participant.state is State.ADMITTED:
            self._admitted(member)
        else:
            self._waiting_changed = True
            self._schedule_flush()
        return member

    def connection_lost(self, member: Member) -> None:
        """The connection dropped without a goodbye: keep the place for a while."""
        if self.members.get(member.id) is not member or member.expiry is not None:
            return
        loop = asyncio.get_running_loop()
        grace = self._services.resume_grace_s
        grace = RESUME_GRACE_S if grace is None else grace
        member.expiry = loop.call_later(grace, lambda: self.spawn(self.depart(member, kind="lost")))
        # Operators follow who came and went by ids: never a name (personal data).
        log.info(
            "participant %s lost its connection to meeting %s (place kept %.0f s)",
            member.id,
            self.id,
            grace,
        )

    async def resume(
        self,
        member: Member,
        connection: object,
        outbox: Outbox,
        disconnect: Callable[[int, str], Awaitable[None]],
    ) -> dict[str, Any]:
        """Put a member back on a new connection; the old one (if still open) is closed."""
        if member.expiry is not None:
            member.expiry.cancel()
            member.expiry = None
        old_outbox, old_disconnect = member.outbox, member.disconnect
        member.outbox, member.disconnect, member.connection = outbox, disconnect, connection
        await old_outbox.close(flush_timeout=0)
        await old_disconnect(CLOSE_REPLACED, "replaced by a newer connection")
        self.audit("resume", subject=member.participant.name)
        restored = False
        if self.media is not None and member.participant.admitted:
            restored = bool(self.media.resumed(member.id))
        if restored:  # its media died with its worker (cluster): the client starts it afresh
            return {**self.entry_result(member), "restored": True}
        return self.entry_result(member)

    def admit_member(self, member: Member) -> None:
        """Tell a participant who waited that they are in, with what a joiner gets."""
        self.audit("admit", subject=member.participant.name)
        log.info("participant %s admitted to meeting %s", member.id, self.id)
        self._admitted(member)
        member.outbox.send({"type": "admitted", **self.entry_result(member)})
        self._waiting_changed = True

    # -- leaving -------------------------------------------------------------------------------

    async def depart(self, member: Member, kind: str = "leave") -> None:
        """Someone is gone (hung up, lost, denied or removed): forget them everywhere."""
        if self.members.get(member.id) is not member:
            return
        if member.expiry is not None:
            member.expiry.cancel()
            member.expiry = None
        del self.members[member.id]
        log.info("participant %s gone from meeting %s (%s)", member.id, self.id, kind)
        if kind != "lost":
            self.departed[member.id] = kind
            self.journal.departed(member.id, kind)
        if self._journaled.pop(member.id, _NOTHING) != _NOTHING:
            self.journal.person(member.id, None)
        was = member.participant.state
        self.meeting.leave(member.id)
        if was in (State.ADMITTED, State.REMOVED):
            self._roster_changes[member.id] = "left"
            self._schedule_flush()
        elif was in (State.WAITING, State.DENIED):
            self._waiting_changed = True
            self._schedule_flush()
        if kind in ("leave", "lost"):
            self.audit(kind, subject=member.participant.name)
        if self.media is not None:
            await self.media.remove(member.id)
        if not self.members and self._on_empty is not None:
            self._on_empty(self)

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "meeting ended") -> None:
        """End the room: every connection is closed, media is torn down."""
        for member in list(self.members.values()):
            if member.expiry is not None:
                member.expiry.cancel()
            await member.outbox.close(flush_timeout=0.5)
            await member.disconnect(code, reason)
        self.members.clear()
        if self.meeting.ended:  # its live state goes with it (else kept for the next home)
            self.journal.forget()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._token_refresh is not None:
            self._token_refresh.cancel()
        if self.breakout_timer is not None:
            self.breakout_timer.cancel()
        self._devices.flush()
        try:
            await self.stop_recorder()  # its files finalized before the media goes
        except Exception:
            log.exception("stopping the recording of meeting %s failed", self.id)
        if self.media is not None:
            await self.media.close()
        # Audit events and recorded chat are still being written: let them finish.
        await self._background.wait(timeout=5.0)
        self._background.cancel()

    # -- sending -------------------------------------------------------------------------------

    def to_admitted(self, frame: dict[str, Any], exclude: str | None = None) -> None:
        text = encode(frame)
        for member in self.members.values():
            if member.participant.state is State.ADMITTED and member.id != exclude:
                member.outbox.put(text)
                self.frames_sent += 1

    def may(self, participant: Participant, action: Action) -> bool:
        """The domain's answer for this meeting (`permissions.may`), for deciding who is told
        what: the room never looks at a role itself."""
        return may(participant, action, self.meeting)

    def to_permitted(self, action: Action, frame: dict[str, Any]) -> None:
        """To the members who may do ``action`` now (the waiting list: SEE_WAITING_ROOM)."""
        text = encode(frame)
        for member in self.members.values():
            if self.may(member.participant, action):
                member.outbox.put(text)
                self.frames_sent += 1

    def alert(self, frame: dict[str, Any]) -> None:
        """A security alert (a join flood, passcode guessing): the live side of the audit log,
        told to those who may read the audit log, and who may lock the meeting."""
        self.to_permitted(Action.SEE_AUDIT_LOG, frame)

    def to_participants(self, participants: list[Participant], frame: dict[str, Any]) -> None:
        """To these participants (the audience the domain chose), encoded once."""
        text = encode(frame)
        for participant in participants:
            member = self.members.get(participant.id)
            if member is not None:
                member.outbox.put(text)
                self.frames_sent += 1

    def to_member(self, participant_id: str, frame: dict[str, Any]) -> None:
        member = self.members.get(participant_id)
        if member is not None:
            member.outbox.send(frame)
            self.frames_sent += 1

    def participant_changed(self, participant: Participant) -> None:
        """Someone's public state (name, role, sources, hand) changed: tell everyone, batched."""
        if self._roster_changes.get(participant.id) != "joined":
            self._roster_changes[participant.id] = "updated"
        self._schedule_flush()
        self._journal_person(participant)
        member = self.members.get(participant.id)
        says = (participant.name, participant.role.value, participant.state.value)
        if member is not None and member.token_says != says:
            # A co-host made (or unmade), a rename: the token must say so, or a restart
            # would bring them back as they were.
            self._send_token(member)

    def condition_changed(self, participant_id: str, quality: str, uplink_unstable: bool) -> None:
        """The media plane judged someone's connection anew: part of their public state, so
        every tile (theirs included: "your connection is unstable") shows it."""
        participant = self.meeting.roster.get(participant_id)
        if participant is None:
            return
        participant.quality = quality
        participant.uplink_unstable = uplink_unstable
        if participant.admitted:
            self.participant_changed(participant)

    def meeting_state(self) -> dict[str, Any]:
        meeting = self.meeting
        return {
            "id": meeting.id,
            "topic": meeting.topic,
            "settings": meeting.settings.model_dump(mode="json"),
            "locked": meeting.locked,
            "spotlight": list(meeting.spotlight),
            "recording": meeting.recording,
        }

    def broadcast_meeting_state(self) -> None:
        self.to_admitted({"type": "meeting", **self.meeting_state()})
        if self.meeting.spotlight != self._journaled_spotlight:
            self._journaled_spotlight = list(self.meeting.spotlight)
            self.journal.meeting({"spotlight": self._journaled_spotlight})

    def waiting_list(self) -> list[dict[str, str]]:
        return [{"id": p.id, "name": p.name} for p in self.meeting.roster.waiting()]

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            delay = roster_flush_interval(len(self.members))
            self._flush_handle = asyncio.get_running_loop().call_later(delay, self._flush)

    def flush_roster_now(self) -> None:
        """Send the batched roster changes now: a frame that depends on them (a wrapped key
        its recipient opens with the sender's public key, published by a hello still in the
        batch) must not overtake them. The waiting list keeps its own pace."""
        self._send_roster_changes()

    def _flush(self) -> None:
        self._flush_handle = None
        self._send_roster_changes()
        if self._waiting_changed:
            self._waiting_changed = False
            self.to_permitted(
                Action.SEE_WAITING_ROOM, {"type": "waiting", "participants": self.waiting_list()}
            )

    def _send_roster_changes(self) -> None:
        changes, self._roster_changes = self._roster_changes, {}
        if changes:
            roster = self.meeting.roster
            joined, updated, left = [], [], []
            for pid, change in changes.items():
                participant = roster.get(pid)
                if change == "left" or participant is None or not participant.admitted:
                    left.append(pid)
                elif change == "joined":
                    joined.append(participant.public())
                else:
                    updated.append(participant.public())
            self.to_admitted({"type": "roster", "joined": joined, "updated": updated, "left": left})

    # -- bookkeeping ---------------------------------------------------------------------------

    def audit(
        self,
        kind: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Record a security event without making the room wait for the database."""
        record = self._services.audit.record
        self.spawn(record(self.id, kind, actor=actor, subject=subject, detail=detail))

    async def audit_events(self) -> list[dict[str, str | None]]:
        # Events of this very moment may still be on their way to the database.
        await self._background.wait(timeout=5.0)
        return [event.public() for event in await self._services.audit.events(self.id)]

    async def report(self, reporter: str, reported: str, reason: str) -> None:
        await self._services.audit.report(self.id, reporter, reported, reason)

    async def keep_chat(self, sender: str, recipient: str | None, text: str) -> None:
        await self._services.audit.keep_chat(self.id, sender, recipient, text)

    async def start_recorder(self) -> None:
        """Start the server's recorder for this meeting (the domain said yes already).
        Raises `RecordingUnavailable` when this node cannot record."""
        desk = self._services.recordings
        if desk is None or self._recording is not None:
            return
        host_user_id = self.meeting.host_user_id
        if host_user_id is None:
            raise RecordingUnavailable("a recording belongs to the meeting's host account")

        def name_of(participant_id: str) -> str:
            participant = self.meeting.roster.get(participant_id)
            return participant.name if participant is not None else participant_id

        try:
            self._recording = await desk.start(self.id, host_user_id, self.media, name_of)
        except RecordingUnavailable:
            raise
        except Exception as exc:  # a full disk, a database gone: said, not left half-started
            log.exception("the recording of meeting %s could not start", self.id)
            raise RecordingUnavailable("the recording could not start") from exc
        if not self.meeting.recording:  # stopped while it was starting
            await self.stop_recorder()

    @property
    def recording_id(self) -> str | None:
        """The recording this room's recorder writes now, if any."""
        return self._recording.record.id if self._recording is not None else None

    async def stop_recorder(self) -> None:
        """Stop the recorder, if one runs (the host stopped it, or the room closes)."""
        desk, active = self._services.recordings, self._recording
        self._recording = None
        if desk is not None and active is not None:
            await desk.stop(active)

    def policy_violations(self, settings: MeetingSettings) -> list[str]:
        return self._services.policy.violations(settings)

    def spawn(self, coroutine: Awaitable[object]) -> None:
        self._background.spawn(coroutine)
