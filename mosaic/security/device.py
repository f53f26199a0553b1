"""The device cookie, and the keyed hashes a meeting's bans are stored as.

A removal must hold on something the client cannot choose. A device id the client sends is
worthless (send another, or none); a device id the server issued and signed, in an HttpOnly
cookie, is not: a page cannot read or forge it, only drop it, and dropping it makes the browser
a stranger again (strangers wait after a removal, see `mosaic.domain.meeting.MeetingAccess`).

Bans are stored, and outlive the room and the process, so what identifies a device or an
address is stored only as an HMAC under the server's key: a copy of the database alone does not
tell which addresses took part (an unkeyed hash of an IPv4 address is reversed by trying all
2³² of them).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mosaic.security.signing import Signer

DEVICE_COOKIE = "mosaic_device"
# Browsers cap a cookie's lifetime at 400 days (RFC 6265bis); a device stays itself that long.
DEVICE_TTL_S = 400 * 24 * 3600
# Where a browser comes before it joins: the pages, and the REST calls of the web client.
_COOKIE_PATHS = ("/m/", "/api/")


def address_key(address: str) -> str:
    """The part of a client address that identifies one subscriber: the address for IPv4,
    the /64 for IPv6 (one customer gets a whole /64 and picks any address in it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class DeviceCookies:
    """Issues and reads the signed device cookie; turns device ids and addresses into the keyed
    hashes (pseudonyms) that a meeting's participants and bans carry."""

    def __init__(self, key: bytes, *, secure: bool) -> None:
        self._signer = Signer(key, "device")
        self._pseudonym_key = hmac.new(key, b"mosaic-pseudonym", hashlib.sha256).digest()
        self.secure = secure

    def read(self, cookie: str | None) -> str | None:
        """The device id of a cookie this server issued, or None (absent, forged, expired)."""
        if not cookie:
            return None
        payload = self._signer.verify(cookie)
        device = payload.get("d") if payload else None
        return device if isinstance(device, str) and device else None

    def issue(self) -> tuple[str, str]:
        """A new device: (its id, the ``Set-Cookie`` header value that gives it)."""
        device = secrets.token_urlsafe(16)
        value = self._signer.sign({"d": device}, ttl_s=DEVICE_TTL_S)
        attributes = [
            f"{DEVICE_COOKIE}={value}",
            "Path=/",
            f"Max-Age={DEVICE_TTL_S}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure:
            attributes.append("Secure")
        return device, "; ".join(attributes)

    def device_pseudonym(self, device: str) -> str:
        return self._pseudonym("device", device)

    def address_pseudonym(self, address: str) -> str:
        return self._pseudonym("address", address_key(address))

    def _pseudonym(self, kind: str, value: str) -> str:
        message = f"{kind}:{value}".encode()
        return hmac.new(self._pseudonym_key, message, hashlib.sha256).hexdigest()


def cookie_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The device cookie of a request's raw ASGI headers, if any."""
    for name, value in headers:
        if name != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, _, cookie = part.strip().partition("=")
            if key == DEVICE_COOKIE:
                return cookie
    return None


class DeviceCookieMiddleware:
    """Gives a browser its device cookie on the pages and REST answers it sees before joining,
    so that the signaling socket (where a cookie can be set too, but not every client keeps it)
    already carries one. Reads the node's `DeviceCookies` from the app state at request time:
    the signing key is loaded when the services start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/" or path.startswith(_COOKIE_PATHS)):
            await self.app(scope, receive, send)
            return
        services = getattr(scope["app"].state, "services", None)
        devices: DeviceCookies | None = getattr(services, "devices", None)
        if devices is None or devices.read(cookie_from_headers(scope["headers"])) is not None:
            await self.app(scope, receive, send)
            return
        _, set_cookie = devices.issue()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", set_cookie.encode())],
                }
            await send(message)

        await self.app(scope, receive, send_with_cookie)
