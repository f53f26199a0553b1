"""Recordings hold everyone's faces and voices: only the meeting's host starts one (co-hosts
if the host lets them), and only the host and the instance admin list, download or delete
them; to anyone else they, like the meeting, do not exist. Deleting removes the files."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mosaic.client import join
from mosaic.client.signaling import SignalingError
from mosaic.domain.ids import new_recording_id
from mosaic.store.db import Database
from mosaic.store.recordings import Recordings
from tests.helpers.api import Account, signup


async def _user_id(account: Account) -> int:
    return int((await account.client.get("/api/me")).json()["id"])


async def stored_recording(
    data_dir: Path, meeting_id: str, host_user_id: int, *, finished: bool = True
) -> str:
    """A finished recording as the server leaves one: a row in its database and files in its
    data directory (written here, in the server's own layout, so that these tests of who
    reaches a recording do not wait for media)."""
    db = Database(f"sqlite:///{data_dir / 'mosaic.db'}")
    try:
        store = Recordings(db)
        recording_id = new_recording_id()
        started = datetime.now(UTC) - timedelta(seconds=12)
        record = await store.create(recording_id, meeting_id, host_user_id, started)
        directory = data_dir / record.directory
        directory.mkdir(parents=True)
        (directory / "p0123456789ab-camera-0.webm").write_bytes(b"\x1a\x45\xdf\xa3" + b"v" * 4000)
        (directory / "manifest.json").write_text('{"files": []}')
        if finished:
            await store.finish(recording_id, started + timedelta(seconds=10), 4108, 10.0)
        return recording_id
    finally:
        await db.close()


@pytest.fixture
async def accounts(make_server: Any) -> Any:
    """A fresh server: its first account is the admin; then a host and a stranger."""
    server = make_server()
    admin = await signup(server.url)
    host = await signup(server.url)
    stranger = await signup(server.url)
    yield server, admin, host, stranger
    for account in (admin, host, stranger):
        await account.client.aclose()


async def test_another_account_cannot_list_download_or_delete_a_recording(
    accounts: tuple[Any, Account, Account, Account],
) -> None:
    server, admin, host, stranger = accounts
    meeting = await host.create_meeting("recorded")
    other = await stranger.create_meeting("the stranger's own")
    recording_id = await stored_recording(server.data_dir, meeting["id"], await _user_id(host))
    listing = f"/api/meetings/{meeting['id']}/recordings"
    one = f"{listing}/{recording_id}"

    # The stranger: the meeting, and so its recordings, do not exist.
    for answer in (
        await stranger.client.get(listing),
        await stranger.client.get(one),
        await stranger.delete(one),
    ):
        assert answer.status_code == 404, answer.text
    # Nor through a meeting of their own: a recording is looked up within its meeting.
    crossed = f"/api/meetings/{other['id']}/recordings/{recording_id}"
    assert (await stranger.client.get(crossed)).status_code == 404
    assert (await stranger.delete(crossed)).status_code == 404
    # Without a session at all.
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        assert (await anonymous.get(one)).status_code == 401

    # The host lists it and downloads its files.
    listed = (await host.client.get(listing)).json()
    assert [(r["id"], r["size_bytes"], r["duration_s"]) for r in listed] == [
        (recording_id, 4108, 10.0)
    ]
    download = await host.client.get(one)
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert sorted(names) == ["manifest.json", "p0123456789ab-camera-0.webm"]
    # The admin too (and still nothing else of the host's meeting: see test_rest_rules).
    assert [r["id"] for r in (await admin.client.get(listing)).json()] == [recording_id]
    assert (await admin.client.get(one)).status_code == 200
    assert (server.data_dir / "recordings" / recording_id).is_dir()


async def test_deleting_a_recording_removes_its_files(
    accounts: tuple[Any, Account, Account, Account],
) -> None:
    server, admin, host, _ = accounts
    meeting = await host.create_meeting("recorded")
    host_id = await _user_id(host)
    by_host = await stored_recording(server.data_dir, meeting["id"], host_id)
    by_admin = await stored_recording(server.data_dir, meeting["id"], host_id)
    listing = f"/api/meetings/{meeting['id']}/recordings"

    assert (await host.delete(f"{listing}/{by_host}")).status_code == 204
    assert not (server.data_dir / "recordings" / by_host).exists()
    assert (await admin.delete(f"{listing}/{by_admin}")).status_code == 204
    assert not (server.data_dir / "recordings" / by_admin).exists()
    assert (await host.client.get(listing)).json() == []
    assert (await host.client.get(f"{listing}/{by_host}")).status_code == 404
    assert (await host.delete(f"{listing}/{by_host}")).status_code == 404

    # Deleting the meeting takes its recordings' files along.
    kept = await stored_recording(server.data_dir, meeting["id"], host_id)
    assert (await host.delete(f"/api/meetings/{meeting['id']}")).status_code == 204
    assert not (server.data_dir / "recordings" / kept).exists()


async def test_a_non_host_starting_a_recording_gets_a_typed_error_and_nothing_changes(
    accounts: tuple[Any, Account, Account, Account],
) -> None:
    server, _, host, _ = accounts
    meeting = await host.create_meeting(waiting_room=False)
    async with (
        await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss,
        await join(meeting["join_url"], name="Guest") as guest,
    ):
        await boss.wait_until(lambda: guest.id in boss.participants)
        with pytest.raises(SignalingError) as refused:
            await guest.request("recording.start")
        assert refused.value.code == "forbidden"
        with pytest.raises(SignalingError):
            await guest.request("recording.stop")
        await guest.request("ping")  # the round trip after: no event was on its way
        assert guest.meeting.get("recording") is False
        assert boss.meeting.get("recording") is False
        listing = await host.client.get(f"/api/meetings/{meeting['id']}/recordings")
        assert listing.json() == []
        assert not (server.data_dir / "recordings").exists()


async def test_a_recording_the_server_stopped_during_is_listed_with_its_files(
    accounts: tuple[Any, Account, Account, Account],
) -> None:
    """A crash leaves a row without a stop time: it is not shown as running, its size is
    its files', and it downloads (the writer's files survive an abrupt stop)."""
    server, _, host, _ = accounts
    meeting = await host.create_meeting("recorded")
    cut = await stored_recording(
        server.data_dir, meeting["id"], await _user_id(host), finished=False
    )
    listing = f"/api/meetings/{meeting['id']}/recordings"
    [listed] = (await host.client.get(listing)).json()
    assert (listed["id"], listed["recording"], listed["stopped_at"]) == (cut, False, None)
    files = (server.data_dir / "recordings" / cut).iterdir()
    assert listed["size_bytes"] == sum(path.stat().st_size for path in files)
    assert listed["duration_s"] is None
    assert (await host.client.get(f"{listing}/{cut}")).status_code == 200
