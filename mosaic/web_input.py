"""What an HTTP request body may be, checked before any route or parser sees it.

Every write of the REST API takes a small JSON object (the largest, a meeting's settings with
twenty e-mail domains, is about 6 KB). A body is therefore refused

- when it is larger than `MAX_BODY_BYTES`: at once if its ``Content-Length`` says so, or as
  soon as a chunked body passes the limit; nothing beyond the limit is buffered or parsed,
  so a 10 MB array costs the event loop nothing (the server discards the rest of it as it
  arrives and the keep-alive connection goes on serving);
- when it is JSON (``application/json``, ``*/*+json`` or no type) that is not strict
  RFC 8259 JSON in UTF-8: ``NaN``, ``Infinity`` and numbers that overflow to infinity
  (``1e309``), lone surrogates (``"\\ud800"``, which no encoder can write back), bytes that
  are not UTF-8, nesting deeper than any of our models.

Python's ``json`` module accepts all of these, and they used to travel on into validation
errors that could not be encoded (a 500, and a reset connection). The answers are typed
(413, or 422 with FastAPI's validation shape: ``{"detail": [{"type", "loc", "msg"}]}``) and
never repeat the input. This middleware is one place for the rule, whatever route a future
change adds.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Kilobytes, not megabytes: see the module docstring; docs/protocol.md states it.
MAX_BODY_BYTES = 32 * 1024
# Our deepest body is {"settings": {"allowed_email_domains": [...]}}: depth 3.
MAX_JSON_DEPTH = 16


class BadBody(Exception):
    """A body refused before the application: the status and a message that echoes nothing."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def _reject_constant(name: str) -> Any:
    raise BadBody(422, "json_invalid", "NaN and Infinity are not JSON numbers")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadBody(422, "json_invalid", "number out of range")
    return value


def parse_strict_json(body: bytes) -> Any:
    """Parse ``body`` as strict JSON or raise `BadBody`. Pure; the middleware's rule."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody(422, "json_invalid", "JSON must be UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadBody(422, "json_invalid", "JSON nested too deeply") from None
    except ValueError:  # JSONDecodeError, and integers too long to convert
        raise BadBody(422, "json_invalid", "JSON decode error") from None
    _check_strings_and_depth(value)
    return value


def _check_strings_and_depth(value: Any) -> None:
    """Iteratively (no recursion to exhaust): every string and key encodable, depth bounded."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise BadBody(422, "json_invalid", "JSON string holds a lone surrogate")
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise BadBody(422, "json_invalid", "JSON nested too deeply")
            if isinstance(item, dict):
                for key, child in item.items():
                    stack.append((key, depth + 1))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_json(content_type: str | None) -> bool:
    """FastAPI parses a body as JSON for these types (and, leniently, for none at all)."""
    if content_type is None:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class BodyGuard:
    """ASGI middleware: the size limit and strict JSON, before routing and parsing."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = _declared_length(headers)
        if length is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        try:
            if length is not None and length > self.max_body_bytes:
                raise self._too_large()
            body, more = await self._read_body(receive)
            if more:
                raise self._too_large()
            if body and _is_json(headers.get("content-type")):
                parse_strict_json(body)
        except BadBody as refused:
            await _answer(send, refused)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        """The body, up to the limit; ``more`` is True when it went past it (then unread)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away; the application sees the same when it reads.
                return b"".join(chunks), False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    def _too_large(self) -> BadBody:
        return BadBody(
            413, "body_too_large", f"request body larger than {self.max_body_bytes} bytes"
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the application the body already read, then the real stream
    (which from then on only says whether the client disconnected)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, refused: BadBody) -> None:
    detail = [{"type": refused.kind, "loc": ["body"], "msg": refused.message}]
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(payload)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
