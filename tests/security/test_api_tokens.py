"""Who may write: a browser's session cookie only from our own pages, scripts only with a
personal API token (scoped, revocable, stored hashed)."""

from __future__ import annotations

import sqlite3

import httpx

from mosaic.store.users import token_digest
from tests.helpers.api import Account, signup
from tests.helpers.server import MosaicServer, database_bytes


async def _token(account: Account, *scopes: str, name: str = "script") -> dict[str, object]:
    response = await account.post("/api/tokens", {"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()


def _bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_cookie_write_that_names_no_origin_is_refused(
    server: MosaicServer, host: Account
) -> None:
    """The CSRF token alone is not enough: a write with the session cookie must say it comes
    from one of our pages (Origin, or Sec-Fetch-Site when a browser strips Origin)."""
    headers = dict(host.csrf)  # the right CSRF token
    async with httpx.AsyncClient(base_url=server.url, cookies=host.cookies) as script:
        bare = await script.post("/api/meetings", json={}, headers=headers)
        assert bare.status_code == 403, bare.text
        assert "API token" in bare.json()["detail"]
        cross = {**headers, "Sec-Fetch-Site": "cross-site"}
        assert (await script.post("/api/meetings", json={}, headers=cross)).status_code == 403
        logout = await script.post("/api/auth/logout", headers=headers)
        assert logout.status_code == 403  # not even signing out, which would be a nuisance
        same = {**headers, "Sec-Fetch-Site": "same-origin"}
        assert (await script.post("/api/meetings", json={}, headers=same)).status_code == 201
        ours = {**headers, "Origin": server.url}
        assert (await script.post("/api/meetings", json={}, headers=ours)).status_code == 201
        assert (await script.get("/api/meetings")).status_code == 200  # reads need no origin


async def test_a_token_needs_no_cookie_nor_csrf_and_a_revoked_one_is_refused(
    server: MosaicServer, host: Account
) -> None:
    made = await _token(host, "meetings:read", "meetings:write", name="calendar sync")
    assert str(made["token"]).startswith("mosaic_pat_")
    async with httpx.AsyncClient(base_url=server.url) as script:
        created = await script.post(
            "/api/meetings", json={"topic": "from a script"}, headers=_bearer(made["token"])
        )
        assert created.status_code == 201, created.text
        listed = await script.get("/api/meetings", headers=_bearer(made["token"]))
        assert [m["topic"] for m in listed.json()] == ["from a script"]
        me = await script.get("/api/me", headers=_bearer(made["token"]))
        assert me.json()["email"] == host.email

        tokens = (await host.client.get("/api/tokens")).json()
        assert [(t["name"], t["scopes"]) for t in tokens] == [
            ("calendar sync", ["meetings:read", "meetings:write"])
        ]
        assert "token" not in tokens[0]  # shown once, at creation
        assert (await host.delete(f"/api/tokens/{made['id']}")).status_code == 204

        revoked = await script.get("/api/meetings", headers=_bearer(made["token"]))
        assert revoked.status_code == 401
        assert revoked.headers["www-authenticate"].startswith("Bearer")
        forged = await script.get("/api/meetings", headers=_bearer("mosaic_pat_" + "A" * 43))
        assert forged.status_code == 401
        assert (await host.client.get("/api/tokens")).json() == []


async def test_a_token_reaches_only_what_its_scopes_allow(
    server: MosaicServer, host: Account
) -> None:
    meeting = await host.create_meeting()
    reader = (await _token(host, "meetings:read"))["token"]
    writer = (await _token(host, "meetings:write"))["token"]
    path = f"/api/meetings/{meeting['id']}"
    async with httpx.AsyncClient(base_url=server.url) as script:
        assert (await script.get(path, headers=_bearer(reader))).status_code == 200
        for refused in (
            await script.delete(path, headers=_bearer(reader)),
            await script.patch(path, json={"topic": "mine"}, headers=_bearer(reader)),
            await script.post("/api/meetings", json={}, headers=_bearer(reader)),
            await script.get(path, headers=_bearer(writer)),  # write does not imply read
            # No token makes tokens, nor reaches the admin's routes, whatever its scopes.
            await script.post(
                "/api/tokens",
                json={"name": "more", "scopes": ["meetings:write"]},
                headers=_bearer(writer),
            ),
            await script.get("/api/tokens", headers=_bearer(writer)),
            await script.get("/api/admin/accounts/unverified", headers=_bearer(writer)),
        ):
            assert refused.status_code == 403, (refused.request.url, refused.text)
    still = await host.client.get(path)
    assert still.status_code == 200 and still.json()["topic"] == meeting["topic"]


async def test_another_account_cannot_revoke_my_token(server: MosaicServer, host: Account) -> None:
    made = await _token(host, "meetings:read")
    other = await signup(server.url)
    try:
        assert (await other.delete(f"/api/tokens/{made['id']}")).status_code == 404
    finally:
        await other.client.aclose()
    async with httpx.AsyncClient(base_url=server.url) as script:
        assert (
            await script.get("/api/meetings", headers=_bearer(made["token"]))
        ).status_code == 200


async def test_api_tokens_are_stored_only_as_digests(make_server) -> None:
    server = make_server()
    account = await signup(server.url)
    made = await _token(account, "meetings:read")
    token = str(made["token"])
    async with httpx.AsyncClient(base_url=server.url) as script:
        assert (await script.get("/api/meetings", headers=_bearer(token))).status_code == 200
    await account.client.aclose()
    server.stop()
    rows = sqlite3.connect(server.data_dir / "mosaic.db").execute("select * from api_tokens")
    stored = repr(rows.fetchall())
    assert token_digest(token) in stored and token not in stored
    copied = database_bytes(server)
    assert token.encode() not in copied
    assert token[len("mosaic_pat_") :].encode() not in copied
