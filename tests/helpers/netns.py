"""A private network namespace for a browser test: the test's thread moves into it.

Firefox gathers no ICE candidate on a machine whose only interface is loopback and that has no
default route (../shared/notes/firefox.md), and a test must not add interfaces or routes to
the machine it runs on. So the test makes a namespace of its own with ``lo``, a veth pair whose
two ends both stay inside, and a default route through it, then moves its own thread there
(``setns``, per thread on Linux). Every socket the thread opens afterwards (the Python client's
WebSocket and ICE sockets, the BiDi connection to Firefox) and every process it starts (``mosaic
serve``, Firefox, Playwright's driver and Chromium) lives in that namespace; 127.0.0.1 there is
not the machine's. Leaving moves the thread back and deletes the namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
VETH_ADDRESS = "10.77.0.1"  # exists only inside the namespace
VETH_GATEWAY = "10.77.0.2"


def unavailable() -> str | None:
    """None if this process can make namespaces, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (make test runs as root in CI)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip (scripts/system-deps.sh installs it)"
    return None


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def private_network(name: str) -> Iterator[str]:
    """Run the body with the calling thread in a fresh namespace named ``name``: ``lo`` up and
    a default route over a veth pair (10.77.0.1 → 10.77.0.2) that leads nowhere."""
    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
    _ip("netns", "add", name)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        inside = ["netns", "exec", name, "ip"]
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "link", "add", "mveth0", "type", "veth", "peer", "name", "mveth1")
        _ip(*inside, "addr", "add", f"{VETH_ADDRESS}/24", "dev", "mveth0")
        _ip(*inside, "link", "set", "mveth0", "up")
        _ip(*inside, "link", "set", "mveth1", "up")
        _ip(*inside, "route", "add", "default", "via", VETH_GATEWAY, "dev", "mveth0")
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield name
        finally:
            _setns(original)
    finally:
        os.close(original)
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
