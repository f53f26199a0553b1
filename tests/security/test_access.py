"""Who gets in, who stays out, and what a participant can do by crafting messages."""

from __future__ import annotations

import asyncio

import pytest

from mosaic.client import Participant, SignalingError, join
from tests.helpers.api import Account, signup, verify_as_admin
from tests.helpers.server import MosaicServer

DEVICE = "device-of-a-troll-0123456789"


async def host_in(host: Account, **settings: object) -> tuple[dict, Participant]:
    meeting = await host.create_meeting(**settings)
    boss = await join(meeting["join_url"], name="Host", cookies=host.cookies)
    return meeting, boss


async def admitted_guest(meeting: dict, boss: Participant, name: str, **kw: object) -> Participant:
    guest = await join(meeting["join_url"], name=name, **kw)  # type: ignore[arg-type]
    if guest.state == "waiting":
        await boss.wait_until(lambda: any(w["id"] == guest.id for w in boss.waiting))
        await boss.request("admit", participants=[guest.id])
        await guest.wait_admitted()
    return guest


async def refused(meeting: dict, **kw: object) -> SignalingError:
    with pytest.raises(SignalingError) as error:
        await join(meeting["join_url"], name="Someone", **kw)  # type: ignore[arg-type]
    return error.value


async def test_a_locked_meeting_refuses_even_a_valid_link(server: MosaicServer, host: Account):
    meeting, boss = await host_in(host)
    async with boss:
        await boss.request("lock", locked=True)
        error = await refused(meeting)
        assert (error.code, error.message) == ("forbidden", "this meeting is locked")
        await boss.request("lock", locked=False)
        async with await join(meeting["join_url"], name="Later") as later:
            assert later.state == "waiting"


async def test_a_removed_participant_cannot_rejoin(server: MosaicServer, host: Account) -> None:
    meeting, boss = await host_in(host)
    async with boss:
        troll = await admitted_guest(meeting, boss, "Troll", device=DEVICE)
        await boss.request("remove", participant=troll.id)
        await troll.wait_until(lambda: troll.state == "gone")
        assert troll.ended_reason == "removed"
        await boss.wait_until(lambda: troll.id not in boss.participants)
        error = await refused(meeting, device=DEVICE)
        assert error.code == "forbidden" and "removed" in error.message
        # A signed-in troll is kept out by account, whatever device it claims.
        account = await signup(server.url)
        signed_in = await admitted_guest(meeting, boss, "Signed troll", cookies=account.cookies)
        await boss.request("remove", participant=signed_in.id)
        error = await refused(meeting, cookies=account.cookies, device="another-device-123456789")
        assert error.code == "forbidden"


async def test_a_waiting_participant_can_do_nothing_and_learns_nothing(
    server: MosaicServer, host: Account
) -> None:
    meeting, boss = await host_in(host)
    async with boss:
        member = await admitted_guest(meeting, boss, "Member")
        waiting = await join(meeting["join_url"], name="Waiting")
        assert waiting.state == "waiting" and waiting.participants == {} and waiting.meeting == {}
        attempts = {
            "publish": {"sdp": "v=0\r\n", "sources": {"0": "camera"}},
            "answer": {"sdp": "v=0\r\n"},
            "view": {"videos": []},
            "ice": {"pc": "publish", "candidate": None},
            "chat": {"text": "let me in"},
            "hand": {"raised": True},
            "react": {"emoji": "👍"},
            "media": {"source": "microphone", "on": True},
            "admit": {"all": True},
            "audit_log": {},
        }
        for kind, fields in attempts.items():
            with pytest.raises(SignalingError) as error:
                await waiting.request(kind, **fields)
            assert error.value.code == "forbidden", kind
        # Meanwhile the meeting goes on: chat and roster changes reach no one in the waiting room.
        await member.request("chat", text="secret agenda")
        await member.request("hand", raised=True)
        await boss.wait_for("chat")
        await asyncio.sleep(0.3)
        kinds = {event["type"] for event in waiting.signaling.events}
        assert kinds <= {"error"}, kinds
        assert waiting.id not in boss.participants
        await waiting.leave()
        await member.leave()


HOST_ONLY = {
    "admit": {"all": True},
    "deny": {"all": True},
    "remove": {"participant": "HOST"},
    "mute": {"participant": "HOST"},
    "mute_all": {},
    "lower_hand": {"participant": "HOST"},
    "lock": {"locked": True},
    "settings": {"settings": {"waiting_room": False}},
    "spotlight": {"participants": ["SELF"]},
    "cohost": {"participant": "SELF", "cohost": True},
    "suspend": {},
    "end": {},
    "report": {"participant": "HOST", "reason": "nothing"},
    "audit_log": {},
    "rename": {"name": "Boss", "participant": "HOST"},
}


async def test_a_participant_gains_nothing_by_crafting_host_requests(
    server: MosaicServer, host: Account
) -> None:
    meeting, boss = await host_in(host)
    async with boss:
        mallory = await admitted_guest(meeting, boss, "Mallory")
        for kind, fields in HOST_ONLY.items():
            concrete = {
                key: (
                    [mallory.id]
                    if value == ["SELF"]
                    else boss.id
                    if value == "HOST"
                    else mallory.id
                    if value == "SELF"
                    else value
                )
                for key, value in fields.items()
            }
            with pytest.raises(SignalingError) as error:
                await mallory.request(kind, **concrete)
            assert error.value.code == "forbidden", kind
        assert mallory.role == "participant"
        assert not boss.meeting["locked"]
        assert boss.meeting["settings"]["waiting_room"] is True
        # Renaming oneself is off by default too.
        with pytest.raises(SignalingError):
            await mallory.request("rename", name="The Host")
        await mallory.leave()


async def test_screen_share_and_unmuting_follow_the_hosts_rules(
    server: MosaicServer, host: Account
) -> None:
    meeting, boss = await host_in(host, waiting_room=False, participants_may_unmute=False)
    async with boss:
        pupil = await join(meeting["join_url"], name="Pupil")
        with pytest.raises(SignalingError) as error:
            await pupil.request("media", source="screen", on=True)
        assert error.value.code == "forbidden"
        await pupil.request("media", source="microphone", on=True)
        await boss.request("mute_all")
        await pupil.wait_for("muted")
        with pytest.raises(SignalingError):
            await pupil.request("media", source="microphone", on=True)
        await boss.request("settings", settings={"participants_may_unmute": True})
        await pupil.request("media", source="microphone", on=True)
        await pupil.leave()


async def test_suspend_stops_everything_and_locks(server: MosaicServer, host: Account) -> None:
    meeting, boss = await host_in(host, waiting_room=False)
    async with boss:
        pupil = await join(meeting["join_url"], name="Pupil")
        await pupil.request("media", source="camera", on=True)
        await boss.wait_until(lambda: boss.participants.get(pupil.id, {}).get("video", False))
        await boss.request("suspend")
        await pupil.wait_for("suspended")
        await boss.wait_until(lambda: not boss.participants[pupil.id]["video"])
        assert boss.meeting["locked"] is True
        for kind, fields in (("chat", {"text": "hi"}), ("media", {"source": "camera", "on": True})):
            with pytest.raises(SignalingError):
                await pupil.request(kind, **fields)
        await pupil.request("chat", text="may I speak?", to=boss.id)  # a word to the host
        assert (await refused(meeting)).code == "forbidden"
        await pupil.leave()


async def test_a_join_flood_turns_the_waiting_room_on_and_alerts_the_host(
    server: MosaicServer, host: Account
) -> None:
    meeting, boss = await host_in(host, waiting_room=False, passcode_required=False)
    async with boss:
        guests = [await join(meeting["join_url"], name=f"Bot {i}") for i in range(15)]
        states = [g.state for g in guests]
        assert states.count("joined") < 15 and states[-1] == "waiting"
        alert = await boss.wait_for("alert")
        assert alert["code"] == "join_flood"
        await boss.wait_until(lambda: boss.meeting["settings"]["waiting_room"] is True)
        await asyncio.gather(*(g.leave() for g in guests))


async def test_signed_in_only_and_email_domains(make_server) -> None:
    server = make_server()
    admin = await signup(server.url)  # the first account: the instance admin, hosting here
    meeting, boss = await host_in(
        admin, waiting_room=False, signed_in_only=True, allowed_email_domains=["school.example"]
    )
    async with boss:
        assert (await refused(meeting)).code == "unauthorized"
        outsider = await signup(server.url)  # example.org
        assert (await refused(meeting, cookies=outsider.cookies)).code == "forbidden"
        # Anyone can sign up with a school address; until it is verified it opens nothing
        # (tests/security/test_accounts.py verifies one by mail).
        kid = await signup(server.url, "Kid", email="kid@school.example")
        unverified = await refused(meeting, cookies=kid.cookies)
        assert unverified.message.startswith("verify your e-mail address")
        await verify_as_admin(admin, kid)
        async with await join(meeting["join_url"], name="Kid", cookies=kid.cookies) as pupil:
            assert pupil.state == "joined"


async def test_an_admin_can_forbid_turning_the_safeguards_off(make_server) -> None:
    server = make_server("--require-passcode", "true", "--require-waiting-room", "true")
    account = await signup(server.url)
    loose = await account.post(
        "/api/meetings", {"settings": {"passcode_required": False, "waiting_room": True}}
    )
    assert loose.status_code == 422
    meeting = await account.create_meeting()
    patched = await account.patch(
        f"/api/meetings/{meeting['id']}", {"settings": {"waiting_room": False}}
    )
    assert patched.status_code == 422
    async with await join(meeting["join_url"], name="Host", cookies=account.cookies) as boss:
        with pytest.raises(SignalingError) as error:
            await boss.request("settings", settings={"waiting_room": False})
        assert error.value.code == "forbidden"
