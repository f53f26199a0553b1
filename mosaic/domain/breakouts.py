"""Breakout rooms of a live meeting: which rooms exist, who is where, and when they close.

A breakout room is not a meeting of its own: everyone stays in the one live meeting (same
roster, same rights, same media connections) and the room a participant is in only narrows
what reaches them: chat and media come from their room alone. So moving between rooms is a
change of state here, never a reconnect, and a host stays host wherever they go.

Pure state, no I/O and no clock of its own (``now`` is passed in). Who may change it is
`permissions.may`'s question, asked by the `LiveMeeting` methods that call these.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

MAX_ROOMS = 50
MAX_MINUTES = 720
# The rooms-closing warning: this long before ``ends_at`` the state becomes CLOSING.
WARNING_S = 60.0


class Phase(StrEnum):
    NONE = "none"  # no rooms were ever made
    DRAFT = "draft"  # the host prepares rooms and assignments; everyone is in main
    OPEN = "open"
    CLOSING = "closing"  # open, with less than `WARNING_S` left
    CLOSED = "closed"  # everyone is back in main


class Mode(StrEnum):
    MANUAL = "manual"
    BALANCED = "balanced"
    RANDOM = "random"
    CHOOSE = "choose"  # participants pick their room


class LateJoiners(StrEnum):
    HOST = "host"  # the host places them
    CHOOSE = "choose"  # they pick a room


class BreakoutError(Exception):
    """A breakout request that does not fit the rooms' state; ``reason`` is the wire's."""

    reason = "breakouts"


class NoSuchRoom(BreakoutError):
    reason = "no_such_room"


class WrongPhase(BreakoutError):
    """The rooms are not in a state where this makes sense (open twice, move while closed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason.replace("_", " "))
        self.reason = reason


@dataclass(slots=True)
class BreakoutRoom:
    id: str
    name: str


@dataclass
class Breakouts:
    """The rooms, the plan of who goes where, and the clock of one meeting's breakout."""

    phase: Phase = Phase.NONE
    mode: Mode = Mode.MANUAL
    rooms: list[BreakoutRoom] = field(default_factory=list)
    # participant id -> room id; absent: the main room. While open, this is where people are.
    assignment: dict[str, str] = field(default_factory=dict)
    ends_at: float | None = None
    allow_return: bool = True
    late_joiners: LateJoiners = LateJoiners.HOST
    # Who entered the meeting while the rooms were open (they may choose, per `late_joiners`).
    late: set[str] = field(default_factory=set)
    # Per-room co-hosts: participant id -> the room where they moderate (mute, stop video,
    # lower hands of the participants there); the rest of the meeting sees them as before.
    room_cohosts: dict[str, str] = field(default_factory=dict)
    seed: int | None = None  # for `Mode.RANDOM` in tests

    @property
    def is_open(self) -> bool:
        return self.phase in (Phase.OPEN, Phase.CLOSING)

    def room(self, room_id: str) -> BreakoutRoom:
        for room in self.rooms:
            if room.id == room_id:
                return room
        raise NoSuchRoom("no such room")

    def room_of(self, participant_id: str) -> str | None:
        """Where this participant is now: a room id while rooms are open, else None (main)."""
        return self.assignment.get(participant_id) if self.is_open else None

    def together(self, a: str, b: str) -> bool:
        """Whether two participants are in the same room now (main counts as one)."""
        return self.room_of(a) == self.room_of(b)

    def members(self, room_id: str | None) -> list[str]:
        return [pid for pid, rid in self.assignment.items() if rid == room_id]

    # -- the host prepares -------------------------------------------------------------------

    def create(self, names: list[str], mode: Mode, people: list[str]) -> None:
        """New rooms (ids b1..bN), replacing a draft or closed set; ``people`` are those the
        automatic modes place at once (participants present, hosts and co-hosts excluded)."""
        if self.is_open:
            raise WrongPhase("breakouts_open")
        self.phase = Phase.DRAFT
        self.mode = mode
        self.rooms = [BreakoutRoom(f"b{i}", name) for i, name in enumerate(names, 1)]
        self.assignment = {}
        self.ends_at = None
        self.late = set()
        self.room_cohosts = {}
        if mode in (Mode.BALANCED, Mode.RANDOM):
            self.auto(mode, people)

    def rename(self, room_id: str, name: str) -> None:
        self._require_rooms()
        self.room(room_id).name = name

    def assign(self, assignments: dict[str, str | None]) -> None:
        """Place people (None: the main room). Checked whole before anything changes."""
        self._require_rooms()
        for room_id in assignments.values():
            if room_id is not None:
                self.room(room_id)
        for pid, room_id in assignments.items():
            self._place(pid, room_id)

    def auto(self, how: Mode, people: list[str]) -> None:
        """Balanced: the unplaced go, one by one, to the emptiest room (the placed stay).
        Random: everyone is shuffled and dealt round the rooms afresh."""
        self._require_rooms()
        if how is Mode.RANDOM:
            dealt = list(people)
            random.Random(self.seed).shuffle(dealt)
            for pid in dealt:
                self.assignment.pop(pid, None)
            order = [room.id for room in self.rooms]
            for i, pid in enumerate(dealt):
                self.assignment[pid] = order[i % len(order)]
            return
        for pid in people:
            if pid in self.assignment:
                continue
            sizes = {room.id: 0 for room in self.rooms}
            for rid in self.assignment.values():
                if rid in sizes:
                    sizes[rid] += 1
            self.assignment[pid] = min(self.rooms, key=lambda r: sizes[r.id]).id

    # -- open, run, close ---------------------------------------------------------------------

    def open(
        self,
        now: float,
        seconds: float | None,
        allow_return: bool,
        late_joiners: LateJoiners,
    ) -> None:
        """Everyone goes to their planned room; with ``seconds``, the rooms close by
        themselves then (a warning `WARNING_S` before)."""
        if self.is_open:
            raise WrongPhase("breakouts_open")
        if self.phase is not Phase.DRAFT or not self.rooms:
            raise WrongPhase("no_breakouts")
        self.phase = Phase.OPEN
        self.ends_at = None if seconds is None else now + seconds
        self.allow_return = allow_return
        self.late_joiners = late_joiners
        self.late = set()
        self.tick(now)

    def extend(self, now: float, minutes: int) -> None:
        self._require_open()
        base = self.ends_at if self.ends_at is not None else now
        self.ends_at = max(base, now) + minutes * 60.0
        if self.phase is Phase.CLOSING and self.ends_at - now > WARNING_S:
            self.phase = Phase.OPEN

    def tick(self, now: float) -> bool:
        """Move the clock: OPEN becomes CLOSING within `WARNING_S` of the end, and the rooms
        close at ``ends_at``. True if the phase changed."""
        if not self.is_open or self.ends_at is None:
            return False
        if now >= self.ends_at:
            self.close()
            return True
        if self.phase is Phase.OPEN and self.ends_at - now <= WARNING_S:
            self.phase = Phase.CLOSING
            return True
        return False

    def next_deadline(self) -> float | None:
        """When `tick` will next change something (the warning, then the end)."""
        if not self.is_open or self.ends_at is None:
            return None
        if self.phase is Phase.OPEN:
            return self.ends_at - WARNING_S
        return self.ends_at

    def close(self) -> None:
        """Everyone back in main: nobody is left in a room that no longer exists."""
        self._require_open()
        self.phase = Phase.CLOSED
        self.assignment = {}
        self.ends_at = None
        self.late = set()
        self.room_cohosts = {}

    # -- people --------------------------------------------------------------------------------

    def move(self, participant_id: str, room_id: str | None) -> None:
        """Someone goes to a room (None: main) now; whether they may is asked before."""
        self._require_open()
        if room_id is not None:
            self.room(room_id)
        self._place(participant_id, room_id)

    def may_choose(self, participant_id: str) -> bool:
        """Whether this participant picks a room themselves (the setting allows it)."""
        if not self.is_open:
            return False
        return self.mode is Mode.CHOOSE or (
            self.late_joiners is LateJoiners.CHOOSE and participant_id in self.late
        )

    def may_return(self, participant_id: str) -> bool:
        return self.is_open and self.allow_return and self.room_of(participant_id) is not None

    def arrived(self, participant_id: str) -> None:
        """Someone entered the meeting: while rooms are open they start in main, as a late
        joiner (placed by the host, or choosing, per `late_joiners`)."""
        if self.is_open:
            self.late.add(participant_id)

    def set_room_cohost(self, participant_id: str, room_id: str | None) -> None:
        """Make someone co-host of one room (None: no longer)."""
        self._require_rooms()
        if room_id is None:
            self.room_cohosts.pop(participant_id, None)
        else:
            self.room(room_id)
            self.room_cohosts[participant_id] = room_id

    def moderates(self, actor_id: str, target_id: str) -> bool:
        """Whether the actor is co-host of the room both are in now."""
        room = self.room_of(actor_id)
        return (
            room is not None
            and self.room_cohosts.get(actor_id) == room
            and self.room_of(target_id) == room
        )

    def left(self, participant_id: str) -> None:
        self.room_cohosts.pop(participant_id, None)
        self.late.discard(participant_id)
        if self.is_open:
            self.assignment.pop(participant_id, None)

    def _place(self, pid: str, room_id: str | None) -> None:
        if room_id is None:
            self.assignment.pop(pid, None)
        else:
            self.assignment[pid] = room_id

    def _require_rooms(self) -> None:
        if self.phase in (Phase.NONE, Phase.CLOSED) or not self.rooms:
            raise WrongPhase("no_breakouts")

    def _require_open(self) -> None:
        if not self.is_open:
            raise WrongPhase("breakouts_not_open")

    # -- what each participant is shown ----------------------------------------------------------

    def view(self, participant_id: str, manager: bool) -> dict[str, object]:
        """The ``breakouts`` event for one participant: managers (hosts, co-hosts) see the
        draft and the plan; others see nothing while the host drafts, then room names and
        who is in each room."""
        phase = self.phase
        if phase is Phase.DRAFT and not manager:
            phase = Phase.NONE
        shown = phase not in (Phase.NONE,)
        rooms = []
        if shown:
            for room in self.rooms:
                entry: dict[str, object] = {"id": room.id, "name": room.name}
                entry["participants"] = self.members(room.id) if (manager or self.is_open) else []
                rooms.append(entry)
        return {
            "state": phase.value,
            "mode": self.mode.value,
            "rooms": rooms if phase is not Phase.CLOSED or manager else [],
            "room": self.room_of(participant_id),
            "ends_at": self.ends_at,
            "allow_return": self.allow_return,
            "late_joiners": self.late_joiners.value,
            "may_return": self.may_return(participant_id),
            "may_choose": self.may_choose(participant_id),
            "assignments": dict(self.assignment) if manager else {},
            "cohosts": dict(self.room_cohosts) if shown else {},
        }
