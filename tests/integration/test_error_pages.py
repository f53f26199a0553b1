"""What a browser lands on when the server says no: a styled page of the site in the reader's
language (English or French, from Accept-Language), with a way home and every security
header; scripts keep the JSON error of the API contract."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers.server import MosaicServer

NAVIGATION = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"}
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "de-DE,en-GB;q=0.8,fr;q=0.3"}


def assert_page(response: httpx.Response, status: int, lang: str, title: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f'<html lang="{lang}">' in html
    assert re.search(rf"<h1>{re.escape(title)}</h1>", html), html
    assert '<a class="button primary" href="/">' in html  # the way back home
    assert '<link rel="stylesheet" href="/static/css/mosaic.css">' in html
    assert "<script" not in html and "style=" not in html
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("languages", "lang", "no_meeting", "not_found"),
    [
        (ENGLISH, "en", "This is not a meeting link", "Page not found"),
        (FRENCH, "fr", "Ce n\u2019est pas un lien de réunion", "Page introuvable"),
    ],
)
async def test_a_wrong_link_gets_a_page_in_the_readers_language(
    server: MosaicServer, languages: dict[str, str], lang: str, no_meeting: str, not_found: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=NAVIGATION | languages) as browser:
        assert_page(await browser.get("/m/not-a-meeting"), 404, lang, no_meeting)
        assert_page(await browser.get("/no/such/page"), 404, lang, not_found)
        # A well-formed link is the meeting page (existence is told only to a join attempt).
        assert (await browser.get("/m/abcd-efgh-jkmn")).status_code == 200


@pytest.mark.parametrize(("languages", "lang", "title"), [
    (ENGLISH, "en", "Request refused"),
    (FRENCH, "fr", "Demande refusée"),
])  # fmt: skip
async def test_a_form_another_site_posts_here_gets_the_refusal_page(
    server: MosaicServer, languages: dict[str, str], lang: str, title: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as browser:
        refused = await browser.post(
            "/api/auth/login",
            data={"email": "a@example.org", "password": "x"},
            headers=NAVIGATION | languages | {"Origin": "https://evil.example"},
        )
    assert_page(refused, 403, lang, title)


async def test_scripts_still_get_the_json_error(server: MosaicServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=FRENCH) as script:
        refused = await script.post(
            "/api/auth/login", json={}, headers={"Origin": "https://evil.example"}
        )
        missing = await script.get("/m/not-a-meeting")
        fetched = await script.get(
            "/no/such/page", headers={"Accept": "text/html", "Sec-Fetch-Mode": "cors"}
        )
    for response, status in ((refused, 403), (missing, 404), (fetched, 404)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert isinstance(response.json()["detail"], str)
