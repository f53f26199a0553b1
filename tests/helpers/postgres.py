"""A throwaway PostgreSQL server for storage tests (Debian's binaries, run as `postgres`)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.helpers.server import free_port


def unavailable() -> str | None:
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL is not installed (make test installs it)"
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return "starting PostgreSQL needs root (to run it as the postgres user)"
    return None


class Postgres:
    def __init__(self) -> None:
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="mosaic-pg-"))
        self.port = free_port()
        self.url = f"postgresql://mosaic@127.0.0.1:{self.port}/mosaic"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                       capture_output=True)  # fmt: skip

    def start(self) -> Postgres:
        shutil.chown(self.root, "postgres")
        data = self.root / "data"
        self._as_postgres(str(self.bin / "initdb"), "-D", str(data), "-U", "mosaic",
                          "--auth=trust", "-E", "UTF8")  # fmt: skip
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"), "-w",
            "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start",
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                break
            time.sleep(0.2)
        self._as_postgres(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", "mosaic", "mosaic")  # fmt: skip
        return self

    def stop(self) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D",
             str(self.root / "data"), "-m", "fast", "stop"],
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
