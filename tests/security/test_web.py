"""Web hardening: headers, CSRF, cross-origin WebSockets."""

from __future__ import annotations

import httpx
import pytest
import websockets

from mosaic.signaling.protocol import SUBPROTOCOL
from tests.helpers.api import signup
from tests.helpers.server import MosaicServer


async def test_every_page_carries_a_strict_policy(server: MosaicServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        for path in ("/", "/m/abcd-efgh-jkmn", "/static/js/meeting.js", "/healthz"):
            headers = (await client.get(path)).headers
            csp = headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-content-type-options"] == "nosniff"
            assert "strict-transport-security" not in headers  # plain HTTP here


async def test_pages_contain_no_inline_script(server: MosaicServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        for path in ("/", "/m/abcd-efgh-jkmn"):
            html = (await client.get(path)).text
            assert "<script>" not in html and "onclick=" not in html and "style=" not in html


async def test_cookie_authenticated_writes_need_the_csrf_token(server: MosaicServer) -> None:
    account = await signup(server.url)
    cookies = {"mosaic_session": account.client.cookies["mosaic_session"]}
    async with httpx.AsyncClient(base_url=server.url, cookies=cookies) as forged:
        # What a page of another site can make a browser send: the cookie, no token.
        assert (await forged.post("/api/meetings", json={})).status_code == 403
        assert (
            await forged.post("/api/meetings", json={}, headers={"X-CSRF-Token": "guess"})
        ).status_code == 403
        assert (await forged.get("/api/meetings")).status_code == 200  # reads are not writes
    assert (await account.post("/api/meetings", {})).status_code == 201


async def test_cross_origin_writes_are_refused(server: MosaicServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/api/auth/login",
            json={"email": "a@example.org", "password": "whatever"},
            headers={"Origin": "https://evil.example"},
        )
        assert response.status_code == 403


async def test_a_websocket_from_another_origin_is_refused(server: MosaicServer) -> None:
    url = server.url.replace("http://", "ws://") + "/ws"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            origin="https://evil.example",  # type: ignore[arg-type]
        ):
            pass
    async with websockets.connect(
        url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        origin=server.url,  # type: ignore[arg-type]
    ) as accepted:
        assert accepted.subprotocol == SUBPROTOCOL


async def test_https_deployments_get_hsts_and_secure_cookies(make_server) -> None:
    server = make_server("--public-url", "https://meet.example.org")
    async with httpx.AsyncClient(base_url=server.url) as client:
        account = {"email": "a@example.org", "password": "a long and unusual passphrase"}
        response = await client.post("/api/auth/signup", json={"name": "A", **account})
        assert "max-age=" in response.headers["strict-transport-security"]
        response = await client.post("/api/auth/login", json=account)
        assert {"mosaic_session", "mosaic_csrf"} <= set(response.cookies)
        for cookie in response.headers.get_list("set-cookie"):
            assert "Secure" in cookie


async def test_every_answer_carries_the_policy_even_refusals_and_errors(
    server: MosaicServer,
) -> None:
    """Not only pages: our own 403, a 404, a 413, a 422 (and, below, a 500) are documents a
    browser may render, so they carry the same headers."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        answers = {
            403: await client.post(
                "/api/auth/login", json={}, headers={"Origin": "https://evil.example"}
            ),
            404: await client.get("/no/such/page"),
            413: await client.post("/api/auth/login", content=b"[" + b"1," * 100_000 + b"1]"),
            422: await client.post("/api/auth/login", json={"email": 1}),
        }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, f"{status} without a policy"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


async def test_an_internal_error_carries_the_policy_too() -> None:
    from mosaic.app import create_app
    from mosaic.config import Settings

    app = create_app(Settings())

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/fails")
    assert response.status_code == 500
    assert "default-src 'self'" in response.headers.get("content-security-policy", "")
