"""Confidential data: hashed at rest, absent from the logs, chat kept only when asked."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx

from mosaic.client import join
from tests.helpers.api import signup


async def test_secrets_never_reach_the_logs_or_the_database(make_server) -> None:
    server = make_server("--log-level", "debug", "--join-rate-per-minute", "10000")
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    passcode = meeting["passcode"]
    chat_text = "the launch code is swordfish-42"
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await join(meeting["join_url"], name="Guest")
        await guest.request("chat", text=chat_text)
        await boss.wait_for("chat")
        with_wrong = await httpx.AsyncClient(base_url=server.url).post(
            "/api/auth/login", json={"email": host.email, "password": "wrong password"}
        )
        assert with_wrong.status_code == 401
        await guest.leave()
    token = host.client.cookies["mosaic_session"]
    server.stop()
    log = server.log
    for secret in (passcode, token, chat_text, host.email, host.password, "wrong password"):
        assert secret not in log, f"{secret!r} was logged"
    database = (server.data_dir / "mosaic.db").read_bytes()
    for secret in (passcode, token, host.password, chat_text):
        assert secret.encode() not in database, f"{secret!r} is stored in the clear"


async def test_chat_is_kept_only_when_the_host_records_it(server, host) -> None:  # type: ignore[no-untyped-def]
    for record in (False, True):
        meeting = await host.create_meeting(waiting_room=False, record_chat=record)
        async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
            await boss.request("chat", text=f"recorded={record}")
            await boss.wait_for("chat")
        await asyncio.sleep(0.3)
        rows = (
            sqlite3.connect(server.data_dir / "mosaic.db")
            .execute("select text from chat_messages where meeting_id = ?", (meeting["id"],))
            .fetchall()
        )
        assert rows == ([("recorded=True",)] if record else [])


async def test_the_audit_log_is_for_the_host_and_the_admin_only(make_server) -> None:
    server = make_server("--join-rate-per-minute", "10000")
    admin = await signup(server.url)  # the first account is the admin
    host = await signup(server.url)
    stranger = await signup(server.url)
    meeting = await host.create_meeting()
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await join(meeting["join_url"], name="Guest")
        await boss.wait_until(lambda: bool(boss.waiting))
        await boss.request("admit", all=True)
        await guest.wait_admitted()
        await boss.request("lock", locked=True)
        await boss.request("report", participant=guest.id, reason="spam in chat")
        await boss.request("remove", participant=guest.id)
        events = (await boss.request("audit_log"))["events"]
    kinds = [e["kind"] for e in events]
    for kind in ("join", "admit", "lock", "report", "remove"):
        assert kind in kinds
    path = f"/api/meetings/{meeting['id']}/audit"
    assert (await host.client.get(path)).status_code == 200
    assert (await admin.client.get(path)).status_code == 200
    assert (await stranger.client.get(path)).status_code == 404
    reports = await admin.client.get("/api/admin/reports")
    assert reports.status_code == 200 and reports.json()[0]["reason"] == "spam in chat"
    assert (await host.client.get("/api/admin/reports")).status_code == 403
    text = str(events)
    assert host.email not in text and meeting["passcode"] not in text


async def test_audit_events_past_retention_are_deleted(tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    from mosaic.store.audit import Audit
    from mosaic.store.db import Database

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await db.migrate()
    audit = Audit(db)
    old = datetime.now(UTC) - timedelta(days=40)
    await audit.record("m", "join", subject="Old", at=old)
    await audit.record("m", "join", subject="New")
    assert await audit.purge_older_than(30) == 1
    assert [e.subject for e in await audit.events("m")] == ["New"]
    await db.close()


async def test_comings_and_goings_are_logged_by_id_never_by_name(make_server) -> None:
    """An operator can tell from the log who joined, was admitted, left, was removed or lost
    their connection, and when: by participant id, never by the names people typed."""
    import json

    import websockets

    from mosaic.signaling.protocol import SUBPROTOCOL

    server = make_server("--join-rate-per-minute", "10000")
    host = await signup(server.url)
    meeting = await host.create_meeting()  # passcode and waiting room
    names = ("Hostess Tamarind", "Quentin Zyxwv", "Ophelia Brandywine", "Ulrich Marmalade")
    async with await join(meeting["join_url"], name=names[0], cookies=host.cookies) as boss:
        leaver = await join(meeting["join_url"], name=names[1])
        removed = await join(meeting["join_url"], name=names[2])
        await boss.wait_until(lambda: len(boss.waiting) == 2)
        await boss.request("admit", all=True)
        await leaver.wait_admitted()
        await removed.wait_admitted()
        url = server.url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url, subprotocols=[SUBPROTOCOL]) as raw:  # type: ignore[list-item]
            frame = {"id": 1, "type": "join", "meeting": meeting["id"], "name": names[3]}
            await raw.send(json.dumps({**frame, "passcode": meeting["passcode"]}))
            answer = json.loads(await raw.recv())
            assert answer["type"] == "reply", answer
            lost_id = answer["result"]["self"]["id"]
            raw.transport.abort()  # no closing handshake: a network failure
        await leaver.leave()
        # Last: a removal also bars the removed guest's address (everyone's, here) to guests.
        await boss.request("remove", participant=removed.id)
        boss_id = boss.id
    server.stop()
    lines = server.log.splitlines()

    def logged(*parts: str) -> bool:
        return any(all(part in line for part in parts) for line in lines)

    for participant in (boss_id, leaver.id, removed.id, lost_id):
        assert logged("joined", f"participant_id={participant}"), participant
    for participant in (leaver.id, removed.id):
        assert logged(f"participant {participant} admitted to meeting {meeting['id']}")
    assert logged(f"participant {leaver.id} gone from meeting {meeting['id']} (leave)")
    assert logged(f"participant {removed.id} gone from meeting {meeting['id']} (removed)")
    assert logged(f"participant {lost_id} lost its connection to meeting {meeting['id']}")
    for name in names:
        assert name not in server.log, f"{name!r} was logged"
