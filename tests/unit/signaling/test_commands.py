"""What the signaling handlers do, without sockets: who is sent what, who is refused.

A real `Room` with the real domain and audit store; each participant's outbound transport is
an `Inbox` (tests/helpers/signaling.py) that keeps the frames they would have been sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mosaic.domain.roster import Role, Source, State
from mosaic.domain.settings import Who
from mosaic.signaling.protocol import ErrorCode, ProtocolError
from tests.helpers.signaling import staged_room


async def refused(coroutine: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as error:
        await coroutine  # type: ignore[misc]
    return error.value


# -- the waiting room ----------------------------------------------------------------------


async def test_a_waiting_guest_may_only_ping_and_learns_nothing(tmp_path: Path) -> None:
    async with staged_room(tmp_path) as stage:
        host = stage.host()
        guest = await stage.guest("Guest")
        waiter = stage.enter("Waiter")
        assert waiter.participant.state is State.WAITING
        assert "pong" in await stage.send(waiter, "ping")
        # Every other request gets one answer, whatever it names: not even whether an id
        # exists leaks out of "waiting to be admitted".
        attempts = [
            ("chat", {"text": "let me in"}),
            ("chat", {"text": "psst", "to": host.id}),
            ("rename", {"name": "Host"}),
            ("hand", {"raised": True}),
            ("admit", {"all": True}),
            ("mute", {"participant": guest.id}),
            ("mute", {"participant": "p000000000000"}),
            ("view", {"videos": []}),
            ("audit_log", {}),
        ]
        for kind, fields in attempts:
            error = await refused(stage.send(waiter, kind, **fields))
            assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "waiting to be admitted")
        await stage.send(host, "chat", text="welcome, those inside")
        await stage.settle()
        # The waiter is sent nothing of the meeting: no chat, no roster, no waiting list.
        assert stage.inbox(waiter).frames == []
        assert waiter.participant.name == "Waiter" and waiter.participant.hand_raised_at is None
        assert stage.meeting.roster.get(waiter.id) is waiter.participant


async def test_only_those_who_may_see_the_waiting_room_are_sent_it(tmp_path: Path) -> None:
    async with staged_room(tmp_path) as stage:
        host = stage.host()
        cohost = await stage.cohost("Cohost")
        guest = await stage.guest("Guest")
        await stage.settle()
        for member in (host, cohost, guest):
            stage.inbox(member).frames.clear()
        waiter = stage.enter("Waiter")
        await stage.settle()
        expected = [{"type": "waiting", "participants": [{"id": waiter.id, "name": "Waiter"}]}]
        assert stage.inbox(host).of("waiting") == expected
        assert stage.inbox(cohost).of("waiting") == expected
        assert stage.inbox(guest).of("waiting") == []


async def test_a_cohost_admits_a_waiting_guest_and_a_guest_may_not(tmp_path: Path) -> None:
    async with staged_room(tmp_path) as stage:
        stage.host()
        cohost = await stage.cohost("Cohost")
        guest = await stage.guest("Guest")
        waiter = stage.enter("Waiter")
        error = await refused(stage.send(guest, "admit", participants=[waiter.id]))
        assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "not allowed: see_waiting_room")
        assert waiter.participant.state is State.WAITING
        assert await stage.send(cohost, "admit", participants=[waiter.id]) == {
            "admitted": [waiter.id]
        }
        [admitted] = stage.inbox(waiter).of("admitted")
        assert admitted["state"] == "joined" and "waiting" not in admitted
        assert {p["id"] for p in admitted["participants"]} >= {cohost.id, guest.id, waiter.id}
        assert ("admit", waiter.id) in stage.media.calls


# -- renaming ------------------------------------------------------------------------------


async def test_a_cohost_renames_a_guest_and_a_guest_may_not_rename_anyone_else(
    tmp_path: Path,
) -> None:
    async with staged_room(tmp_path) as stage:
        host = stage.host()
        cohost = await stage.cohost("Cohost")
        guest = await stage.guest("Rude name")
        other = await stage.guest("Other")
        error = await refused(stage.send(guest, "rename", name="Dupe", participant=other.id))
        assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "not allowed: rename_other")
        # A co-host corrects a guest, not the host (rank).
        error = await refused(stage.send(cohost, "rename", name="Boss", participant=host.id))
        assert error.code is ErrorCode.FORBIDDEN and host.participant.name == "Host"
        await stage.settle()
        stage.inbox(other).frames.clear()
        await stage.send(cohost, "rename", name="Guest", participant=guest.id)
        assert guest.participant.name == "Guest" and other.participant.name == "Other"
        await stage.settle()
        [roster] = stage.inbox(other).of("roster")
        assert [(p["id"], p["name"]) for p in roster["updated"]] == [(guest.id, "Guest")]
        # The renamed guest's resume token says the new name (a restart keeps it).
        assert stage.inbox(guest).of("token")
        assert "rename" in await stage.audit_kinds()


async def test_a_guest_renames_themselves_only_when_the_meeting_allows_it(
    tmp_path: Path,
) -> None:
    async with staged_room(tmp_path) as stage:
        host = stage.host()
        guest = await stage.guest("Guest")
        error = await refused(stage.send(guest, "rename", name="New"))
        assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "not allowed: rename")
        await stage.send(host, "settings", settings={"participants_may_rename": True})
        await stage.send(guest, "rename", name="New", participant=guest.id)
        assert guest.participant.name == "New"
        # Never a name that passes for the host's.
        error = await refused(stage.send(guest, "rename", name="HOST"))
        assert error.reason == "name_taken" and guest.participant.name == "New"


# -- muting --------------------------------------------------------------------------------


async def test_a_cohost_mutes_a_guest_and_a_guest_may_not(tmp_path: Path) -> None:
    async with staged_room(tmp_path, participants_may_unmute=False) as stage:
        stage.host()
        cohost = await stage.cohost("Cohost")
        guest = await stage.guest("Guest")
        other = await stage.guest("Other")
        await stage.send(guest, "media", source="microphone", on=True)
        await stage.send(other, "media", source="microphone", on=True)
        error = await refused(stage.send(guest, "mute", participant=other.id))
        assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "not allowed: mute")
        assert Source.MICROPHONE in other.participant.sources
        await stage.send(cohost, "mute", participant=guest.id)
        assert stage.inbox(guest).of("muted") == [
            {"type": "muted", "source": "microphone", "by": "Cohost"}
        ]
        assert stage.inbox(other).of("muted") == []
        assert stage.media.sources_of(guest.id) == frozenset()
        # The meeting forbids unmuting oneself: the guest stays muted.
        error = await refused(stage.send(guest, "media", source="microphone", on=True))
        assert (error.code, error.message) == (
            ErrorCode.FORBIDDEN,
            "not allowed: publish_microphone",
        )


async def test_stopping_a_screen_share_stops_its_audio_too(tmp_path: Path) -> None:
    async with staged_room(tmp_path, screen_share=Who.EVERYONE) as stage:
        stage.host()
        cohost = await stage.cohost("Cohost")
        guest = await stage.guest("Guest")
        await stage.send(guest, "media", source="screen", on=True)
        await stage.send(guest, "media", source="screen_audio", on=True)
        await stage.send(cohost, "mute", participant=guest.id, source="screen")
        assert guest.participant.sources == set()
        assert stage.media.sources_of(guest.id) == frozenset()
        assert stage.inbox(guest).of("muted") == [
            {"type": "muted", "source": "screen", "by": "Cohost"}
        ]


async def test_a_host_taking_over_a_share_stops_the_sharers_audio_too(tmp_path: Path) -> None:
    async with staged_room(tmp_path, screen_share=Who.EVERYONE) as stage:
        host = stage.host()
        guest = await stage.guest("Guest")
        other = await stage.guest("Other")
        await stage.send(guest, "media", source="screen", on=True)
        await stage.send(guest, "media", source="screen_audio", on=True)
        error = await refused(stage.send(other, "media", source="screen", on=True))
        assert (error.code, error.message) == (
            ErrorCode.FORBIDDEN,
            "not allowed: take_over_screen_share",
        )
        await stage.send(host, "media", source="screen", on=True)
        assert guest.participant.sources == set()
        assert stage.media.sources_of(guest.id) == frozenset()
        assert stage.inbox(guest).of("muted") == [
            {"type": "muted", "source": "screen", "by": "host"}
        ]


# -- chat ----------------------------------------------------------------------------------


async def test_a_private_chat_reaches_only_its_recipient_and_its_sender(tmp_path: Path) -> None:
    async with staged_room(tmp_path) as stage:
        host = stage.host()
        cohost = await stage.cohost("Cohost")
        alice = await stage.guest("Alice")
        bob = await stage.guest("Bob")
        waiter = stage.enter("Waiter")
        await stage.send(alice, "chat", text="just for you", to=bob.id)
        for member in (alice, bob):
            [frame] = stage.inbox(member).of("chat")
            assert (frame["from"], frame["to"], frame["text"]) == (alice.id, bob.id, "just for you")
        # Hosts do not read private messages; the waiting room hears nothing.
        for member in (host, cohost, waiter):
            assert stage.inbox(member).of("chat") == []
        await stage.send(alice, "chat", text="hello all")
        for member in (host, cohost, alice, bob):
            assert stage.inbox(member).of("chat")[-1]["to"] is None
        assert stage.inbox(waiter).of("chat") == []


async def test_a_private_chat_to_someone_not_in_the_meeting_is_not_found(tmp_path: Path) -> None:
    async with staged_room(tmp_path) as stage:
        stage.host()
        alice = await stage.guest("Alice")
        waiter = stage.enter("Waiter")
        for to in (waiter.id, alice.id, "p000000000000"):
            error = await refused(stage.send(alice, "chat", text="hi", to=to))
            assert (error.code, error.message) == (ErrorCode.NOT_FOUND, "no such participant")
        assert stage.inbox(waiter).of("chat") == []


async def test_with_chat_closed_a_guest_may_still_write_privately_to_a_host(
    tmp_path: Path,
) -> None:
    async with staged_room(tmp_path, participants_may_chat=False) as stage:
        host = stage.host()
        alice = await stage.guest("Alice")
        bob = await stage.guest("Bob")
        for fields in ({}, {"to": bob.id}):
            error = await refused(stage.send(alice, "chat", text="hi", **fields))
            assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "not allowed: chat")
        await stage.send(alice, "chat", text="a question", to=host.id)
        assert [f["text"] for f in stage.inbox(host).of("chat")] == ["a question"]
        assert stage.inbox(bob).of("chat") == []


# -- hands and co-hosts ------------------------------------------------------------------------


async def test_hands_keep_their_place_and_only_a_host_lowers_someone_elses(
    tmp_path: Path,
) -> None:
    async with staged_room(tmp_path) as stage:
        stage.host()
        cohost = await stage.cohost("Cohost")
        alice = await stage.guest("Alice")
        bob = await stage.guest("Bob")
        await stage.send(alice, "hand", raised=True)
        first = alice.participant.hand_raised_at
        assert first is not None
        await stage.send(alice, "hand", raised=True)  # raised again: same place in the queue
        assert alice.participant.hand_raised_at == first
        error = await refused(stage.send(bob, "lower_hand", participant=alice.id))
        assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "not allowed: lower_hand")
        await stage.send(cohost, "lower_hand", participant=alice.id)
        assert alice.participant.hand_raised_at is None


async def test_only_the_host_takes_the_cohost_role_back(tmp_path: Path) -> None:
    async with staged_room(tmp_path) as stage:
        host = stage.host()
        cohost = await stage.cohost("Cohost")
        other = await stage.cohost("Other")
        guest = await stage.guest("Guest")
        error = await refused(stage.send(other, "cohost", participant=cohost.id, cohost=False))
        assert (error.code, error.message) == (ErrorCode.FORBIDDEN, "not allowed: revoke_cohost")
        error = await refused(stage.send(host, "cohost", participant=guest.id, cohost=False))
        assert error.code is ErrorCode.FORBIDDEN  # not a co-host: nothing to take back
        waiting_lists = len(stage.inbox(cohost).of("waiting"))
        await stage.send(host, "cohost", participant=cohost.id, cohost=False)
        assert cohost.participant.role is Role.PARTICIPANT
        # No longer sent the waiting list, then or later.
        stage.enter("Waiter")
        await stage.settle()
        assert len(stage.inbox(cohost).of("waiting")) == waiting_lists
