"""Server settings, from command-line flags or ``MOSAIC_*`` environment variables.

Every flag of ``mosaic serve`` has an environment twin (``--data-dir`` ↔ ``MOSAIC_DATA_DIR``),
so a systemd unit or a container needs no wrapper script. Flags win over the environment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mosaic.event_loop import CHOICES


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _workers(text: str) -> int:
    """A count of worker processes, or ``auto``: one per core."""
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    count = int(text)
    if count < 1:
        raise ValueError(f"not a number of workers: {text!r}")
    return count


class _Refused(argparse.ArgumentTypeError, ValueError):
    """A value refused with a message of its own: argparse prints it as it is (not "invalid
    int value"), and the environment's path sees the ValueError every bad setting raises."""


def _capacity(text: str) -> int:
    """Media participants per worker: a whole number, at least 1 (0 would place nobody)."""
    try:
        count = int(text)
    except ValueError:
        raise _Refused(f"not a number of participants: {text!r}") from None
    if count < 1:
        raise _Refused(f"must be at least 1 participant, not {count}")
    return count


# Media participants a worker takes before a meeting spreads to another worker. From the
# measured cost (docs/capacity.md, "Cores, workers, machines"): 30 us of server CPU per
# forwarded packet and ~400 packets/s forwarded to a participant of the fleet's meeting mix
# make 1.2 % of a core each, so 50 participants fill the 60 % of a core a worker may use at
# peak. A participant of a large meeting (49 thumbnails at ~15 packets/s of which ~20 cameras
# on, six voices at 50) receives ~600 packets/s at the large meetings' marginal 10-17 us: 50
# of them are 30-50 % of a core, inside the same budget (with full pages of 49 cameras on,
# operators set 25: docs/capacity.md). The fleet is sized at 50 per core: a meeting spreading
# past it is what keeps every worker at its budget.
DEFAULT_WORKER_CAPACITY = 50


def _event_loop(text: str) -> str:
    """One of `mosaic.event_loop.CHOICES`."""
    choice = text.strip().lower()
    if choice not in CHOICES:
        raise _Refused(f"not an event loop: {text!r} (asyncio or uvloop)")
    return choice


def _windows(text: str) -> list[tuple[float, int]]:
    """``10:12,60:40`` → [(10.0, 12), (60.0, 40)]."""
    windows = []
    for part in _csv(text):
        seconds, _, guests = part.partition(":")
        windows.append((float(seconds), int(guests)))
    if not windows or any(seconds <= 0 or guests < 1 for seconds, guests in windows):
        raise ValueError(f"not SECONDS:GUESTS pairs: {text!r}")
    return windows


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=8080, metadata={"help": "HTTP port", "parse": int})
    data_dir: Path = field(
        default=Path("data"),
        metadata={"help": "where the SQLite database and keys live", "parse": Path},
    )
    public_url: str | None = field(
        default=None,
        metadata={"help": "URL people use to reach this server (default http://HOST:PORT)"},
    )
    database_url: str | None = field(
        default=None, metadata={"help": "SQLAlchemy URL (default: SQLite in the data directory)"}
    )
    media_addresses: list[str] = field(
        default_factory=list,
        metadata={
            "help": "comma-separated local IP addresses for media (default: every interface,"
            " loopback included)",
            "parse": _csv,
        },
    )
    public_ips: list[str] = field(
        default_factory=list,
        metadata={
            "help": "addresses to announce for media (a public IP in front of a NAT that maps"
            " the same ports); repeat the flag or separate them with commas",
            "parse": _csv,
            "alias": "--public-ip",
        },
    )
    udp_ports: str | None = field(
        default=None,
        metadata={"help": "UDP port range for media, e.g. 50000-50199 (default: any port)"},
    )
    turn_urls: list[str] = field(
        default_factory=list,
        metadata={
            "help": "TURN URLs handed to clients, e.g. turn:turn.example.org:3478?transport=udp;"
            " repeat the flag or separate them with commas",
            "parse": _csv,
            "alias": "--turn-url",
        },
    )
    turn_secret: str | None = field(
        default=None,
        metadata={"help": "coturn static-auth-secret, to hand out short-lived credentials"},
    )
    turn_ttl_s: int = field(
        default=4 * 3600,
        metadata={"help": "how long a TURN credential stays valid, in seconds", "parse": int},
    )
    tls_cert: Path | None = field(
        default=None, metadata={"help": "TLS certificate (PEM) to serve HTTPS/WSS", "parse": Path}
    )
    tls_key: Path | None = field(
        default=None, metadata={"help": "TLS private key (PEM)", "parse": Path}
    )
    trusted_proxies: list[str] = field(
        default_factory=list,
        metadata={
            "help": "comma-separated addresses of reverse proxies whose X-Forwarded-For and"
            " X-Forwarded-Proto are believed",
            "parse": _csv,
        },
    )
    require_passcode: bool = field(
        default=False,
        metadata={"help": "forbid hosts to turn passcodes off", "parse": _bool},
    )
    require_waiting_room: bool = field(
        default=False,
        metadata={"help": "forbid hosts to turn the waiting room off", "parse": _bool},
    )
    require_e2ee: bool = field(
        default=False,
        metadata={
            "help": "every meeting end-to-end encrypted: new ones by default, and hosts may not"
            " turn it off",
            "parse": _bool,
        },
    )
    join_rate_per_minute: float = field(
        default=120.0,
        metadata={
            "help": "join and sign-in attempts allowed per client address per minute (failures"
            " also back off exponentially)",
            "parse": float,
        },
    )
    join_free_failures: int = field(
        default=5,
        metadata={
            "help": "wrong passcodes or unknown meetings forgiven per client address before"
            " each further one doubles its wait",
            "parse": int,
        },
    )
    join_flood_windows: list[tuple[float, int]] = field(
        default_factory=lambda: [(10.0, 12), (60.0, 40), (600.0, 150)],
        metadata={
            "help": "join-flood defence: SECONDS:GUESTS pairs, comma-separated; that many guests"
            " admitted within that many seconds turn the waiting room on and alert the hosts",
            "parse": _windows,
        },
    )
    websockets_per_address: int = field(
        default=20,
        metadata={
            "help": "signaling WebSockets one client address (IPv6: one /64) may hold open;"
            " more are closed with code 4429",
            "parse": int,
        },
    )
    join_deadline_s: float = field(
        default=10.0,
        metadata={
            "help": "seconds a new WebSocket has to join or resume a meeting before it is"
            " closed (code 4408)",
            "parse": float,
        },
    )
    resume_grace_s: float = field(
        default=15.0,
        metadata={
            "help": "seconds a participant whose connection dropped keeps its place (and tile)"
            " to come back with its resume token, before the others see it leave",
            "parse": float,
        },
    )
    signups_per_hour: float = field(
        default=20.0,
        metadata={
            "help": "accounts that may be created per client address per hour (a burst of as"
            " many, then an even pace)",
            "parse": float,
        },
    )
    smtp_url: str | None = field(
        default=None,
        metadata={
            "help": "mail server for address-verification links: smtp://user:pass@host:port,"
            " smtp+starttls://... or smtps://... (without it, the admin verifies accounts)"
        },
    )
    smtp_from: str | None = field(
        default=None,
        metadata={"help": "sender address of those mails (default: mosaic@ the public host)"},
    )
    audit_retention_days: int = field(
        default=30, metadata={"help": "days a meeting's security events are kept", "parse": int}
    )
    redis_url: str | None = field(
        default=None,
        metadata={
            "help": "Redis URL (redis://host:port/db): cluster mode, where workers on this and"
            " other machines share live state and meetings (default: one process, no Redis)"
        },
    )
    workers: int = field(
        default=1,
        metadata={
            "help": "worker processes sharing the HTTP port, or auto (one per core); more than"
            " one needs --redis-url",
            "parse": _workers,
        },
    )
    worker_capacity: int = field(
        default=DEFAULT_WORKER_CAPACITY,
        metadata={
            "help": "media participants a worker takes before a meeting spreads its media to"
            " another worker (a soft limit: when all are full the least loaded takes more);"
            f" only meaningful with --redis-url (default {DEFAULT_WORKER_CAPACITY}, from the"
            " measured per-core capacity: docs/capacity.md)",
            "parse": _capacity,
        },
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    log_format: str = field(
        default="text", metadata={"help": "text, or json (one object a line, with correlation ids)"}
    )
    event_loop: str = field(
        default="asyncio",
        metadata={
            "help": "asyncio (the standard library's) or uvloop (less CPU per packet; see"
            " docs/operations.md before choosing it)",
            "parse": _event_loop,
        },
    )

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'mosaic.db'}"


def _parse(spec: Any) -> Callable[[str], Any]:
    return spec.metadata.get("parse", str)


def env_name(name: str) -> str:
    return "MOSAIC_" + name.upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting; its default comes from the environment at parse time.
    A list setting may be given several times (``--public-ip A --public-ip B``), each value
    comma-separated or not."""
    for spec in fields(Settings):
        flags = ["--" + spec.name.replace("_", "-")]
        if "alias" in spec.metadata:
            flags.append(spec.metadata["alias"])
        parse = _parse(spec)
        parser.add_argument(
            *flags,
            dest=spec.name,
            type=parse,
            action="extend" if parse is _csv else "store",
            default=None,
            help=f"{spec.metadata.get('help', '')} [{env_name(spec.name)}]",
        )


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        value = getattr(args, spec.name, None)
        if value is None and env_name(spec.name) in environ:
            value = _parse(spec)(environ[env_name(spec.name)])
        if value is not None:
            values[spec.name] = value
    return Settings(**values)
