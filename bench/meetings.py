"""A host account and an open meeting on a Mosaic server, through its REST API (as the web
client makes them), and a Janus room; bots for either."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

import httpx

from mosaic.bots.base import Bot, MediaMode
from mosaic.bots.janus_api import create_room
from mosaic.bots.janus_bot import JanusBot
from mosaic.bots.mosaic_bot import MosaicBot
from mosaic.client.e2ee import link_fragment, new_link_secret


@dataclass
class MosaicMeeting:
    join_url: str
    cookies: dict[str, str]  # the host's session: bots join as the host's user


async def open_meeting(base_url: str, *, e2ee: bool = False) -> MosaicMeeting:
    """Sign a host up and create a meeting without passcode or waiting room; ``e2ee``: end-to-
    end encrypted, its link carrying the key (the bots then encrypt every frame they send,
    and the server forwards what it cannot read: its cost should not change).

    Bots carry the host's session cookie: the join-flood defence (12 unknown guests within
    10 s switch the waiting room on) is right for a meeting and wrong for a benchmark."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        account = {
            "email": f"bench-{secrets.token_hex(6)}@example.org",
            "password": "correct horse battery staple",
        }
        response = await client.post("/api/auth/signup", json={"name": "Bench host", **account})
        response.raise_for_status()
        # Sign-up never signs in (it answers the same for a taken address): sign in next.
        response = await client.post("/api/auth/login", json=account)
        response.raise_for_status()
        cookies = dict(client.cookies.items())
        response = await client.post(
            "/api/meetings",
            json={
                "topic": "bench",
                "settings": {"waiting_room": False, "passcode_required": False, "e2ee": e2ee},
            },
            # Cookie-authenticated writes come from our pages: as a browser, name the origin.
            headers={"X-CSRF-Token": cookies.get("mosaic_csrf", ""), "Origin": base_url},
        )
        response.raise_for_status()
        join_url = response.json()["join_url"]
        if e2ee:
            join_url += ("&" if "#" in join_url else "#") + link_fragment(new_link_secret())
        return MosaicMeeting(join_url, cookies)


def mosaic_bots(
    meeting: MosaicMeeting, count: int, address: str, mode: MediaMode = MediaMode.VIDEO
) -> list[Bot]:
    return [
        MosaicBot(
            meeting.join_url,
            f"bot{index}",
            cookies=meeting.cookies,
            mode=mode,
            local_addresses=[address],
        )
        for index in range(count)
    ]


async def janus_room(janus_url: str, publishers: int) -> int:
    room = random.randrange(1_000, 1 << 30)
    await create_room(janus_url, room, publishers=publishers)
    return room


def janus_bots(
    janus_url: str, room: int, count: int, address: str, mode: MediaMode = MediaMode.VIDEO
) -> list[Bot]:
    return [
        JanusBot(janus_url, room, f"bot{index}", mode=mode, local_addresses=[address])
        for index in range(count)
    ]
