"""The REST API as a web client and a host use it."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.api import signup
from tests.helpers.server import MosaicServer


async def test_health_and_openapi_document_every_route(server: MosaicServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/auth/signup",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/me",
        "/api/meetings",
        "/api/meetings/{meeting_id}",
        "/healthz",
    ):
        assert path in paths


async def test_signup_signs_in_and_me_answers(server: MosaicServer) -> None:
    account = await signup(server.url, name="Ada Lovelace")
    me = await account.client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["name"] == "Ada Lovelace"
    assert me.json()["email"] == account.email
    cookie = next(c for c in account.client.cookies.jar if c.name == "mosaic_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    await account.client.aclose()


async def test_first_account_of_an_instance_is_its_admin(make_server) -> None:
    fresh = make_server()
    first = await signup(fresh.url)
    second = await signup(fresh.url)
    assert (await first.client.get("/api/me")).json()["is_admin"] is True
    assert (await second.client.get("/api/me")).json()["is_admin"] is False


async def test_a_taken_address_gets_no_second_account(server: MosaicServer) -> None:
    account = await signup(server.url)
    async with httpx.AsyncClient(base_url=server.url) as client:
        body = {"name": "Other", "email": account.email.upper(), "password": "x7#kq!vz9-Lmw"}
        response = await client.post("/api/auth/signup", json=body)
        # The same answer as for a new address (tests/security/test_accounts.py), no session.
        assert response.status_code == 202
        assert "mosaic_session" not in client.cookies
        login = await client.post(
            "/api/auth/login", json={"email": account.email, "password": body["password"]}
        )
        assert login.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"name": "A", "email": "not-an-address", "password": "long enough password"},
        {"name": "A", "email": "a@example.org", "password": "short"},
        {"name": "", "email": "a@example.org", "password": "long enough password"},
        {"name": "A", "email": "a@example.org", "password": "long enough", "admin": True},
    ],
)
async def test_signup_validates_its_input(server: MosaicServer, body: dict) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.post("/api/auth/signup", json=body)).status_code == 422


async def test_login_with_wrong_password_fails_and_right_one_rotates_the_session(
    server: MosaicServer,
) -> None:
    account = await signup(server.url)
    old_token = account.client.cookies["mosaic_session"]
    async with httpx.AsyncClient(base_url=server.url) as client:
        wrong = await client.post(
            "/api/auth/login", json={"email": account.email, "password": "wrong password!"}
        )
        assert wrong.status_code == 401
        unknown = await client.post(
            "/api/auth/login", json={"email": "nobody@example.org", "password": "whatever"}
        )
        assert unknown.status_code == 401
        assert unknown.json()["detail"] == wrong.json()["detail"]
        right = await client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
        assert right.status_code == 200
        assert client.cookies["mosaic_session"] != old_token
        assert (await client.get("/api/me")).status_code == 200


async def test_logout_ends_the_session(server: MosaicServer) -> None:
    account = await signup(server.url)
    token = account.client.cookies["mosaic_session"]
    assert (await account.post("/api/auth/logout")).status_code == 204
    async with httpx.AsyncClient(base_url=server.url, cookies={"mosaic_session": token}) as c:
        assert (await c.get("/api/me")).status_code == 401


async def test_create_meeting_gives_link_passcode_and_safe_defaults(server: MosaicServer) -> None:
    account = await signup(server.url)
    meeting = await account.create_meeting("Weekly sync")
    assert meeting["topic"] == "Weekly sync"
    assert meeting["settings"]["passcode_required"] is True
    assert meeting["settings"]["waiting_room"] is True
    assert meeting["passcode"]
    assert meeting["join_url"] == f"{server.url}/m/{meeting['id']}#pwd={meeting['passcode']}"
    # Afterwards the passcode is not shown again: only its hash is stored.
    again = (await account.client.get(f"/api/meetings/{meeting['id']}")).json()
    assert again["passcode"] is None
    assert "#pwd=" not in again["join_url"]
    listed = (await account.client.get("/api/meetings")).json()
    assert [m["id"] for m in listed] == [meeting["id"]]


async def test_patch_changes_settings_and_can_issue_a_new_passcode(server: MosaicServer) -> None:
    account = await signup(server.url)
    meeting = await account.create_meeting()
    path = f"/api/meetings/{meeting['id']}"
    changed = await account.patch(path, {"topic": "Yoga", "settings": {"waiting_room": False}})
    assert changed.status_code == 200
    assert changed.json()["topic"] == "Yoga"
    assert changed.json()["settings"]["waiting_room"] is False
    assert changed.json()["settings"]["passcode_required"] is True
    renewed = (await account.patch(path, {"new_passcode": True})).json()
    assert renewed["passcode"] and renewed["passcode"] != meeting["passcode"]
    bad = await account.patch(path, {"settings": {"no_such_setting": True}})
    assert bad.status_code == 422


async def test_someone_elses_meeting_is_not_found(server: MosaicServer) -> None:
    owner = await signup(server.url)
    other = await signup(server.url)
    meeting = await owner.create_meeting()
    path = f"/api/meetings/{meeting['id']}"
    assert (await other.client.get(path)).status_code == 404
    assert (await other.patch(path, {"topic": "mine now"})).status_code == 404
    assert (await other.delete(path)).status_code == 404
    assert (await owner.client.get(path)).status_code == 200
    assert (await owner.delete(path)).status_code == 204
    assert (await owner.client.get(path)).status_code == 404


async def test_meetings_need_a_signed_in_user(server: MosaicServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/api/meetings")).status_code == 401
        assert (await client.post("/api/meetings", json={})).status_code == 401


async def test_meeting_ids_are_human_friendly_and_distinct(server: MosaicServer) -> None:
    account = await signup(server.url)
    ids = {(await account.create_meeting())["id"] for _ in range(5)}
    assert len(ids) == 5
    for meeting_id in ids:
        groups = meeting_id.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
