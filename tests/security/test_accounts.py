"""Accounts as an attacker tries them: borrowed addresses, sign-up floods, account
enumeration, weak passwords, and a copy of the database.

Mail goes through a real SMTP server (aiosmtpd on a loopback port, with a login) that keeps
what it receives; the tests read the mail and follow its link as a person would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mosaic.client import SignalingError, join
from mosaic.store.db import Database
from mosaic.store.users import token_digest
from tests.helpers.api import Account, signup, verify_as_admin
from tests.helpers.mailbox import SMTP_PASSWORD, Mailbox, link_in
from tests.helpers.server import MosaicServer, database_bytes
from tests.helpers.tls import self_signed

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


async def follow(server: MosaicServer, link: str, password: str) -> httpx.Response:
    """What a person does with the link: open the page, type the password chosen at sign-up,
    press its button (which posts them with the token from the URL's fragment)."""
    async with httpx.AsyncClient() as client:
        page = await client.get(link)
        assert page.status_code == 200 and "verify.js" in page.text
        token = link.split("#", 1)[1]
        body = {"token": token, "password": password}
        return await client.post(f"{server.url}/api/auth/verify", json=body)


def cookie_names(response: httpx.Response) -> set[str]:
    return {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")}


async def refusal(meeting: dict, account: Account) -> SignalingError:
    with pytest.raises(SignalingError) as error:
        await join(meeting["join_url"], name="Someone", cookies=account.cookies)
    return error.value


# -- borrowed addresses ------------------------------------------------------------------------


async def test_a_borrowed_address_opens_no_domain_meeting_until_its_mail_link_is_followed(
    make_server, mailbox: Mailbox
) -> None:
    server = make_server("--smtp-url", mailbox.url)
    host = await signup(server.url)
    meeting = await host.create_meeting(
        waiting_room=False, passcode_required=False, allowed_email_domains=["bigcorp.example"]
    )
    # Anyone may type someone@bigcorp.example at sign-up, and signs in at once...
    claimed = await signup(server.url, "Someone", email="someone@bigcorp.example")
    me = (await claimed.client.get("/api/me")).json()
    assert me["email_verified"] is False and me["verification_by"] == "mail"
    # ...but the address proves nothing until its mailbox answers.
    error = await refusal(meeting, claimed)
    assert error.code == "forbidden" and error.message.startswith("verify your e-mail address")

    mail = await mailbox.wait_for("someone@bigcorp.example")
    assert mail["Subject"] == "Verify your e-mail address for Mosaic"
    link, token = link_in(mail)
    assert link.startswith(server.url + "/verify#")
    # Fetching the link (a mail scanner does) verifies nothing: only the page's button does.
    async with httpx.AsyncClient() as scanner:
        await scanner.get(link)
    assert (await claimed.client.get("/api/me")).json()["email_verified"] is False

    # The mailbox's owner, who did not sign up, clicks anyway: without the password chosen at
    # sign-up, that verifies nothing (and does not use the link up).
    assert (await follow(server, link, "owner does not know it")).status_code == 403
    assert (await claimed.client.get("/api/me")).json()["email_verified"] is False
    verified = await follow(server, link, claimed.password)
    assert verified.status_code == 200 and verified.json()["email_verified"] is True
    assert (await follow(server, link, claimed.password)).status_code == 400  # single use
    async with await join(meeting["join_url"], name="Someone", cookies=claimed.cookies) as guest:
        assert guest.state == "joined"

    # A new link can be asked for (here: already verified), and the token is stored hashed.
    assert (await claimed.post("/api/auth/verification")).status_code == 409
    server.stop()
    assert SMTP_PASSWORD not in server.log
    assert token.encode() not in database_bytes(server)


@pytest.mark.parametrize("tls", ["starttls", "smtps"])
async def test_mail_goes_out_over_starttls_and_smtps(tmp_path: Path, tls: str) -> None:
    certificate = self_signed(tmp_path)
    box = Mailbox(tls, certificate).start()
    # The server trusts the throwaway certificate as it would a real one.
    env = {"SSL_CERT_FILE": str(certificate[0])}
    server = MosaicServer(tmp_path / "data", "--smtp-url", box.url, env=env).start()
    try:
        account = await signup(server.url)
        mail = await box.wait_for(account.email)
        assert mail["From"] == "Mosaic <mosaic@127.0.0.1>"
        assert (await follow(server, link_in(mail)[0], account.password)).status_code == 200
    finally:
        server.stop()
        box.stop()


async def test_the_verification_link_can_be_sent_again_but_not_endlessly(
    make_server, mailbox: Mailbox
) -> None:
    server = make_server("--smtp-url", mailbox.url)
    account = await signup(server.url)
    await mailbox.wait_for(account.email)
    answers = [(await account.post("/api/auth/verification")).status_code for _ in range(4)]
    # Three mails an hour per recipient, the sign-up's included: nobody mail-bombs a mailbox.
    assert answers == [202, 202, 429, 429]
    third = await mailbox.wait_for(account.email, 3)
    _, first_token = link_in(mailbox.to(account.email)[0])
    assert (await follow(server, link_in(third)[0], account.password)).status_code == 200
    # Once verified, every other link of the account is dead.
    async with httpx.AsyncClient(base_url=server.url) as client:
        body = {"token": first_token, "password": account.password}
        stale = await client.post("/api/auth/verify", json=body)
    assert stale.status_code == 400


async def test_signed_in_only_admits_verified_addresses_and_the_admin_vouches_without_mail(
    make_server,
) -> None:
    """ "Signed-in users only" asks for someone accountable; an unverified account is free and
    claims any address, so it needs a verified address too. Without --smtp-url, the instance
    admin verifies addresses, their own included (never automatically: the first account is
    whoever reached a fresh instance first)."""
    server = make_server()
    admin = await signup(server.url)
    member = await signup(server.url, "Member")
    assert (await admin.client.get("/api/me")).json()["email_verified"] is False
    assert (await member.client.get("/api/me")).json()["verification_by"] == "admin"
    assert (await member.post("/api/auth/verification")).status_code == 409  # no mail here
    meeting = await admin.create_meeting(waiting_room=False, signed_in_only=True)
    error = await refusal(meeting, member)
    assert error.code == "forbidden" and error.message.startswith("verify your e-mail address")

    listed = (await admin.client.get("/api/admin/accounts/unverified")).json()
    assert {a["email"] for a in listed} == {admin.email, member.email}
    me = (await member.client.get("/api/me")).json()
    # Only the admin vouches: a member cannot verify itself.
    assert (await member.post(f"/api/admin/accounts/{me['id']}/verify")).status_code == 403
    assert (await member.client.get("/api/admin/accounts/unverified")).status_code == 403
    await verify_as_admin(admin, member)
    async with await join(meeting["join_url"], name="Member", cookies=member.cookies) as guest:
        assert guest.state == "joined"
    await verify_as_admin(admin, admin)
    assert (await admin.client.get("/api/admin/accounts/unverified")).json() == []


async def test_a_squatted_address_goes_to_whoever_reads_its_mailbox(
    make_server, mailbox: Mailbox
) -> None:
    server = make_server("--smtp-url", mailbox.url)
    await signup(server.url)  # the admin
    squatter = await signup(
        server.url, "Squatter", email="ceo@bigcorp.example", password="q9!vLx-mwz3p"
    )
    async with httpx.AsyncClient(base_url=server.url) as owner:
        body = {"name": "The CEO", "email": "ceo@bigcorp.example", "password": "r4#Tn-ybq8Kd"}
        assert (await owner.post("/api/auth/signup", json=body)).status_code == 202
    claim = await mailbox.wait_for("ceo@bigcorp.example", 2)
    assert "never confirmed" in claim.get_content()
    # The link hands the account over only with the password of the attempt that caused it:
    # not the squatter's (were the owner tricked into typing it), only the owner's.
    assert (await follow(server, link_in(claim)[0], "q9!vLx-mwz3p")).status_code == 403
    assert (await follow(server, link_in(claim)[0], "r4#Tn-ybq8Kd")).status_code == 200
    # The squatter's session ended and their password is gone; the owner signs in.
    assert (await squatter.client.get("/api/me")).status_code == 401
    async with httpx.AsyncClient(base_url=server.url) as client:
        old = {"email": "ceo@bigcorp.example", "password": "q9!vLx-mwz3p"}
        assert (await client.post("/api/auth/login", json=old)).status_code == 401
        new = {"email": "ceo@bigcorp.example", "password": "r4#Tn-ybq8Kd"}
        signed_in = await client.post("/api/auth/login", json=new)
        assert signed_in.status_code == 200
        assert signed_in.json()["name"] == "The CEO" and signed_in.json()["email_verified"]


# -- sign-up floods and enumeration ------------------------------------------------------------


async def test_a_sign_up_flood_is_throttled_per_address(make_server) -> None:
    server = make_server()  # the default: 20 sign-ups per address per hour

    async def sign_up(client: httpx.AsyncClient, n: int) -> int:
        body = {"name": "Bot", "email": f"bot{n}@flood.example", "password": "pl4ce-h0lder-9x"}
        return (await client.post("/api/auth/signup", json=body)).status_code

    async with httpx.AsyncClient(base_url=server.url) as flood:
        answers = await asyncio.gather(*(sign_up(flood, n) for n in range(40)))
    assert answers.count(202) == 20 and answers.count(429) == 20
    # Another address is not punished for it.
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=server.url, transport=other) as neighbour:
        assert await sign_up(neighbour, 100) == 202


async def test_sign_up_answers_the_same_for_a_registered_address(
    make_server, mailbox: Mailbox
) -> None:
    """Same status, same body, no cookie, about the same time; only the mailbox learns."""
    server = make_server("--smtp-url", mailbox.url, "--signups-per-hour", "1000")
    registered = await signup(server.url, email="taken@example.org")
    await mailbox.wait_for("taken@example.org")
    await follow(server, link_in(mailbox.to("taken@example.org")[0])[0], registered.password)

    async def attempt(email: str) -> tuple[httpx.Response, float]:
        async with httpx.AsyncClient(base_url=server.url) as client:
            body = {"name": "Visitor", "email": email, "password": "a-n3w-Passphrase"}
            started = time.perf_counter()
            response = await client.post("/api/auth/signup", json=body)
            return response, time.perf_counter() - started

    taken_times, new_times = [], []
    for n in range(6):
        taken, taken_s = await attempt("taken@example.org")
        fresh, fresh_s = await attempt(f"fresh{n}@example.org")
        assert taken.status_code == fresh.status_code == 202
        assert taken.json() == fresh.json()
        assert cookie_names(taken) == cookie_names(fresh)
        assert not cookie_names(taken) & {"mosaic_session", "mosaic_csrf"}  # nobody signed in
        taken_times.append(taken_s)
        new_times.append(fresh_s)
    taken_median, new_median = statistics.median(taken_times), statistics.median(new_times)
    print(
        f"sign-up median: registered {taken_median * 1000:.1f} ms, new {new_median * 1000:.1f} ms"
    )
    assert abs(taken_median - new_median) < 0.5 * max(taken_median, new_median)
    # The mail says what happened: the owner learns someone tried (three mails an hour at most).
    notice = await mailbox.wait_for("taken@example.org", 2)
    assert notice["Subject"] == "Someone tried to sign up to Mosaic with your address"
    assert "/verify#" not in notice.get_content()
    assert (await mailbox.wait_for("fresh0@example.org"))["Subject"].startswith("Verify")
    await asyncio.sleep(0.5)
    assert len(mailbox.to("taken@example.org")) == 3  # the first link, then 2 notices
    # And the registered account is untouched.
    assert (await registered.client.get("/api/me")).status_code == 200


# -- passwords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "too_short"),
        ("aaaaaaaaaa", "repetitive"),
        ("abcabcabcabc", "repetitive"),
        ("1234567890", "sequence"),
        ("qwertyuiopas", "sequence"),
        ("password123", "common"),
        ("P@ssw0rd2024!", "common"),
        ("iloveyou12345", "common"),
        ("ada.lovelace1", "personal"),
        ("Lovelace2024", "personal"),
    ],
)
async def test_weak_passwords_are_refused_with_a_reason(
    server: MosaicServer, password: str, reason: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        body = {"name": "Ada Lovelace", "email": "ada.lovelace@example.org", "password": password}
        response = await client.post("/api/auth/signup", json=body)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["type"] == "weak_password" and problem["ctx"]["reason"] == reason
    assert problem["loc"] == ["body", "password"] and problem["msg"]
    assert password not in response.text


async def test_a_good_passphrase_is_accepted(server: MosaicServer) -> None:
    account = await signup(server.url, password="tangerine orbit 42 lamp")
    assert (await account.client.get("/api/me")).status_code == 200


# -- a copy of the database --------------------------------------------------------------------


async def test_the_csrf_token_is_not_stored_in_clear(make_server) -> None:
    server = make_server()
    account = await signup(server.url)
    csrf = account.client.cookies["mosaic_csrf"]
    assert (await account.post("/api/meetings", {"topic": "ok"})).status_code == 201
    altered = csrf[:-1] + ("B" if csrf.endswith("A") else "A")  # never the token itself
    wrong = await account.client.post(
        "/api/meetings", json={"topic": "x"}, headers={"X-CSRF-Token": altered}
    )
    assert wrong.status_code == 403
    server.stop()
    rows = sqlite3.connect(server.data_dir / "mosaic.db").execute("select * from auth_sessions")
    stored = repr(rows.fetchall())
    assert csrf not in stored and token_digest(csrf) in stored
    assert csrf.encode() not in database_bytes(server)


async def test_upgrading_hashes_the_csrf_tokens_of_open_sessions(tmp_path: Path) -> None:
    """Migration 0003 on a database of the previous version: sessions survive, their CSRF
    tokens are replaced by digests, and accounts start unverified."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'mosaic.db'}"
    db = Database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(_upgrade_to, "0002")
        await connection.exec_driver_sql(
            "insert into users (id, name, email, password_hash, is_admin, created_at)"
            " values (1, 'Ann', 'ann@example.org', 'h', 1, '2026-01-01 00:00:00')"
        )
        await connection.exec_driver_sql(
            "insert into auth_sessions (token_hash, csrf_token, user_id, created_at, expires_at)"
            f" values ('{token_digest('session')}', 'csrf-in-clear', 1,"
            " '2026-01-01 00:00:00', '2999-01-01 00:00:00')"
        )
    await db.migrate()
    from mosaic.store.users import Users

    signed_in = await Users(db).session_user("session")
    assert signed_in is not None and signed_in.csrf_matches("csrf-in-clear")
    assert not signed_in.account.email_verified
    await db.close()
    stored = (tmp_path / "mosaic.db").read_bytes()
    assert b"csrf-in-clear" not in stored


def _upgrade_to(connection, revision: str) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config

    from mosaic.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
