"""A room's live state, taken over by a room of the same meeting elsewhere (a new home).

The real `Room` and domain (tests/helpers/signaling.py): what one room says it holds
(`Room.live_state`, what its journal is rewritten with) is read into a fresh room of the same
meeting (`Room.restore`), and each participant comes back with its resume token, as after
a failover. A participant is given back exactly the chat it was sent: a private message stays
between its two.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from mosaic.domain.access import Visitor
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.roster import Source
from mosaic.signaling.outbox import Outbox
from mosaic.signaling.room import Member, Room
from tests.helpers.signaling import HOST_USER, Inbox, staged_room


def back(room: Room, old: Room, member: Member, visitor: Visitor | None = None) -> Member:
    """``member`` of ``old`` rejoins ``room`` with its resume token (the server's own key)."""
    claim = old._services.resume_tokens.read(old.issue_token(member))
    assert claim is not None
    inbox = Inbox()
    return room.rejoin(claim, visitor or Visitor(), cast(Outbox, inbox), inbox.disconnect)


async def test_a_new_home_gives_back_hands_in_order_muted_sources_and_only_the_chat_one_saw(
    tmp_path: Path,
) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host = stage.host()
        ann, bob, eve = [await stage.guest(name) for name in ("Ann", "Bob", "Eve")]
        await stage.send(bob, "hand", raised=True)
        await stage.send(ann, "hand", raised=True)
        await stage.send(ann, "chat", text="just for you", to=bob.id)
        await stage.send(host, "chat", text="hello all")
        await stage.send(host, "mute", participant=eve.id, source="microphone")
        await stage.send(host, "spotlight", participants=[ann.id])
        gone = await stage.guest("Lea")
        await stage.room.depart(gone, kind="leave")
        # What the journal holds is plain JSON (it goes to Redis as it is).
        state = json.loads(json.dumps(stage.room.live_state()))

        meeting = LiveMeeting(id=stage.meeting.id, topic="Class", host_user_id=HOST_USER)
        new_home = Room(meeting, services=stage.room._services)
        try:
            new_home.restore(state)
            assert new_home.departed == {gone.id: "leave"}
            assert meeting.spotlight == [ann.id]
            returned = {m.participant.name: back(new_home, stage.room, m) for m in (ann, bob, eve)}
            returned["Host"] = back(new_home, stage.room, host, Visitor(user_id=HOST_USER))
            people = {name: m.participant for name, m in returned.items()}
            raised = sorted(
                (p for p in people.values() if p.hand_raised_at is not None),
                key=lambda p: p.hand_raised_at or 0.0,
            )
            assert [p.name for p in raised] == ["Bob", "Ann"]
            assert people["Eve"].blocked_sources == {Source.MICROPHONE}
            assert people["Ann"].blocked_sources == set()

            def given(name: str) -> list[str]:
                result = new_home.entry_result(returned[name])
                return [m["text"] for m in result.get("chat", [])]

            assert given("Bob") == ["just for you", "hello all"]
            assert given("Ann") == ["just for you", "hello all"]
            assert given("Eve") == ["hello all"]  # not the private message
            assert given("Host") == ["hello all"]  # hosts do not read private messages either
            ids = [m["id"] for m in new_home.entry_result(returned["Bob"])["chat"]]
            assert len(set(ids)) == 2  # each message its own id, for clients to de-duplicate
            assert "audience" not in new_home.entry_result(returned["Bob"])["chat"][0]
        finally:
            await new_home.close()


async def test_a_newcomer_is_given_no_chat_from_before_it_came(tmp_path: Path) -> None:
    async with staged_room(tmp_path, waiting_room=False) as stage:
        host = stage.host()
        await stage.send(host, "chat", text="before you came")
        late = await stage.guest("Late")
        assert "chat" not in stage.room.entry_result(late)


async def test_an_encrypted_meetings_chat_is_relayed_never_journaled(tmp_path: Path) -> None:
    """Not even as ciphertext: a journal in Redis would be a history of it."""
    async with staged_room(tmp_path, waiting_room=False, e2ee=True) as stage:
        host = stage.host()
        bob = await stage.guest("Bob")
        await stage.send(host, "chat", text="e2ee:" + "A" * 40)
        assert len(stage.inbox(bob).of("chat")) == 1
        assert stage.room.live_state()["chat"] == []
        assert "chat" not in stage.room.entry_result(bob)
