"""Breakout rooms in the domain: who may make, fill, open and close them, who goes where, and
what the room one is in narrows (chat, private words), without any I/O."""

from __future__ import annotations

import pytest

from mosaic.domain.access import Visitor
from mosaic.domain.breakouts import WARNING_S, LateJoiners, Mode, NoSuchRoom, Phase, WrongPhase
from mosaic.domain.meeting import Forbidden, LiveMeeting, NotFound
from mosaic.domain.permissions import Action, may
from mosaic.domain.roster import Participant, Role, Source
from mosaic.domain.settings import MeetingSettings

HOST_USER = 1


def class_of(pupils: int) -> tuple[LiveMeeting, Participant, list[Participant]]:
    m = LiveMeeting(
        id="abcd-efgh-jkmn",
        topic="Class",
        host_user_id=HOST_USER,
        settings=MeetingSettings(waiting_room=False, participants_may_chat=True),
    )
    host, _ = m.enter("host", "Teacher", Visitor(user_id=HOST_USER), 0.0)
    people = [m.enter(f"p{i}", f"Pupil {i}", Visitor(), 0.0)[0] for i in range(pupils)]
    return m, host, people


def opened(m: LiveMeeting, host: Participant, **kw: object) -> None:
    options: dict[str, object] = {"minutes": None, "allow_return": True}
    options.update(kw)
    minutes = options["minutes"]
    m.open_breakouts(
        host,
        100.0,
        None if minutes is None else 60.0 * minutes,  # type: ignore[operator]
        bool(options["allow_return"]),
        LateJoiners(options.get("late_joiners", "host")),
    )


def test_balanced_creation_spreads_the_class_evenly_and_leaves_hosts_free() -> None:
    m, host, people = class_of(7)
    m.create_breakouts(host, ["Red", "Blue", "Green"], Mode.BALANCED)
    sizes = sorted(len(m.breakouts.members(r.id)) for r in m.breakouts.rooms)
    assert sizes == [2, 2, 3]
    assert "host" not in m.breakouts.assignment
    # A draft moves nobody: everyone is still together in main.
    assert m.breakouts.room_of(people[0].id) is None


def test_random_assignment_deals_everyone_afresh_and_evenly() -> None:
    m, host, people = class_of(6)
    m.create_breakouts(host, ["A", "B"], Mode.MANUAL)
    m.assign_breakouts(host, {people[0].id: "b1"})
    m.auto_assign_breakouts(host, Mode.RANDOM)
    assert sorted(len(m.breakouts.members(r)) for r in ("b1", "b2")) == [3, 3]


def test_only_hosts_and_cohosts_manage_rooms_and_nothing_changes_on_refusal() -> None:
    m, host, people = class_of(2)
    pupil = people[0]
    with pytest.raises(Forbidden):
        m.create_breakouts(pupil, ["Mine"], Mode.MANUAL)
    assert m.breakouts.phase is Phase.NONE
    m.create_breakouts(host, ["A"], Mode.MANUAL)
    for attempt in (
        lambda: m.assign_breakouts(pupil, {pupil.id: "b1"}),
        lambda: opened(m, pupil),
        lambda: m.rename_breakout(pupil, "b1", "Mine"),
    ):
        with pytest.raises(Forbidden):
            attempt()
    assert m.breakouts.phase is Phase.DRAFT and m.breakouts.assignment == {}
    m.assign_cohost(host, people[1], True)
    m.rename_breakout(people[1], "b1", "Renamed by a co-host")
    assert m.breakouts.rooms[0].name == "Renamed by a co-host"


def test_bad_input_is_refused_whole() -> None:
    m, host, people = class_of(2)
    with pytest.raises(WrongPhase):
        opened(m, host)  # no rooms to open
    m.create_breakouts(host, ["A", "B"], Mode.MANUAL)
    with pytest.raises(NoSuchRoom):
        m.assign_breakouts(host, {people[0].id: "b1", people[1].id: "b9"})
    with pytest.raises(NotFound):
        m.assign_breakouts(host, {people[0].id: "b1", "pnobody": "b2"})
    assert m.breakouts.assignment == {}
    with pytest.raises(WrongPhase):
        m.move_to_room(host, "b1")  # not open yet
    opened(m, host)
    with pytest.raises(WrongPhase):
        opened(m, host)  # twice
    with pytest.raises(WrongPhase):
        m.create_breakouts(host, ["C"], Mode.MANUAL)  # not while open
    m.close_breakouts(host)
    with pytest.raises(WrongPhase):
        m.move_to_room(host, "b1")  # into a closed room
    with pytest.raises(WrongPhase):
        m.assign_breakouts(host, {people[0].id: "b1"})


def test_open_rooms_scope_chat_and_private_words_to_the_room() -> None:
    m, host, people = class_of(4)
    a, b, c, d = people
    m.create_breakouts(host, ["A", "B"], Mode.MANUAL)
    m.assign_breakouts(host, {a.id: "b1", b.id: "b1", c.id: "b2"})
    opened(m, host)
    assert {p.id for p in m.chat_audience(a, None).participants} == {a.id, b.id}
    assert {p.id for p in m.chat_audience(d, None).participants} == {d.id, host.id}
    with pytest.raises(Forbidden):
        m.chat_audience(a, c.id)  # no notes passed between rooms
    assert m.chat_audience(a, host.id).recipient is host  # the teacher is always reachable
    assert m.chat_audience(host, c.id).recipient is c
    # A broadcast reaches every room and main.
    assert {p.id for p in m.broadcast_audience(host)} == {host.id, a.id, b.id, c.id, d.id}
    with pytest.raises(Forbidden):
        m.broadcast_audience(a)
    m.close_breakouts(host)
    assert len(m.chat_audience(a, None).participants) == 5


def test_a_host_stays_host_in_every_room_and_mutes_there() -> None:
    m, host, people = class_of(2)
    m.create_breakouts(host, ["A", "B"], Mode.MANUAL)
    m.assign_breakouts(host, {people[0].id: "b1", people[1].id: "b2"})
    opened(m, host)
    m.move_to_room(host, "b2")
    assert m.breakouts.room_of(host.id) == "b2" and host.role is Role.HOST
    people[1].sources.add(Source.MICROPHONE)
    m.block_source(host, people[1], Source.MICROPHONE)
    assert Source.MICROPHONE not in people[1].sources
    m.move_to_room(host, None)
    assert m.breakouts.room_of(host.id) is None


def test_participants_move_only_as_the_host_allowed() -> None:
    m, host, people = class_of(2)
    pupil = people[0]
    m.create_breakouts(host, ["A", "B"], Mode.MANUAL)
    m.assign_breakouts(host, {pupil.id: "b1"})
    opened(m, host, allow_return=False)
    with pytest.raises(Forbidden):
        m.move_to_room(pupil, "b2")  # assigned rooms: no choosing
    with pytest.raises(Forbidden):
        m.move_to_room(pupil, None)  # no return allowed
    assert m.breakouts.room_of(pupil.id) == "b1"
    m.close_breakouts(host)
    m.create_breakouts(host, ["A", "B"], Mode.CHOOSE)
    opened(m, host)
    m.move_to_room(pupil, "b2")
    assert m.breakouts.room_of(pupil.id) == "b2"
    m.move_to_room(pupil, None)  # allow_return
    assert m.breakouts.room_of(pupil.id) is None


def test_late_joiners_start_in_main_and_choose_when_the_host_says_so() -> None:
    m, host, _ = class_of(1)
    m.create_breakouts(host, ["A", "B"], Mode.MANUAL)
    opened(m, host, late_joiners="choose")
    late, _ = m.enter("plate", "Late", Visitor(), 200.0)
    assert m.breakouts.room_of(late.id) is None
    assert may(late, Action.CHOOSE_ROOM, m)
    m.move_to_room(late, "b2")
    assert m.breakouts.room_of(late.id) == "b2"
    # Once placed, a late joiner is like anyone else: no hopping around.
    assert not may(late, Action.CHOOSE_ROOM, m)


def test_late_joiners_wait_in_main_for_the_host_by_default() -> None:
    m, host, _ = class_of(1)
    m.create_breakouts(host, ["A"], Mode.MANUAL)
    opened(m, host)
    late, _ = m.enter("plate", "Late", Visitor(), 200.0)
    assert not may(late, Action.CHOOSE_ROOM, m)
    m.assign_breakouts(host, {late.id: "b1"})
    assert m.breakouts.room_of(late.id) == "b1"


def test_the_timer_warns_a_minute_before_and_closes_everyone_back_to_main() -> None:
    m, host, people = class_of(2)
    m.create_breakouts(host, ["A"], Mode.BALANCED)
    opened(m, host, minutes=2)  # opened at t=100: ends at 220
    b = m.breakouts
    assert b.ends_at == 220.0 and b.next_deadline() == 220.0 - WARNING_S
    assert not b.tick(150.0) and b.phase is Phase.OPEN
    assert b.tick(161.0) and b.phase is Phase.CLOSING
    m.extend_breakouts(host, 161.0, 1)  # the host gives one more minute
    assert b.phase is Phase.OPEN and b.ends_at == 280.0
    assert b.tick(221.0) and b.phase is Phase.CLOSING
    assert b.tick(280.0) and b.phase is Phase.CLOSED
    assert all(b.room_of(p.id) is None for p in people)
    assert b.assignment == {}


def test_help_reaches_hosts_and_only_from_inside_a_room() -> None:
    m, host, people = class_of(2)
    m.assign_cohost(host, people[1], True)
    m.create_breakouts(host, ["A"], Mode.MANUAL)
    opened(m, host)
    with pytest.raises(Forbidden):
        m.help_audience(people[0])  # in main: the host is right there
    m.assign_breakouts(host, {people[0].id: "b1"})
    assert {p.id for p in m.help_audience(people[0])} == {host.id, people[1].id}


def test_participants_see_no_draft_and_only_hosts_see_the_plan() -> None:
    m, host, people = class_of(2)
    m.create_breakouts(host, ["A", "B"], Mode.BALANCED)
    hidden = m.breakouts.view(people[0].id, manager=False)
    assert hidden["state"] == "none" and hidden["rooms"] == [] and hidden["assignments"] == {}
    plan = m.breakouts.view(host.id, manager=True)
    assert plan["state"] == "draft" and len(plan["assignments"]) == 2  # type: ignore[arg-type]
    opened(m, host, minutes=5)
    seen = m.breakouts.view(people[0].id, manager=False)
    assert seen["state"] == "open" and seen["room"] == m.breakouts.assignment[people[0].id]
    assert seen["ends_at"] == 400.0 and seen["may_return"] is True and seen["assignments"] == {}


def test_someone_who_leaves_is_forgotten_by_their_room() -> None:
    m, host, people = class_of(1)
    m.create_breakouts(host, ["A"], Mode.BALANCED)
    opened(m, host)
    m.leave(people[0].id)
    assert m.breakouts.members("b1") == []


def test_a_room_cohost_moderates_their_room_only() -> None:
    m, host, people = class_of(3)
    lead, mate, other = people
    m.create_breakouts(host, ["A", "B"], Mode.MANUAL)
    m.assign_breakouts(host, {lead.id: "b1", mate.id: "b1", other.id: "b2"})
    with pytest.raises(Forbidden):
        m.set_room_cohost(lead, mate, "b1")  # only the host makes co-hosts
    m.set_room_cohost(host, lead, "b1")
    assert not may(lead, Action.MUTE, m, mate)  # not before the rooms open
    opened(m, host)
    mate.sources.add(Source.MICROPHONE)
    m.block_source(lead, mate, Source.MICROPHONE)
    assert Source.MICROPHONE not in mate.sources
    assert not may(lead, Action.MUTE, m, other)  # another room
    assert not may(lead, Action.MUTE, m, host)  # a visiting host outranks them
    assert not may(lead, Action.REMOVE, m, mate)  # moderation, not the host's whole power
    assert lead.role is Role.PARTICIPANT  # the rest of the meeting sees a participant
    m.close_breakouts(host)
    assert not may(lead, Action.MUTE, m, mate)
