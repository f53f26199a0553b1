"""The store on PostgreSQL, as a cluster runs it: migrations, repositories, a whole server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mosaic.client import join
from mosaic.domain.access import Bans
from mosaic.domain.accounts import admin_at_creation
from mosaic.domain.settings import MeetingSettings
from mosaic.store.audit import Audit
from mosaic.store.db import Database
from mosaic.store.meetings import Meetings
from mosaic.store.users import EmailTaken, Users
from tests.helpers.api import signup
from tests.helpers.postgres import Postgres, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"LOUD SKIP: {unavailable()}")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    server = Postgres().start()
    yield server
    server.stop()


async def test_repositories_work_on_postgresql(postgres: Postgres) -> None:
    db = Database(postgres.url)
    await db.migrate()
    await db.migrate()  # idempotent
    users = Users(db)
    account = await users.create("Ann", "ann@example.org", "hash", admin_if=admin_at_creation)
    with pytest.raises(EmailTaken):
        await users.create("Ann again", "ann@example.org", "hash", admin_if=admin_at_creation)
    token, csrf = await users.start_session(account.id)
    signed_in = await users.session_user(token)
    assert (
        signed_in and signed_in.account.email == "ann@example.org" and signed_in.csrf_matches(csrf)
    )
    assert not signed_in.account.email_verified
    link = await users.issue_email_token(account.id, account.email)
    verified = await users.redeem_email_token(link)
    assert verified is not None and verified.email_verified
    assert await users.redeem_email_token(link) is None  # single use
    meetings = Meetings(db)
    settings = MeetingSettings(waiting_room=False, allowed_email_domains=["example.org"])
    record = await meetings.create("abcd-efgh-jkmn", account.id, "Topic", "h", settings)
    assert (await meetings.get(record.id)).settings == settings  # type: ignore[union-attr]
    audit = Audit(db)
    await audit.record(record.id, "join", subject="Ann")
    assert [e.kind for e in await audit.events(record.id)] == ["join"]
    assert await meetings.delete(record.id)
    await db.close()


async def test_a_server_on_postgresql_serves_a_meeting(postgres: Postgres, make_server) -> None:
    server = make_server("--database-url", postgres.url, "--join-rate-per-minute", "10000")
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        assert boss.state == "joined" and boss.role == "host"
        async with await join(meeting["join_url"], name="Guest") as guest:
            await boss.wait_until(lambda: guest.id in boss.participants)


async def test_meeting_state_is_stored_on_postgresql(postgres: Postgres) -> None:
    """Lock, end and bans (hashes only) are kept with the meeting; each change is a new version;
    admitted devices are remembered; deleting the meeting takes all of it."""
    db = Database(postgres.url)
    await db.migrate()
    account = await Users(db).create("Bo", "bo@example.org", "hash", admin_if=admin_at_creation)
    meetings = Meetings(db)
    record = await meetings.create("bcde-fghj-kmnp", account.id, "Topic", None, MeetingSettings())
    assert (record.locked, record.ended, record.bans, record.version) == (False, False, Bans(), 0)
    bans = Bans(
        accounts=frozenset({7}), devices=frozenset({"d" * 64}), addresses=frozenset({"a" * 64})
    )
    changed = await meetings.update(record.id, locked=True, bans=bans)
    assert changed is not None and changed.locked and changed.bans == bans and changed.version == 1
    # Bans are only ever added: a write that did not know of them keeps them.
    changed = await meetings.update(record.id, ended=True, bans=Bans(accounts=frozenset({8})))
    assert changed is not None and changed.ended and changed.version == 2
    assert changed.bans.accounts == {7, 8} and changed.bans.devices == bans.devices
    stored = await meetings.get(record.id)
    assert stored == changed
    await meetings.remember_devices(record.id, ["e" * 64, "e" * 64])
    await meetings.remember_devices(record.id, ["e" * 64])
    assert await meetings.knows_device(record.id, "e" * 64)
    assert not await meetings.knows_device(record.id, "f" * 64)
    assert await meetings.delete(record.id)
    assert not await meetings.knows_device(record.id, "e" * 64)
    await db.close()
