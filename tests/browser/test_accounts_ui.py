"""Signing up in the browser: a weak password is explained, an unverified address is said to
be one (and why it matters), the mailed link verifies it by a button press."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PageFactory
from tests.helpers.mailbox import Mailbox, link_in

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
I18N = Path(__file__).resolve().parents[2] / "mosaic" / "web" / "i18n"


def strings(language: str) -> dict[str, str]:
    return json.loads((I18N / f"{language}.json").read_text())


def script_errors(page: Page) -> list[str]:
    """The page's errors, less the console's notes of refused requests (a 422 is expected)."""
    errors: list[str] = page.errors  # type: ignore[attr-defined]
    return [e for e in errors if not e.startswith("Failed to load resource")]


async def sign_up(page: Page, email: str, password: str, name: str = "Camille Durand") -> None:
    form = page.locator("#signup-form")
    # The page's strings arrive after its load event: act once they are in (as a person would).
    await expect(form.locator("h2")).not_to_have_text("")
    await form.locator("[name=name]").fill(name)
    await form.locator("[name=email]").fill(email)
    await form.locator("[name=password]").fill(password)
    await form.locator("button[type=submit]").click()


async def test_sign_up_explains_weak_passwords_and_unverified_addresses(
    make_server, new_page: PageFactory
) -> None:
    french = strings("fr")
    server = make_server()  # no mail: the admin verifies addresses
    page = await new_page(locale="fr-FR")
    await page.goto(server.url)
    await sign_up(page, "camille@example.org", "aaaaaaaaaa")
    error = page.locator("#signup-form .form-error")
    await expect(error).to_be_visible()
    await expect(error).to_have_text(french["password.repetitive"])
    await sign_up(page, "camille@example.org", "camille durand 1")
    await expect(error).to_have_text(french["password.personal"])

    await sign_up(page, "camille@example.org", "violet harbour lantern 7")
    await expect(page.locator("#dashboard")).to_be_visible()
    await expect(page.locator("#verify-banner")).to_contain_text(french["account.unverified"])
    await expect(page.locator("#verify-by-admin")).to_be_visible()
    await expect(page.locator("#resend")).to_be_hidden()
    # The first account is the admin: its own address waits in the list like any other.
    await expect(page.locator("#admin-accounts")).to_contain_text("camille@example.org")
    await page.locator("#unverified button").click()
    await expect(page.locator("#verify-banner")).to_be_hidden()
    await expect(page.locator("#admin-accounts")).to_be_hidden()

    # Someone else types the same address: the same answer, no session, nothing revealed.
    other = await new_page(locale="fr-FR")
    await other.goto(server.url)
    await sign_up(other, "camille@example.org", "another fine passphrase")
    await expect(other.locator("#signup-form .form-error")).to_have_text(
        french["auth.signup_sent_admin"]
    )
    await expect(other.locator("#dashboard")).to_be_hidden()
    assert script_errors(page) == script_errors(other) == []


async def test_the_mailed_link_verifies_by_a_button_press(
    make_server, new_page: PageFactory
) -> None:
    english = strings("en")
    mailbox = Mailbox().start()
    try:
        server = make_server("--smtp-url", mailbox.url)
        page = await new_page()
        await page.goto(server.url)
        await sign_up(page, "dana@example.org", "violet harbour lantern 7", name="Dana")
        await expect(page.locator("#resend")).to_be_visible()
        await page.locator("#resend").click()
        await expect(page.locator("#resend-status")).to_have_text(english["account.resend_sent"])
        link, _ = link_in(await mailbox.wait_for("dana@example.org"))
        await page.goto(link)
        await expect(page.locator("#verify-done")).to_be_hidden()
        await page.locator("#verify-password").fill("not the one")
        await page.locator("#verify-button").click()
        await expect(page.locator("#verify-wrong")).to_be_visible()
        await page.locator("#verify-password").fill("violet harbour lantern 7")
        await page.locator("#verify-button").click()
        await expect(page.locator("#verify-done")).to_be_visible()
        await expect(page.locator("#verify-done")).to_have_text(english["verify.done"])
        assert "#" not in await page.evaluate("location.href")  # the token leaves the URL
        await page.goto(server.url)
        await expect(page.locator("#dashboard")).to_be_visible()
        await expect(page.locator("#verify-banner")).to_be_hidden()
        # A used link says so.
        await page.goto(link)
        await page.locator("#verify-password").fill("violet harbour lantern 7")
        await page.locator("#verify-button").click()
        await expect(page.locator("#verify-failed")).to_be_visible()
        await expect(page.locator("#verify-failed")).to_have_text(english["verify.failed"])
        assert script_errors(page) == []
    finally:
        mailbox.stop()
