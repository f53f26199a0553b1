"""Breakout requests through the real handlers and room (tests/helpers/signaling.py): what
each participant is told, what the media plane is asked, and typed errors that change nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mosaic.signaling import breakouts as wire
from mosaic.signaling.protocol import ErrorCode, ProtocolError
from mosaic.signaling.room import Member
from tests.helpers.signaling import Stage, staged_room


async def _class(stage: Stage, pupils: int) -> tuple[Member, list[Member]]:
    host = stage.host()
    people = [await stage.guest(f"Pupil {i}") for i in range(pupils)]
    return host, people


def last_state(stage: Stage, member: Member) -> dict[str, Any]:
    return stage.inbox(member).of("breakouts")[-1]


async def test_a_whole_breakout_session_tells_each_person_what_they_may_see(
    tmp_path: Path,
) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host, people = await _class(stage, 4)
        created = await stage.send(
            host, "breakouts.create", rooms=[{"name": "Red"}, {"name": "Blue"}], mode="balanced"
        )
        assert created == {"rooms": [{"id": "b1", "name": "Red"}, {"id": "b2", "name": "Blue"}]}
        await stage.settle()
        assert last_state(stage, host)["state"] == "draft"
        assert last_state(stage, people[0])["state"] == "none"  # the draft is the host's
        await stage.send(host, "breakouts.open", minutes=10, allow_return=False)
        await stage.settle()
        mine = last_state(stage, people[0])
        assert mine["state"] == "open" and mine["room"] in ("b1", "b2")
        assert mine["may_return"] is False and mine["assignments"] == {}
        assert ("scope",) in stage.media.calls  # media re-scoped on the same connections
        # Chat stays in the room; a broadcast reaches everyone.
        room_mates = [p for p in people if last_state(stage, p)["room"] == mine["room"]]
        await stage.send(people[0], "chat", text="hi room")
        await stage.send(host, "breakouts.broadcast", text="Five minutes left")
        await stage.settle()
        for person in people:
            chats = [c["text"] for c in stage.inbox(person).of("chat")]
            assert (chats == ["hi room"]) is (person in room_mates), person.participant.name
            assert [b["text"] for b in stage.inbox(person).of("broadcast")] == ["Five minutes left"]
        assert stage.inbox(host).of("chat") == []  # the host is in main
        # Help reaches the host with the asker's room.
        await stage.send(people[0], "breakouts.help")
        await stage.settle()
        (asked,) = stage.inbox(host).of("help_requested")
        assert asked["participant_id"] == people[0].id and asked["room_id"] == mine["room"]
        await stage.send(host, "breakouts.close")
        await stage.settle()
        assert all(last_state(stage, p)["room"] is None for p in people)
        assert "breakouts_close" in await stage.audit_kinds()


async def test_a_visiting_host_mutes_someone_in_that_room(tmp_path: Path) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host, (pupil,) = await _class(stage, 1)
        await stage.send(host, "breakouts.create", rooms=[{"name": "Red"}])
        await stage.send(host, "breakouts.assign", assignments={pupil.id: "b1"})
        await stage.send(host, "breakouts.open")
        await stage.send(pupil, "media", source="microphone", on=True)
        await stage.send(host, "breakouts.move", room_id="b1")
        await stage.settle()
        assert last_state(stage, host)["room"] == "b1"
        await stage.send(host, "mute", participant=pupil.id, source="microphone")
        assert stage.inbox(pupil).of("muted")[-1]["by"] == "Host"


@pytest.mark.parametrize(
    ("who", "kind", "fields", "code", "reason"),
    [
        ("pupil", "breakouts.create", {"rooms": [{"name": "Mine"}]}, "forbidden", None),
        ("host", "breakouts.open", {}, "forbidden", "no_breakouts"),
        ("host", "breakouts.rename", {"room_id": "b7", "name": "X"}, "not_found", "no_such_room"),
        ("host", "breakouts.assign", {"assignments": {"p000000000000": "b1"}}, "not_found", None),
        ("host", "breakouts.move", {"room_id": "b1"}, "forbidden", "breakouts_not_open"),
        ("pupil", "breakouts.help", {}, "forbidden", None),
        ("pupil", "breakouts.broadcast", {"text": "hi"}, "forbidden", None),
        ("host", "breakouts.extend", {"minutes": 0}, "bad_request", None),
        ("host", "breakouts.create", {"rooms": []}, "bad_request", None),
        ("host", "breakouts.move", {"room_id": "main"}, "bad_request", None),
    ],
)
async def test_bad_breakout_requests_get_typed_errors_and_change_nothing(
    tmp_path: Path, who: str, kind: str, fields: dict[str, Any], code: str, reason: str | None
) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host, (pupil,) = await _class(stage, 1)
        if kind == "breakouts.rename":
            await stage.send(host, "breakouts.create", rooms=[{"name": "Red"}])
        await stage.settle()
        before = stage.meeting.breakouts.view(host.id, manager=True)
        sender = host if who == "host" else pupil
        with pytest.raises(ProtocolError) as refused:
            await stage.send(sender, kind, **fields)
        assert refused.value.code is ErrorCode(code)
        assert refused.value.reason == reason
        assert stage.meeting.breakouts.view(host.id, manager=True) == before


async def test_moving_into_a_closed_room_is_refused(tmp_path: Path) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host, (pupil,) = await _class(stage, 1)
        await stage.send(host, "breakouts.create", rooms=[{"name": "Red"}], mode="choose")
        await stage.send(host, "breakouts.open")
        await stage.send(host, "breakouts.close")
        with pytest.raises(ProtocolError) as refused:
            await stage.send(pupil, "breakouts.move", room_id="b1")
        assert refused.value.code is ErrorCode.FORBIDDEN  # nothing left to choose
        with pytest.raises(ProtocolError) as refused:
            await stage.send(host, "breakouts.move", room_id="b1")
        assert refused.value.reason == "breakouts_not_open"
        assert stage.meeting.breakouts.room_of(pupil.id) is None
        assert stage.meeting.breakouts.room_of(host.id) is None


async def test_the_timer_closes_the_rooms_by_itself(tmp_path: Path) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host, (pupil,) = await _class(stage, 1)
        await stage.send(host, "breakouts.create", rooms=[{"name": "Red"}], mode="balanced")
        await stage.send(host, "breakouts.open", minutes=1)
        await stage.settle()
        # One minute with a 60 s warning: "closing" at once; pull the end near.
        assert last_state(stage, pupil)["state"] == "closing"
        breakouts = stage.meeting.breakouts
        assert breakouts.ends_at is not None
        breakouts.ends_at -= 59.8
        wire.schedule(stage.room)
        await asyncio.sleep(0.5)
        assert last_state(stage, pupil)["state"] == "closed"
        assert last_state(stage, pupil)["room"] is None


async def test_a_room_cohost_mutes_in_their_room_and_nowhere_else(tmp_path: Path) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host, (lead, mate, other) = await _class(stage, 3)
        await stage.send(host, "breakouts.create", rooms=[{"name": "Red"}, {"name": "Blue"}])
        await stage.send(
            host, "breakouts.assign", assignments={lead.id: "b1", mate.id: "b1", other.id: "b2"}
        )
        await stage.send(host, "breakouts.cohost", participant=lead.id, room_id="b1")
        await stage.send(host, "breakouts.open")
        await stage.send(lead, "mute", participant=mate.id, source="microphone")
        assert stage.inbox(mate).of("muted")[-1]["by"] == "Pupil 0"
        with pytest.raises(ProtocolError) as refused:
            await stage.send(lead, "mute", participant=other.id, source="microphone")
        assert refused.value.code is ErrorCode.FORBIDDEN
        await stage.settle()
        assert last_state(stage, other)["cohosts"] == {lead.id: "b1"}
