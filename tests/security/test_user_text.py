"""User text attacks, through a real server: hidden characters in names, chat, topics and
account names are refused everywhere by one rule (mosaic.domain.text), and a guest cannot
take a host's or co-host's name, however it is disguised."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from mosaic.client import join
from mosaic.client.signaling import SignalingError
from mosaic.signaling.protocol import SUBPROTOCOL
from tests.helpers.api import Account

HIDDEN = {
    "C1 control": "\x9b",
    "NUL": "\x00",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "zero-width space": "\u200b",
    "Hangul filler": "\u3164",
    "tag": "\U000e0041",
    "bidi override": "\u202e",
    "bidi isolate": "\u2067",
    "soft hyphen": "\u00ad",
    "braille blank": "\u2800",
}


async def _raw_answers(server_url: str, frames: list[dict[str, object]]) -> list[dict[str, object]]:
    """Send frames on one WebSocket; the answer to each (replies and errors only)."""
    url = server_url.replace("http://", "ws://") + "/ws"
    answers = []
    async with websockets.connect(url, subprotocols=[SUBPROTOCOL]) as socket:  # type: ignore[list-item]
        for frame in frames:
            await socket.send(json.dumps(frame))
            while True:
                answer = json.loads(await socket.recv())
                if answer.get("type") in ("reply", "error") and answer.get("id") == frame["id"]:
                    answers.append(answer)
                    break
    return answers


async def test_names_with_hidden_characters_are_refused_at_join_and_rename(
    server, host: Account
) -> None:
    meeting = await host.create_meeting(waiting_room=False, participants_may_rename=True)
    frames = [
        {"id": i, "type": "join", "meeting": meeting["id"], "name": f"Mal{char}lory"}
        for i, char in enumerate(HIDDEN.values())
    ]
    frames.append({"id": 99, "type": "join", "meeting": meeting["id"], "name": "\u3164"})
    for answer in await _raw_answers(
        server.url, [{**f, "passcode": meeting["passcode"]} for f in frames]
    ):
        assert answer["type"] == "error" and answer["code"] == "bad_request", answer
    async with await join(meeting["join_url"], name="Mallory") as guest:
        for what, char in HIDDEN.items():
            with pytest.raises(SignalingError) as refused:
                await guest.request("rename", name=f"Mal{char}lory")
            assert refused.value.code == "bad_request", what
        # Full-width letters and odd spaces are folded, not refused.
        await guest.request("rename", name="\uff2d\uff41\uff4c\u3000 Lory")
        await guest.wait_until(lambda: guest.participants[guest.id]["name"] == "Mal Lory")


async def test_chat_refuses_hidden_characters_and_keeps_line_breaks(server, host: Account) -> None:
    meeting = await host.create_meeting(waiting_room=False)
    async with (
        await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss,
        await join(meeting["join_url"], name="Guest") as guest,
    ):
        for what, char in HIDDEN.items():
            with pytest.raises(SignalingError) as refused:
                await guest.request("chat", text=f"click here{char} now")
            assert refused.value.code == "bad_request", what
        with pytest.raises(SignalingError):
            await guest.request("report", participant=boss.id, reason="spam\u202e")
        await guest.request("chat", text="first line\r\nsecond line\n\n\n\n\nlast\t ")
        said = await boss.wait_for("chat")
        assert said["text"] == "first line\nsecond line\n\n\nlast"


async def test_topics_follow_the_same_rule_at_creation_and_change(host: Account) -> None:
    for topic in ("Budget\x00review", "Budget \u202egnitseretni", "Budget\u2066 review"):
        created = await host.post("/api/meetings", {"topic": topic})
        assert created.status_code == 422, topic
    meeting = await host.create_meeting(topic="Budget review")
    for topic in ("Budget\x00review", "Budget \u202egnitseretni", "\u3164"):
        changed = await host.patch(f"/api/meetings/{meeting['id']}", {"topic": topic})
        assert changed.status_code == 422, topic
    default = (await host.post("/api/meetings", {"topic": "  \u3000 "})).json()["topic"]
    assert default == f"{host.name}'s meeting"
    blanked = await host.patch(f"/api/meetings/{meeting['id']}", {"topic": "   "})
    assert blanked.status_code == 200 and blanked.json()["topic"] == default
    folded = await host.patch(f"/api/meetings/{meeting['id']}", {"topic": " Budget\n\treview "})
    assert folded.json()["topic"] == "Budget review"


async def test_account_names_follow_the_same_rule(server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        for number, char in enumerate(HIDDEN.values()):
            response = await client.post(
                "/api/auth/signup",
                json={
                    "name": f"Mal{char}lory",
                    "email": f"hidden{number}@text.example",
                    "password": "a long and unusual passphrase",
                },
            )
            assert response.status_code == 422, repr(char)


DISGUISES = [
    "Alice Martin",
    "alice  martin",
    "ALICE-MARTIN",
    "\uff21lice Martin",  # full-width A
    "\u0410lice Martin",  # Cyrillic A
    "Alic\u0435 Mart\u0456n",  # Cyrillic e and i
    "AIice Martin",  # a capital i for the l
    "Alice M\u00e1rtin",
    "Al\u200dice Martin",
]


async def test_a_guest_cannot_take_a_hosts_or_cohosts_name(server, host: Account) -> None:
    meeting = await host.create_meeting(waiting_room=False, participants_may_rename=True)
    async with (
        await join(meeting["join_url"], name="Alice Martin", cookies=host.cookies) as boss,
        await join(meeting["join_url"], name="Mallory") as guest,
    ):
        for disguise in DISGUISES:
            with pytest.raises(SignalingError) as refused:
                await join(meeting["join_url"], name=disguise)
            assert str(refused.value) == "forbidden: this name is a host's", disguise
            with pytest.raises(SignalingError) as refused:
                await guest.request("rename", name=disguise)
            assert str(refused.value) == "forbidden: this name is a host's", disguise
        # A co-host's name is protected too, once they are one.
        async with await join(meeting["join_url"], name="Carol Cohost") as carol:
            await boss.request("cohost", participant=carol.id, cohost=True)
            await guest.wait_until(
                lambda: guest.participants.get(carol.id, {}).get("role") == "cohost"
            )
            with pytest.raises(SignalingError) as refused:
                await guest.request("rename", name="carol  C0HOST")
            assert str(refused.value) == "forbidden: this name is a host's"
        # Names that only resemble are fine.
        await guest.request("rename", name="Alice Martinez")
