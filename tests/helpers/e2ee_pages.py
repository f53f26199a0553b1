"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from playwright.async_api import Page


def link_key() -> str:
    """A meeting secret as the host's browser makes it: 32 random bytes, base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def with_key(join_url: str, key: str) -> str:
    return f"{join_url}{'&' if '#' in join_url else '#'}k={key}"


async def e2ee_state(page: Page) -> dict[str, Any]:
    """What the page's end-to-end encryption holds: epoch, safety code, frames decrypted."""
    return await page.evaluate(  # type: ignore[no-any-return]
        """() => {
            const e = window.mosaicRoom && window.mosaicRoom.e2ee;
            if (!e) return null;
            const now = e.current();
            return {epoch: now ? now.epoch : null, code: e.safetyCode,
                    decoded: e.decoded, failed: e.failed,
                    transform: e.useScriptTransform ? 'script' : 'streams'};
        }"""
    )
