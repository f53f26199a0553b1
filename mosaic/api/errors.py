"""The REST API's errors: one shape for all of them, described without the input.

Every error the server sends, whoever sends it (a route, the CSRF check, the body guard, the
cross-origin check, Starlette's 404), is an `ErrorBody`: ``{"detail": "<text>"}`` or, for a
refused body or field, ``{"detail": [{"type", "loc", "msg"}]}``. `responses` declares it in the
OpenAPI document for each status a route can answer, so that a client generated from the
document handles every answer it will meet (tests/integration/test_openapi_contract.py runs
schemathesis against a real server to hold the document to that).

FastAPI's default answer to a body that fails validation repeats the offending input: a
10 MB name came back as 30 MB of JSON, and an input no encoder can write (a lone surrogate, an
infinite number) turned the answer into a 500. Here an error says where (the field path) and
why (pydantic's message), and never what was sent: a path element that is not one of our
field names (an unknown key, say) is replaced, and messages are clipped and made encodable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mosaic import error_pages
from mosaic.cluster.link import ClusterUnavailable

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ERRORS = 10
MAX_MESSAGE_CHARS = 200


class Problem(BaseModel):
    """What is wrong with one part of a request: where (``loc``) and why, never the input."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="machine-readable kind, e.g. missing, json_invalid")
    loc: list[str | int] = Field(description='where: ["body", "<field>", ...]')
    msg: str = Field(description="why, in English")
    ctx: dict[str, str] | None = Field(
        default=None, description="a machine-readable reason, e.g. a weak password's"
    )


class ErrorBody(BaseModel):
    """The one shape of every error answer."""

    model_config = ConfigDict(extra="forbid", title="Error")
    detail: str | list[Problem] = Field(
        description="a sentence, or for a refused body or field what is wrong where"
    )


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_MEANINGS: dict[int, str] = {
    400: "The request was understood and refused (an invalid, used or expired link)",
    401: "Not signed in: no session cookie, or no valid API token",
    403: "Refused: a write without this site's Origin or CSRF token, or a role or scope"
    " that does not allow it",
    404: "No such meeting or account (or not one of yours)",
    409: "Conflicts with the current state",
    413: "The body is larger than 32 KiB",
    422: "The body or a field is invalid (not strict JSON, a wrong type, a refused value)",
    429: "Too many requests: wait Retry-After seconds",
}
# A database row id in a path: larger ones are no id (SQLite's integers are 64-bit; a bigger
# number used to reach the database and come back as a 500).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# A write refused for its origin, CSRF token or body.
WRITE = (403, 413, 422)
# No session or a bad token (401); an API token this route does not take (403).
SIGNED_IN = (401, 403)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: each status it can answer, all with `ErrorBody`."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {"model": ErrorBody, "description": _MEANINGS[status]}
        if status == 429:
            entry["headers"] = _RETRY_AFTER
        declared[status] = entry
    return declared


def problem(kind: str, loc: Sequence[str | int], msg: str) -> list[dict[str, Any]]:
    """A route's own refusal of a field, in the shape of a validation error."""
    return [{"type": kind, "loc": list(loc), "msg": msg}]


def _safe_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def _safe_loc(loc: Sequence[Any]) -> list[str | int]:
    safe: list[str | int] = []
    for part in loc:
        known = isinstance(part, int) or (isinstance(part, str) and _FIELD_NAME.match(part))
        safe.append(part if known else "?")
    return safe


def safe_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic error dicts reduced to type, location and message: no input, no context."""
    described = []
    for error in list(errors)[:MAX_ERRORS]:
        described.append(
            {
                "type": _safe_text(str(error.get("type", "invalid")), 64),
                "loc": _safe_loc(error.get("loc", ())),
                "msg": _safe_text(str(error.get("msg", "invalid"))),
            }
        )
    return described


def describe(exc: ValidationError) -> list[dict[str, Any]]:
    """For a handler that validates something itself (a settings patch): the same shape."""
    return safe_errors(exc.errors(include_input=False, include_url=False, include_context=False))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": safe_errors(exc.errors())})


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """A browser that navigated here gets a page (`mosaic.error_pages`); anyone else the
    JSON `ErrorBody`, as FastAPI writes it."""
    if exc.status_code in (403, 404, 405) and error_pages.navigating(request.scope):
        lang = error_pages.language(request.headers.get("accept-language"))
        return HTMLResponse(
            error_pages.render(error_pages.kind_for(exc.status_code, request.url.path), lang),
            status_code=exc.status_code,
            headers={**(exc.headers or {}), "Content-Language": lang},
        )
    return await http_exception_handler(request, exc)


async def _unavailable(request: Request, exc: ClusterUnavailable) -> JSONResponse:
    """Redis away in cluster mode: what needs it (the cluster-wide limits on sign-in and
    sign-up, placement) answers 503, and the client may try again in a moment."""
    return JSONResponse(
        status_code=503,
        content={"detail": "the service is unavailable; try again in a moment"},
        headers={"Retry-After": "2"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ClusterUnavailable, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
