"""HTTP hardening for every response, and the same-origin rule for state-changing requests.

The web client loads nothing from another origin and runs no inline script, so the policy can
be strict: ``default-src 'self'``. Pages may not be framed (clickjacking a "share screen"
button), and no URL — which may hold a meeting ID — leaks through Referer.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mosaic import error_pages, logs

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(base_url: str, scope: Scope) -> set[str]:
    """Our public origin, plus the origin of the Host the request came to (a server reached as
    both 127.0.0.1 and localhost serves both, but never a third site)."""
    origins = {origin_of(base_url)}
    for name, value in scope.get("headers", []):
        if name == b"host":
            scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
            origins.add(f"{scheme}://{value.decode('latin-1').lower()}")
    return origins


def request_origin(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"origin":
            return value.decode("latin-1").lower()
    return None


def same_origin_write(scope: Scope, base_url: str) -> bool:
    """Whether a write comes from one of our own pages, as far as the browser says.

    Browsers send ``Origin`` on every cross-site write (and on same-origin ``fetch`` writes
    too); when a privacy setting strips it, ``Sec-Fetch-Site`` still tells. A write that says
    neither comes from no browser page at all: a script, which should hold an API token, not
    a browser's session cookie. Requiring this of cookie-authenticated writes (on top of the
    CSRF token) means a leaked CSRF token alone forges nothing."""
    origin = request_origin(scope)
    if origin is not None:
        return origin in allowed_origins(base_url, scope)
    for name, value in scope.get("headers", []):
        if name == b"sec-fetch-site":
            return value == b"same-origin"
    return False


def content_security_policy(base_url: str) -> str:
    ws_origin = origin_of(base_url).replace("https://", "wss://").replace("http://", "ws://")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' {ws_origin}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware: security headers on every HTTP response; cross-origin writes refused.

    It must wrap the whole application, Starlette's error middleware included (see
    `mosaic.app`): a 500, a 413 or this middleware's own 403 needs the headers as much as a
    page does (a plain-text answer is still a document a browser may render)."""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.base_url = base_url
        self.secure = base_url.startswith("https://")
        self.csp = content_security_policy(base_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        logs.request_id.set(logs.new_request_id())
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                headers["Permissions-Policy"] = (
                    "camera=(self), microphone=(self), display-capture=(self), geolocation=()"
                )
                if self.secure:
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
            await send(message)

        # Our own refusals too: every answer carries the headers, not only the app's.
        if scope["method"] in UNSAFE_METHODS:
            origin = request_origin(scope)
            if origin is not None and origin not in allowed_origins(self.base_url, scope):
                await _refuse(send_with_headers, scope)
                return
        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, scope: Scope) -> None:
    """403: a page in the reader's language for a browser that was sent here by another site's
    form, the API's JSON error for anyone else."""
    if error_pages.navigating(scope):
        lang = error_pages.language(Headers(scope=scope).get("accept-language"))
        body = error_pages.render("refused", lang)
        kind = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"detail": "cross-origin request refused"}).encode()
        kind = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", kind), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
