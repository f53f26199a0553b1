"""axe-core in Firefox ESR too (driven over WebDriver BiDi): the home page, pre-join and the
room, in English and French, have no serious or critical violation. Firefox computes styles
and the accessibility tree its own way, so what passes in Chromium is checked here again.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.browser.accessibility import RUN, axe_source, describe, unacceptable
from tests.helpers.api import signup
from tests.helpers.firefox import Firefox, Page
from tests.helpers.firefox_lab import FIREFOX_LAB, firefox_enters
from tests.helpers.server import MosaicServer

pytestmark = FIREFOX_LAB


async def audit(page: Page, source: str, artifacts: Path, state: str) -> list[dict[str, Any]]:
    """axe's findings on the page as it is; a screenshot of it is kept."""
    # Evaluated through BiDi, as the page's own scripts are not: its CSP stays as served.
    await page.firefox.command(
        "script.evaluate",
        {"expression": source, "target": {"context": page.context}, "awaitPromise": False},
    )
    shot = await page.firefox.command(
        "browsingContext.captureScreenshot", {"context": page.context}
    )
    (artifacts / f"a11y-firefox-{state}.png").write_bytes(base64.b64decode(shot["data"]))
    return await page.evaluate(f"({RUN})()")  # type: ignore[no-any-return]


async def test_home_prejoin_and_room_have_no_serious_axe_violation_in_firefox(
    lab_server: MosaicServer,
    fox: Firefox,
    artifacts: Path,
) -> None:
    source = axe_source()
    host = await signup(lab_server.url, name="Host")
    meeting = await host.create_meeting(waiting_room=False)
    problems: list[str] = []
    for language in ("en", "fr"):
        page = await fox.new_page()
        await page.store(lab_server.url, {"mosaic.language": language})
        await page.goto(lab_server.url)
        await page.wait_for("document.documentElement.lang === " + json.dumps(language))
        await page.wait_for("!document.querySelector('#welcome').hidden")
        states: list[tuple[str, list[dict[str, Any]]]] = []
        states.append(("home", await audit(page, source, artifacts, f"{language}-home")))
        await page.goto(meeting["join_url"])
        await page.wait_for("document.querySelector('#mic-select').options.length > 0")
        states.append(("prejoin", await audit(page, source, artifacts, f"{language}-prejoin")))
        await firefox_enters(page, meeting["join_url"], f"Fox {language}")
        states.append(("room", await audit(page, source, artifacts, f"{language}-room")))
        for state, violations in states:
            bad = unacceptable(violations)
            if bad:
                problems.append(describe(f"firefox {language} {state}", bad))
    assert not problems, "\n".join(problems)
