"""Outgoing mail (``--smtp-url``), for the links that prove an address belongs to someone.

``smtp://user:pass@host:port`` speaks plain SMTP (port 25 by default), ``smtp+starttls://``
upgrades with STARTTLS (587), ``smtps://`` is TLS from the first byte (465). User and password
are percent-decoded. Mail goes out from a background task on a worker thread (the standard
library's ``smtplib``), so a slow or dead mail server never delays an HTTP answer, and the time
a sign-up takes does not tell whether a mail was sent. The URL holds a password: it is never
logged, and delivery failures are logged by kind only, once a minute at most.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from mosaic.tasks import TaskSet

if TYPE_CHECKING:
    from mosaic.config import Settings

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError("the SMTP URL must start with smtp://, smtp+starttls:// or smtps://")
        if not parts.hostname:
            raise ValueError("the SMTP URL names no host")
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=parts.port or _DEFAULT_PORTS[scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __repr__(self) -> str:  # never the password, whatever prints this
        return f"SmtpTarget({self.scheme}://{self.host}:{self.port})"


@dataclass(frozen=True, slots=True)
class Letter:
    to: str
    subject: str
    body: str


class Mailer:
    """Sends letters in the background; ``None`` target means mail is not configured."""

    def __init__(self, target: SmtpTarget, sender: str, sender_name: str = "Mosaic") -> None:
        self._target = target
        self._sender = sender
        self._sender_name = sender_name
        self._tasks = TaskSet()
        self._last_error_log = 0.0
        self.sent = 0
        self.failed = 0

    def send(self, letter: Letter) -> None:
        """Queue a letter and return at once."""
        self._tasks.spawn(self._deliver(letter))

    async def _deliver(self, letter: Letter) -> None:
        try:
            await asyncio.to_thread(self._send_now, letter)
            self.sent += 1
        except (OSError, smtplib.SMTPException) as error:
            self.failed += 1
            now = time.monotonic()
            if now - self._last_error_log > 60.0:
                self._last_error_log = now
                # The kind only: a server's reply may quote the recipient's address.
                log.warning(
                    "could not send mail through %r: %s (%d failed so far)",
                    self._target,
                    type(error).__name__,
                    self.failed,
                )

    def _message(self, letter: Letter) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((self._sender_name, self._sender))
        message["To"] = letter.to
        message["Subject"] = letter.subject
        message["Message-ID"] = make_msgid(domain=self._sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(letter.body)
        return message

    def _send_now(self, letter: Letter) -> None:
        target = self._target
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if target.scheme == "smtps":
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=_TIMEOUT_S, context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=_TIMEOUT_S)
        with client:
            client.ehlo()
            if target.scheme == "smtp+starttls":
                client.starttls(context=context)
                client.ehlo()
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(self._message(letter))

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Let queued letters go out at shutdown, for a few seconds at most."""
        await self._tasks.wait(timeout_s)
        self._tasks.cancel()


def mailer_for(settings: Settings) -> Mailer | None:
    """The instance's mailer, or None without ``--smtp-url``. A malformed URL stops the start
    (a mistyped setting that silently sent nothing would leave every account unverifiable)."""
    if not settings.smtp_url:
        return None
    target = SmtpTarget.parse(settings.smtp_url)
    sender = settings.smtp_from or f"mosaic@{urlsplit(settings.base_url).hostname or 'localhost'}"
    return Mailer(target, sender)
