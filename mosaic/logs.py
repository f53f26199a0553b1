"""Logging: text for people, JSON for machines, both with correlation ids and no secrets.

A log line carries the request or participant it is about (set as context variables by the
HTTP middleware and the signaling session), so that an operator can follow one person's join
through the logs. No passcode, token, chat text or e-mail address is ever a log argument, and
libraries that would print frames or SQL parameters are held at WARNING.
"""

from __future__ import annotations

import errno
import json
import logging
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
participant_id: ContextVar[str | None] = ContextVar("participant_id", default=None)
meeting_id: ContextVar[str | None] = ContextVar("meeting_id", default=None)

QUIET_LIBRARIES = (
    "websockets", "aiosqlite", "sqlalchemy", "httpx", "httpcore", "asyncio", "alembic",
    "aioice", "aiortc", "uvicorn",
)  # fmt: skip


def new_request_id() -> str:
    return secrets.token_hex(6)


class _Correlation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.participant_id = participant_id.get()
        record.meeting_id = meeting_id.get()
        return True


# Out of files, buffers or memory: an event a client can cause by the thousand a second.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _about_resources(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, OSError) and error.errno in RESOURCE_ERRNOS:
        return True
    try:
        message = record.getMessage()
    except Exception:
        return False
    # asyncio's accept loop keeps trying after EMFILE (up to the backlog, each time) and
    # schedules as many `_start_serving` retries, which then fail too: the same storm.
    return "out of system resource" in message or "._start_serving(" in message


class ResourceErrors(logging.Filter):
    """Lets through one log line per ``every_s`` about running out of a resource (EMFILE:
    too many open files, ...), without its traceback, saying how many were held back.

    Without it, a server at its file limit logged every failed ``accept()`` with a traceback,
    thousands a second: 135 MB in a minute, filling the disk after the file table."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last = -float("inf")
        self._held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not _about_resources(record):
            return True
        now = time.monotonic()
        if now - self._last < self.every_s:
            self._held_back += 1
            return False
        error = record.exc_info[1] if record.exc_info else None
        summary = f"{record.getMessage()}: {error}" if error else record.getMessage()
        if self._held_back:
            summary += f" ({self._held_back} more like it since the last report)"
        record.msg = summary + f"; reported at most every {self.every_s:g} s"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        self._last = now
        self._held_back = 0
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "participant_id", "meeting_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{key}={value}"
            for key in ("request_id", "participant_id", "meeting_id")
            if (value := getattr(record, key, None))
        ]
        return f"{line} [{' '.join(ids)}]" if ids else line


def configure_logging(level: str, fmt: str = "text") -> None:
    """Mosaic's own loggers at ``level``; libraries at WARNING (uvicorn's start-up lines at
    INFO): below that they print WebSocket frames (passcodes, chat) and SQL parameters."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ResourceErrors())
    handler.addFilter(_Correlation())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("mosaic").setLevel(level.upper())
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
