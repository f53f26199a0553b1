"""Tokens the server signs and later believes: device cookies, resume tokens.

What a client can choose (a device id, a participant id) proves nothing; what the server signed
with a key the client never sees does. One key per server, kept in the data directory (so a
restart of the same server still believes what it signed before), with a purpose mixed into
every signature so that a token made for one use is worthless for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

KEY_FILE = "server.key"
KEY_BYTES = 32


def load_or_create_key(data_dir: Path) -> bytes:
    """The server's signing key, created (readable by the owner only) on first start."""
    path = data_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(KEY_BYTES)
        # O_EXCL: two processes starting at once agree on whichever key was written first.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as file:
            file.write(key)
    if len(key) < KEY_BYTES:
        raise ValueError(f"{path} holds {len(key)} bytes; a signing key needs {KEY_BYTES}")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs small JSON payloads for one purpose, with an expiry."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._key = hmac.new(key, b"mosaic-signing:" + purpose.encode(), hashlib.sha256).digest()

    def sign(self, payload: dict[str, Any], ttl_s: float, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + ttl_s)
        body = _b64(json.dumps({"p": payload, "e": expires}, separators=(",", ":")).encode())
        return body + "." + _b64(self._mac(body))

    def verify(self, token: str, now: float | None = None) -> dict[str, Any] | None:
        """The payload, or None for anything forged, altered, expired or malformed."""
        if not isinstance(token, str) or len(token) > 4096 or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            if not hmac.compare_digest(_unb64(mac), self._mac(body)):
                return None
            decoded = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(decoded, dict) or not isinstance(decoded.get("p"), dict):
            return None
        expires = decoded.get("e")
        if not isinstance(expires, int) or (time.time() if now is None else now) > expires:
            return None
        return decoded["p"]

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
