"""Runs a real `mosaic serve` in a subprocess, as a user would, on a free loopback port."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.servers import ServerProcess, free_port

__all__ = ["MosaicServer", "database_bytes", "free_port"]


class MosaicServer(ServerProcess):
    name = "mosaic serve"
    max_output_lines = None  # tests search the whole log (for secrets, for errors)

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.args = args
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}

    def start(self, timeout: float = 30.0) -> MosaicServer:
        command = [
            sys.executable, "-m", "mosaic", "serve",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--media-addresses", "127.0.0.1",
            *self.args,
        ]  # fmt: skip
        self._spawn(command, "Mosaic is running at", timeout, self.env)
        return self


def database_bytes(server: MosaicServer) -> bytes:
    """The database as a thief would copy it: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in Path(server.data_dir).glob("mosaic.db*"))
