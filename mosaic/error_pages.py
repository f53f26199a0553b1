"""The pages a browser shows when the server says no: a page of the site, in the reader's
language, with a way back home, rather than a line of JSON or plain text.

A browser that *navigates* (a typed or followed link, a form another site posts here) gets
the page; scripts and the web client's own ``fetch`` calls keep the JSON error of the API
contract (`mosaic.api.errors`). The language is the first of English and French that the
``Accept-Language`` header prefers, as the pages' scripts choose theirs from the browser's
languages; the words come from the same files (``web/i18n/*.json``).

A well-formed link to a meeting that does not exist, or no longer does, gets the meeting page
like any other: whether a meeting exists is only told to a join attempt, which is
rate-limited (`mosaic.signaling.door`), and the page then says so in its own ended view.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from starlette.datastructures import Headers
from starlette.types import Scope

WEB = Path(__file__).resolve().parent / "web"
LANGUAGES = ("en", "fr")
# A kind of page for each refusal a browser may land on.
KINDS = ("not_found", "no_meeting", "refused", "other")


def language(accept_language: str | None) -> str:
    """The supported language the header prefers most (q-values honoured), else English."""
    best, best_q = LANGUAGES[0], 0.0
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        # Earlier tags win ties, as the header's order says.
        q -= position * 1e-6
        if base in LANGUAGES and q > best_q:
            best, best_q = base, q
    return best


def navigating(scope: Scope) -> bool:
    """Whether a browser is loading a page (not a script's fetch): it asks for HTML first."""
    headers = Headers(scope=scope)
    mode = headers.get("sec-fetch-mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in headers.get("accept", "")


@cache
def _strings(lang: str) -> dict[str, str]:
    return json.loads((WEB / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def _template() -> Template:
    return Template((WEB / "error.html").read_text(encoding="utf-8"))


def render(kind: str, lang: str) -> bytes:
    """The page for ``kind`` (one of `KINDS`) in ``lang``, every word escaped."""
    words = _strings(lang if lang in LANGUAGES else LANGUAGES[0])
    fields = {
        "lang": lang,
        "app": words["app.name"],
        "home_label": words["app.home"],
        "home": words["errorpage.home"],
        "title": words[f"errorpage.{kind}.title"],
        "body": words[f"errorpage.{kind}.body"],
    }
    page = _template().substitute({name: escape(value) for name, value in fields.items()})
    return page.encode("utf-8")


def kind_for(status: int, path: str) -> str:
    if status == 404:
        return "no_meeting" if path.startswith("/m/") else "not_found"
    if status == 403:
        return "refused"
    return "other"
