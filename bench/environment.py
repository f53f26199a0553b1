"""Where the benchmarks run: a network namespace of their own when they can have one.

Janus (libnice) never gathers ICE candidates on a loopback interface, whatever its enforce
list says, and the benchmarks must not send traffic to any address outside this machine's
loopback or a namespace of their own. So, run as root, ``python -m bench`` re-executes itself
under ``unshare --net``: a fresh network namespace holding ``lo`` and a veth pair whose one
end, ``bench0``, has 10.199.0.1. Both servers and every bot use that address for media (the
kernel delivers it locally, exactly as it delivers 127.0.0.1); HTTP and signaling stay on
127.0.0.1. The namespace disappears with the process. Without root, Mosaic runs on 127.0.0.1
and the Janus half of the comparison is skipped, loudly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bench.servers import janus_installed
from mosaic.bots.chromium import CHROMIUM

NETNS_FLAG = "--in-netns"
INTERFACE = "bench0"
PEER_INTERFACE = "bench1"
MEDIA_ADDRESS = "10.199.0.1"


@dataclass(frozen=True)
class Environment:
    media_address: str  # where servers and bots put their media
    janus_interface: str | None  # None: Janus cannot run here (see `janus_problem`)
    janus_problem: str | None
    chromium: str | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def can_unshare() -> bool:
    return (
        os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("ip") is not None
    )


def reexec_in_namespace(argv: list[str]) -> None:
    """Replace this process by itself inside a new network namespace (never returns)."""
    command = ["unshare", "--net", "--", sys.executable, "-m", "bench", NETNS_FLAG, *argv]
    sys.stdout.flush()
    os.execvp("unshare", command)


def set_up_namespace() -> None:
    """Inside the new namespace: loopback up, and the veth pair with the media address."""
    for command in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "link", "add", INTERFACE, "type", "veth", "peer", "name", PEER_INTERFACE],
        ["ip", "addr", "add", f"{MEDIA_ADDRESS}/24", "dev", INTERFACE],
        ["ip", "link", "set", INTERFACE, "up"],
        ["ip", "link", "set", PEER_INTERFACE, "up"],
    ):
        subprocess.run(command, check=True, capture_output=True)


def describe(in_namespace: bool) -> Environment:
    chromium = CHROMIUM if os.path.exists(CHROMIUM) else None
    if not janus_installed():
        problem = (
            "janus is not installed (scripts/system-deps.sh installs Debian's package as root)"
        )
        return Environment(
            "127.0.0.1" if not in_namespace else MEDIA_ADDRESS, None, problem, chromium
        )
    if not in_namespace:
        problem = (
            "Janus gathers no candidates on loopback: it needs the benchmark's own network"
            " namespace, which takes root (unshare and ip)"
        )
        return Environment("127.0.0.1", None, problem, chromium)
    return Environment(MEDIA_ADDRESS, INTERFACE, None, chromium)
