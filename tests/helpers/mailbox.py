"""A real SMTP server on loopback that keeps the mail Mosaic sends, and what tests read in it.

Mail tests go through the same path as production mail (a login, optionally TLS) so that what
is tested is what an operator's relay would see; the tests then read the mail and follow its
link as a person would.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers.server import free_port

SMTP_USER = "mosaic-mailer"
SMTP_PASSWORD = "smtp-secret-7c1f0e"
LINK = re.compile(r"(http://\S+/verify#(\S+))")


class Mailbox:
    """An SMTP server on loopback that accepts mail after a login and keeps it.

    ``tls``: None (a login in clear over loopback), "starttls" or "smtps", with a throwaway
    certificate that the Mosaic under test trusts through ``SSL_CERT_FILE``."""

    def __init__(
        self, tls: str | None = None, certificate: tuple[Path, Path] | None = None
    ) -> None:
        self.port = free_port()
        self.tls = tls
        self.messages: list[EmailMessage] = []
        # aiosmtpd only counts STARTTLS as TLS: behind smtps it would hide AUTH otherwise.
        options: dict[str, object] = {"auth_require_tls": tls == "starttls"}
        if tls is not None:
            assert certificate is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*certificate)
            if tls == "starttls":
                options |= {"tls_context": context, "require_starttls": True}
            else:
                options |= {"ssl_context": context}
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            **options,  # type: ignore[arg-type]
        )

    @property
    def url(self) -> str:
        scheme = {None: "smtp", "starttls": "smtp+starttls", "smtps": "smtps"}[self.tls]
        return f"{scheme}://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}"

    @staticmethod
    def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while len(self.to(address)) < count:
            assert time.monotonic() < deadline, f"no mail #{count} for {address}"
            await asyncio.sleep(0.05)
        return self.to(address)[count - 1]


def link_in(message: EmailMessage) -> tuple[str, str]:
    """(the link, its token) in a verification mail."""
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1), found.group(2)
