"""The web client's pages and static files, all from our own origin (no CDN, no fonts from
elsewhere, no analytics)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from mosaic.domain.ids import normalize_meeting_id

WEB = Path(__file__).resolve().parent.parent / "web"
router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(WEB / name, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/")
async def home() -> FileResponse:
    return _page("index.html")


@router.get("/verify")
async def verify_page() -> FileResponse:
    # The token is in the URL's fragment, which the browser keeps to itself; the page posts
    # it when the person presses the button (a mail scanner that fetches the link does not).
    return _page("verify.html")


@router.get("/recordings")
async def recordings_page() -> FileResponse:
    # The same page for everyone; the meeting it shows comes from the query, and its list
    # from the REST API, which answers only the meeting's host and the admin.
    return _page("recordings.html")


@router.get("/m/{meeting_id}")
async def meeting_page(meeting_id: str) -> FileResponse:
    # The page is the same for every meeting; whether the meeting exists is only told to a
    # join attempt, which is rate-limited.
    if normalize_meeting_id(meeting_id) is None:
        raise HTTPException(404, detail="not a meeting link")
    return _page("meeting.html")
