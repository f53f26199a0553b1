"""The newcomer's first minute: what people were sent goes into the home page's box as is."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import PageFactory, screenshot_path
from tests.helpers.api import Account


async def test_a_pasted_invitation_link_opens_the_meeting_with_its_passcode(
    server, host: Account, new_page: PageFactory, artifacts
) -> None:
    meeting = await host.create_meeting("Book club")
    assert "#pwd=" in meeting["join_url"] and meeting["passcode"]
    page = await new_page()
    await page.goto(server.url)
    await expect(page.locator("#welcome")).to_be_visible()
    # As pasted from a mail: spaces around it, a trailing newline.
    await page.fill("#join-id", f"  {meeting['join_url']}\n")
    await page.press("#join-id", "Enter")
    await expect(page.locator("#prejoin")).to_be_visible()
    assert page.url.split("#")[0] == f"{server.url}/m/{meeting['id']}"
    await expect(page.locator("#passcode")).to_have_value(meeting["passcode"])
    assert "#pwd" not in page.url  # the meeting page takes it out of the address bar
    await page.screenshot(path=screenshot_path(artifacts, "pasted-link-prejoin"))


async def test_the_box_takes_an_id_as_typed_and_refuses_what_is_no_meeting_link(
    server, new_page: PageFactory
) -> None:
    page = await new_page(locale="fr-FR")
    await page.goto(server.url)
    await expect(page.locator("#welcome")).to_be_visible()
    box = page.locator("#join-id")
    for refused in (
        "javascript:alert(1)//m/abcd-efgh-jkmn",
        f"{server.url}/static/abcd-efgh-jkmn",
        "https://example.org/m/not-a-meeting",
        "abcd-efgh",
    ):
        await box.fill(refused)
        await box.press("Enter")
        message = await box.evaluate("element => element.validationMessage")
        assert "12 lettres" in message, (refused, message)
        assert page.url.rstrip("/") == server.url, refused
    await box.fill(" ABCD EFGH JKMN ")
    await box.press("Enter")
    await page.wait_for_url(f"{server.url}/m/abcd-efgh-jkmn")


async def test_a_wrong_link_shows_a_page_in_the_browsers_language_with_a_way_home(
    server, new_page: PageFactory, artifacts
) -> None:
    for locale, title, home in (
        ("en-US", "This is not a meeting link", "Back to the home page"),
        ("fr-FR", "Ce n\u2019est pas un lien de réunion", "Retour à l\u2019accueil"),
    ):
        page = await new_page(locale=locale)
        response = await page.goto(f"{server.url}/m/kq7w-m3xe")
        assert response is not None and response.status == 404
        await expect(page.locator("h1")).to_have_text(title)
        await expect(page.locator("main a")).to_have_text(home)
        # Styled by the site's own sheet (the CSP allows nothing else).
        colour = await page.locator("main a").evaluate("a => getComputedStyle(a).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), colour
        await page.screenshot(path=screenshot_path(artifacts, f"error-no-meeting-{locale}"))
        await page.locator("main a").click()
        await expect(page.locator("#welcome")).to_be_visible()
        # The only console line is the document's own 404: no script, no missing resource.
        errors = [e for e in page.errors if "404 (Not Found)" not in e]  # type: ignore[attr-defined]
        assert not errors, errors
        requests = [r for r in page.requests if "/static/" in r]  # type: ignore[attr-defined]
        assert any(r.endswith("/static/css/mosaic.css") for r in requests), requests
