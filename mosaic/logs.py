"""Logging: text for people, JSON for machines, both with correlation ids and no secrets.

A log line carries the request or participant it is about (set as context variables by the
HTTP middleware and the signaling session), so that an operator can follow one person's join
through the logs. No passcode, token, chat text or e-mail address is ever a log argument, and
libraries that would print frames or SQL parameters are held at WARNING.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
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
