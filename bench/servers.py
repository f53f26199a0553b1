"""The servers under test, each a subprocess on loopback: Mosaic as `mosaic serve`, Janus as
Debian's ``janus`` with a configuration of our own (VideoRoom and HTTP only, ICE on lo)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.procstat import ProcessSample, sample

JANUS = shutil.which("janus") or "/usr/bin/janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def janus_installed() -> bool:
    return os.path.exists(JANUS) and (JANUS_LIB / "plugins" / "libjanus_videoroom.so").exists()


class ServerProcess:
    """A server subprocess whose output is kept (for failures) and whose /proc is read; tests
    start their `mosaic serve` with it too (tests/helpers/server.py)."""

    name = "server"
    max_output_lines: int | None = 20_000  # a long benchmark's log stays bounded

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def sample(self) -> ProcessSample:
        return sample(self.pid)

    def _spawn(self, command: list[str], ready: str, timeout: float, env: dict[str, str]) -> None:
        # A server started again keeps its earlier log; only this run's lines say it is ready.
        first_line = len(self.output)
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(ready in line for line in self.output[first_line:]):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.output[-40:]))

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        limit = self.max_output_lines
        for line in self.process.stdout:
            if limit is None or len(self.output) < limit:
                self.output.append(line)

    @property
    def log(self) -> str:
        return "".join(self.output)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a service manager would; returns the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(2)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MosaicProcess(ServerProcess):
    """`python -m mosaic serve` with the throttles lifted (every bot comes from 127.0.0.1)."""

    name = "mosaic"

    def __init__(
        self,
        data_dir: Path,
        media_address: str = "127.0.0.1",
        *,
        event_loop: str | None = None,
        extra_args: tuple[str, ...] = (),
        port: int | None = None,
    ) -> None:
        super().__init__()
        self.media_address = media_address
        # ``--event-loop``: None for the server's default (see `mosaic.event_loop`).
        self.event_loop = event_loop
        # More flags (the cluster benchmark: --redis-url, --workers).
        self.extra_args = extra_args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir

    def start(self, timeout: float = 30.0) -> MosaicProcess:
        command = [
            sys.executable, "-m", "mosaic", "serve",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--media-addresses", self.media_address,
            "--join-rate-per-minute", "1000000",
            "--join-free-failures", "1000000",
            "--websockets-per-address", "1000000",
            "--log-level", "warning",
            *(("--event-loop", self.event_loop) if self.event_loop else ()),
            *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._spawn(command, "Mosaic is running at", timeout, env)
        return self


JANUS_CONFIG = """general: {{
    configs_folder = "{folder}"
    plugins_folder = "{lib}/plugins"
    transports_folder = "{lib}/transports"
    events_folder = "{lib}/events"
    loggers_folder = "{lib}/loggers"
    debug_level = 3
    admin_secret = "{secret}"
}}
media: {{
}}
nat: {{
    ice_enforce_list = "{interface}"
}}
plugins: {{
    disable = "{plugins}"
}}
transports: {{
    disable = "{transports}"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
"""

JANUS_HTTP = """general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
"""

OTHER_PLUGINS = (
    "audiobridge duktape echotest lua nosip recordplay sip streaming textroom videocall voicemail"
)
OTHER_TRANSPORTS = "mqtt nanomsg pfunix rabbitmq websockets"


class JanusProcess(ServerProcess):
    """Janus 1.x in the foreground with only the VideoRoom plugin and the HTTP transport, its
    ICE limited to ``lo`` (as Mosaic's is to 127.0.0.1), logging at warnings."""

    name = "janus"

    def __init__(self, interface: str = "lo", folder: Path | None = None) -> None:
        super().__init__()
        self.interface = interface
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/janus"
        self.folder = folder or Path(tempfile.mkdtemp(prefix="janus-"))

    def _configure(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        plugins = ",".join(f"libjanus_{p}.so" for p in OTHER_PLUGINS.split())
        transports = ",".join(f"libjanus_{t}.so" for t in OTHER_TRANSPORTS.split())
        (self.folder / "janus.jcfg").write_text(
            JANUS_CONFIG.format(
                folder=self.folder,
                lib=JANUS_LIB,
                interface=self.interface,
                secret=os.urandom(8).hex(),
                plugins=plugins,
                transports=transports,
            )
        )
        (self.folder / "janus.transport.http.jcfg").write_text(JANUS_HTTP.format(port=self.port))
        (self.folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")

    def start(self, timeout: float = 30.0) -> JanusProcess:
        self._configure()
        command = [JANUS, "-F", str(self.folder), "-C", str(self.folder / "janus.jcfg"), "-o"]
        self._spawn(command, "Starting Meetecho Janus", timeout, dict(os.environ))
        # The transport is up a moment before the plugin takes requests: wait for an answer.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(self.url.rsplit("/", 1)[0] + "/janus/info", timeout=2)
                if reply.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("janus did not answer:\n" + "".join(self.output[-40:]))
