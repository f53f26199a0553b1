"""End-to-end encryption, the server's side (docs/e2ee.md), against a real `mosaic serve`: it
relays public keys and wrapped keys to admitted participants only, carries chat it cannot read
and keeps none of it, refuses to record, and an admin can require encryption everywhere."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from mosaic.client import SignalingError, join
from tests.helpers.api import signup
from tests.helpers.server import database_bytes

KEY_A = "BA" + "a" * 85
KEY_B = "BB" + "b" * 85
BLOB = "w" * 80
CIPHERTEXT = "e2ee:" + "c1pher7ext_" * 8


async def test_a_wrapped_key_reaches_its_one_admitted_recipient_and_never_a_waiting_guest(
    server, host
) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=True)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        await boss.request("e2ee.hello", public_key=KEY_A)
        guest = await join(meeting["join_url"], name="Guest")
        other = await join(meeting["join_url"], name="Other")
        assert guest.state == "waiting"
        await boss.wait_until(lambda: len(boss.waiting) == 2)
        # A waiting guest publishes nothing and is handed nothing.
        with pytest.raises(SignalingError) as waiting:
            await guest.request("e2ee.hello", public_key=KEY_B)
        assert waiting.value.code == "forbidden"
        with pytest.raises(SignalingError) as unknown:
            await boss.request("e2ee.key", to=guest.id, epoch=1, blob=BLOB)
        assert unknown.value.code == "not_found"
        await boss.request("admit", all=True)
        await guest.wait_admitted()
        await other.wait_admitted()
        await guest.request("e2ee.hello", public_key=KEY_B)
        await boss.wait_until(lambda: boss.participants.get(guest.id, {}).get("e2ee_key") == KEY_B)
        assert guest.participants[boss.id]["e2ee_key"] == KEY_A
        await boss.request("e2ee.key", to=guest.id, epoch=1, blob=BLOB)
        handed = await guest.wait_for("e2ee.key")
        assert (handed["from"], handed["epoch"], handed["blob"]) == (boss.id, 1, BLOB)
        # Nobody else hears of it; a recipient without a published key gets none.
        with pytest.raises(SignalingError) as keyless:
            await boss.request("e2ee.key", to=other.id, epoch=1, blob=BLOB)
        assert keyless.value.code == "forbidden"
        await asyncio.sleep(0.2)
        assert not [e for e in other.signaling.events if e.get("type") == "e2ee.key"]
        await guest.leave()
        await other.leave()


async def test_an_encrypted_meetings_chat_is_relayed_as_ciphertext_and_kept_nowhere(
    make_server,
) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--log-level", "debug", "--join-rate-per-minute", "10000")
    host = await signup(server.url)
    meeting = await host.create_meeting(e2ee=True, waiting_room=False, record_chat=True)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await join(meeting["join_url"], name="Guest")
        with pytest.raises(SignalingError) as clear:
            await guest.request("chat", text="a sentence in clear")
        assert (clear.value.code, clear.value.reason) == ("forbidden", "e2ee")
        await guest.request("chat", text=CIPHERTEXT)
        said = await boss.wait_for("chat")
        assert said["text"] == CIPHERTEXT
        longest = "e2ee:" + "Q" * 10000  # a 2000-character message in 4-byte characters
        await guest.request("chat", text=longest)
        await boss.wait_for("chat", lambda e: e["text"] == longest)
        await guest.leave()
    await asyncio.sleep(0.3)
    server.stop()
    rows = (
        sqlite3.connect(server.data_dir / "mosaic.db")
        .execute("select count(*) from chat_messages where meeting_id = ?", (meeting["id"],))
        .fetchall()
    )
    assert rows == [(0,)], "the host asked for chat records, but not of ciphertext"
    assert CIPHERTEXT.encode() not in database_bytes(server)
    assert CIPHERTEXT not in server.log


async def test_the_server_refuses_to_record_an_encrypted_meeting(server, host) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        with pytest.raises(SignalingError) as refused:
            await boss.request("recording.start")
        assert (refused.value.code, refused.value.reason) == ("forbidden", "e2ee")
        assert "end-to-end encrypted" in str(refused.value)
        assert boss.meeting["recording"] is False
        assert boss.meeting["settings"]["e2ee"] is True


async def test_an_admin_can_require_end_to_end_encryption(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--require-e2ee", "true")
    account = await signup(server.url)
    meeting = await account.create_meeting()
    assert meeting["settings"]["e2ee"] is True  # by default, without asking
    refused = await account.post("/api/meetings", {"settings": {"e2ee": False}})
    assert refused.status_code == 422
    patched = await account.patch(f"/api/meetings/{meeting['id']}", {"settings": {"e2ee": False}})
    assert patched.status_code == 422
    async with await join(meeting["join_url"], name="Host", cookies=account.cookies) as boss:
        with pytest.raises(SignalingError) as error:
            await boss.request("settings", settings={"e2ee": False})
        assert error.value.code == "forbidden"


async def test_encryption_is_not_switched_on_under_a_running_recording(server, host) -> None:  # type: ignore[no-untyped-def]
    """A recording of the clear part and then of nothing: refused over REST (409) and
    signaling (reason ``recording``) until the recording stops; then recording is refused."""
    meeting = await host.create_meeting(waiting_room=False)
    path = f"/api/meetings/{meeting['id']}"
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        assert await boss.request("recording.start") == {"recording": True}
        patched = await host.patch(path, {"settings": {"e2ee": True}})
        assert patched.status_code == 409, patched.text
        with pytest.raises(SignalingError) as refused:
            await boss.request("settings", settings={"e2ee": True})
        assert (refused.value.code, refused.value.reason) == ("forbidden", "recording")
        await boss.request("recording.stop")
        assert (await host.patch(path, {"settings": {"e2ee": True}})).status_code == 200
        await boss.wait_until(lambda: boss.meeting["settings"]["e2ee"] is True)
        with pytest.raises(SignalingError) as no_recording:
            await boss.request("recording.start")
        assert no_recording.value.reason == "e2ee"
