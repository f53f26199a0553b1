"""Short-lived TURN credentials in coturn's "use-auth-secret" scheme (the TURN REST API).

The server and coturn share a secret; each participant gets a username that carries its
expiry time and a password derived from it, so a leaked credential stops working by itself and
coturn needs no user database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any


def turn_credentials(
    secret: str, who: str, ttl_s: int, now: float | None = None
) -> tuple[str, str]:
    """(username, password): username is "<expiry unix time>:<who>", the password is
    base64(HMAC-SHA1(secret, username)), as coturn's static-auth-secret checks it."""
    expiry = int((now if now is not None else time.time()) + ttl_s)
    username = f"{expiry}:{who}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(
    who: str, urls: list[str], secret: str | None, ttl_s: int
) -> list[dict[str, Any]]:
    """The ``iceServers`` entry a browser (or `mosaic.client`) needs, or none."""
    if not urls:
        return []
    if secret is None:
        return [{"urls": urls}]
    username, credential = turn_credentials(secret, who, ttl_s)
    return [{"urls": urls, "username": username, "credential": credential}]
