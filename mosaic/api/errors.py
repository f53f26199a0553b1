"""Validation errors of the REST API, described without the input.

FastAPI's default answer to a body that fails validation repeats the offending input: a
10 MB name came back as 30 MB of JSON, and an input no encoder can write (a lone surrogate, an
infinite number) turned the answer into a 500. Here an error says where (the field path) and
why (pydantic's message), and never what was sent: a path element that is not one of our
field names (an unknown key, say) is replaced, and messages are clipped and made encodable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ERRORS = 10
MAX_MESSAGE_CHARS = 200


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


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
