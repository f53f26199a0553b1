"""War-dialers and passcode guessers: the same answer after the same work, and back-off.

The guessing address pays, never the meeting or the account it aims at: floods of wrong
guesses, at once and from many addresses, must not keep the rightful people out. Servers here
run with the real default throttles; ``--trusted-proxies 127.0.0.1`` lets a test present any
client address in ``X-Forwarded-For``, as a reverse proxy would.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from mosaic.client import SignalingClient, SignalingError, join
from mosaic.domain.ids import new_meeting_id
from tests.helpers.api import Account, signup
from tests.helpers.guessing import FREE_FAILURES, join_from, login_from, ws
from tests.helpers.server import MosaicServer


async def attempt(server: MosaicServer, meeting: str, passcode: str) -> tuple[str, float]:
    client = SignalingClient(ws(server))
    await client.connect()
    started = time.perf_counter()
    try:
        await client.request("join", meeting=meeting, name="Dialer", passcode=passcode)
        code = "joined"
    except SignalingError as error:
        code = error.code
    elapsed = time.perf_counter() - started
    await client.close()
    return code, elapsed


async def test_war_dialing_from_one_address_is_throttled_to_a_crawl(make_server) -> None:
    server = make_server()  # the real defaults
    codes = [(await attempt(server, new_meeting_id(), "123456"))[0] for _ in range(12)]
    assert codes[:5] == ["unauthorized"] * 5  # a few honest mistakes are free
    assert codes[5:].count("rate_limited") >= 6  # then every attempt must wait, longer and longer
    client = SignalingClient(ws(server))
    await client.connect()
    with pytest.raises(SignalingError) as refused:
        await client.request("join", meeting=new_meeting_id(), name="Dialer")
    assert refused.value.code == "rate_limited"
    await client.close()


async def test_wrong_passcode_and_unknown_meeting_take_the_same_time(server: MosaicServer) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting()
    wrong, unknown = [], []
    for _ in range(12):
        code, elapsed = await attempt(server, meeting["id"], "not-the-code")
        assert code == "unauthorized"
        wrong.append(elapsed)
        code, elapsed = await attempt(server, new_meeting_id(), "not-the-code")
        assert code == "unauthorized"
        unknown.append(elapsed)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    # Without the decoy hash an unknown meeting answers in a fraction of the time.
    assert 0.6 < ratio < 1.6, (statistics.median(unknown), statistics.median(wrong))


async def test_sign_in_guessing_is_throttled(make_server) -> None:
    import httpx

    server = make_server()
    account = await signup(server.url)
    async with httpx.AsyncClient(base_url=server.url) as client:
        statuses = [
            (
                await client.post(
                    "/api/auth/login", json={"email": account.email, "password": f"guess {i}"}
                )
            ).status_code
            for i in range(10)
        ]
        assert statuses[:5] == [401] * 5
        assert 429 in statuses[5:]
        blocked = await client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
        assert blocked.status_code == 429  # even the right password waits out the back-off
        assert int(blocked.headers["retry-after"]) >= 1


# -- floods: the guesser pays, not the rightful people ---------------------------------------


def behind_proxy(make_server) -> MosaicServer:  # type: ignore[no-untyped-def]
    return make_server("--trusted-proxies", "127.0.0.1")


async def test_concurrent_wrong_passcodes_from_one_address_get_only_the_free_checks(
    make_server,
) -> None:
    server = behind_proxy(make_server)
    host = await signup(server.url)
    meeting = await host.create_meeting()
    results = await asyncio.gather(
        *(join_from(server, "198.51.100.1", meeting["id"], f"guess{i}") for i in range(20))
    )
    codes = [code for code, _ in results]
    # Each "unauthorized" answer is one argon2 check of a guess: checked and counted as one
    # failure *before* the check, so 20 at once get no more than the 5 free ones.
    assert 1 <= codes.count("unauthorized") <= FREE_FAILURES, codes
    assert codes.count("rate_limited") >= 20 - FREE_FAILURES, codes


async def test_concurrent_wrong_passwords_from_one_address_get_only_the_free_checks(
    make_server,
) -> None:
    server = behind_proxy(make_server)
    account = await signup(server.url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        results = await asyncio.gather(
            *(
                login_from(client, "198.51.100.2", account.email, f"guess number {i}")
                for i in range(60)
            )
        )
    statuses = [status for status, _ in results]
    assert 1 <= statuses.count(401) <= FREE_FAILURES, statuses
    assert statuses.count(429) >= 60 - FREE_FAILURES, statuses


async def test_a_passcode_flood_does_not_keep_the_right_passcode_out(make_server) -> None:
    """60 wrong passcodes at once from one address, then 60 addresses guessing (twice): the
    right passcode from yet another address still gets in, and at once; the host is told."""
    server = behind_proxy(make_server)
    host = await signup(server.url)
    meeting = await host.create_meeting()
    boss = await join(meeting["join_url"], name="Host", cookies=host.cookies)
    async with boss:
        one = [join_from(server, "198.51.100.3", meeting["id"], f"x{i}") for i in range(60)]
        await asyncio.gather(*one)
        code, elapsed = await join_from(server, "203.0.113.1", meeting["id"], meeting["passcode"])
        assert (code, elapsed < 2.0) == ("waiting", True), (code, elapsed)

        botnet = [f"192.0.2.{i}" for i in range(1, 61)]
        answers = await asyncio.gather(
            *(join_from(server, address, meeting["id"], "wrong") for address in botnet)
        )
        assert {code for code, _ in answers} == {"unauthorized"}  # slowed, never shut
        alert = await boss.wait_for("alert", lambda e: e["code"] == "passcode_guessing")
        assert alert["failures"] >= 50
        # A second round from the same addresses, while the right passcode arrives: their
        # wrong answers now wait holding the meeting's checks, the rightful one goes first.
        second = asyncio.gather(
            *(join_from(server, address, meeting["id"], "wrong-again") for address in botnet)
        )
        await asyncio.sleep(0.3)
        code, elapsed = await join_from(server, "203.0.113.2", meeting["id"], meeting["passcode"])
        assert (code, elapsed < 4.0) == ("waiting", True), (code, elapsed)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second


async def test_a_password_flood_does_not_lock_the_owner_out(make_server) -> None:
    server = behind_proxy(make_server)
    owner: Account = await signup(server.url)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        flood = [login_from(client, "198.51.100.4", owner.email, f"guess {i}") for i in range(60)]
        await asyncio.gather(*flood)
        status, elapsed = await login_from(client, "203.0.113.3", owner.email, owner.password)
        assert (status, elapsed < 2.0) == (200, True), (status, elapsed)

        botnet = [f"192.0.2.{i}" for i in range(1, 21)]
        answers = await asyncio.gather(
            *(login_from(client, address, owner.email, "wrong guess") for address in botnet)
        )
        assert {status for status, _ in answers} == {401}
        second = asyncio.gather(
            *(login_from(client, address, owner.email, "wrong again") for address in botnet)
        )
        await asyncio.sleep(0.3)
        status, elapsed = await login_from(client, "203.0.113.4", owner.email, owner.password)
        assert (status, elapsed < 5.0) == (200, True), (status, elapsed)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second


async def test_a_stopping_server_answers_held_guesses_at_once(make_server) -> None:
    """Wrong passcodes held by the meeting's gate (waiting for one of its turns, or serving a
    wrong answer's delay) are answered "try again" as the server stops: held, they kept every
    stop of a server under attack waiting out the whole graceful shutdown (5 s), then
    cancelled. Stopping takes its usual fraction of a second, cleanly, and no held guess is
    answered with its verdict."""
    server = behind_proxy(make_server)
    host = await signup(server.url)
    meeting = await host.create_meeting()
    botnet = [f"192.0.2.{i}" for i in range(1, 61)]
    # 60 wrong passcodes put the meeting under attack (past its 50 free failures) and give
    # each address a failure: their next guesses serve their delay holding one of 8 turns.
    await asyncio.gather(*(join_from(server, a, meeting["id"], "wrong") for a in botnet))
    held = asyncio.gather(*(join_from(server, a, meeting["id"], "wrong-again") for a in botnet))
    await asyncio.sleep(0.5)
    assert not held.done()  # 60 guesses, 8 at a time, 2 s each: held for ~15 s
    started = time.perf_counter()
    status = await asyncio.to_thread(server.stop)
    stopping = time.perf_counter() - started
    codes = [code for code, _ in await asyncio.wait_for(held, 10)]
    assert status == 0, server.log[-3000:]
    # Anything still held makes uvicorn wait its full 5 s before cancelling it.
    assert stopping < 4.0, stopping
    assert "graceful shutdown exceeded" not in server.log
    assert codes.count("unauthorized") <= 16, codes  # the turns served before the stop
    assert set(codes) <= {"unauthorized", "rate_limited", "closed"}, codes


async def test_an_ipv6_64_shares_one_budget(make_server) -> None:
    """A /64 is what one customer gets: its 2⁶⁴ addresses must not be 2⁶⁴ budgets."""
    server = behind_proxy(make_server)
    codes = [
        (await join_from(server, f"2001:db8:1:2::{i:x}", new_meeting_id(), "123456"))[0]
        for i in range(1, 9)
    ]
    assert codes[:FREE_FAILURES] == ["unauthorized"] * FREE_FAILURES
    assert set(codes[FREE_FAILURES:]) == {"rate_limited"}, codes
    # Another /64 has a budget of its own; an IPv4-mapped address is its IPv4 address.
    assert (await join_from(server, "2001:db8:1:3::1", new_meeting_id(), "1"))[0] == (
        "unauthorized"
    )
    for _ in range(FREE_FAILURES):
        await join_from(server, "198.51.100.9", new_meeting_id(), "1")
    assert (await join_from(server, "::ffff:198.51.100.9", new_meeting_id(), "1"))[0] == (
        "rate_limited"
    )
