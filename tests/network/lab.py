"""Test hosts on one machine: network namespaces joined by a veth pair.

    [server ns] 10.77.0.1 ==veth== 10.77.0.2 [client ns]

The server's "public" address 10.77.9.9 is NATed (nftables DNAT in the server namespace) to
10.77.0.1, as a cloud VM's public IP is mapped to its private one. Every address lives inside
these namespaces, which the test creates and removes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

SERVER_IP = "10.77.0.1"
CLIENT_IP = "10.77.0.2"
PUBLIC_IP = "10.77.9.9"


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root (CI runs as root)"
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            return f"needs {tool}"
    return None


def run(*command: str, input: str | None = None) -> None:
    subprocess.run(command, check=True, input=input, text=True, capture_output=True)


class Lab:
    def __init__(self, tag: str) -> None:
        self.server = f"mosaic-srv-{tag}"
        self.client = f"mosaic-cli-{tag}"
        self.veth = (f"msrv{tag}"[:15], f"mcli{tag}"[:15])

    def __enter__(self) -> Lab:
        try:
            self._build()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _build(self) -> None:
        run("ip", "netns", "add", self.server)
        run("ip", "netns", "add", self.client)
        run("ip", "link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1])
        run("ip", "link", "set", self.veth[0], "netns", self.server)
        run("ip", "link", "set", self.veth[1], "netns", self.client)
        for ns, dev, ip in (
            (self.server, self.veth[0], SERVER_IP),
            (self.client, self.veth[1], CLIENT_IP),
        ):
            self.ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", dev)
            self.ns(ns, "ip", "link", "set", dev, "up")
            self.ns(ns, "ip", "link", "set", "lo", "up")
        self.ns(self.client, "ip", "route", "add", f"{PUBLIC_IP}/32", "via", SERVER_IP)
        self.nft(
            self.server,
            "table ip nat {\n"
            "  chain prerouting {\n"
            "    type nat hook prerouting priority -100;\n"
            f"    ip daddr {PUBLIC_IP} dnat to {SERVER_IP}\n"
            "  }\n"
            "}\n",
        )
        return self

    def __exit__(self, *_: object) -> None:
        for ns in (self.server, self.client):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)

    def ns(self, namespace: str, *command: str) -> None:
        run("ip", "netns", "exec", namespace, *command)

    def nft(self, namespace: str, rules: str) -> None:
        run("ip", "netns", "exec", namespace, "nft", "-f", "-", input=rules)

    def flush_filter(self, namespace: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", "lab_filter"],
            check=False,
            capture_output=True,
        )

    def block(self, namespace: str, *rules: str) -> None:
        """Drop traffic matching nft expressions (``udp``, ``ip daddr X udp``...)."""
        self.flush_filter(namespace)
        body = "\n".join(f"{rule} drop" for rule in rules)
        self.nft(
            namespace,
            "table inet lab_filter {\n"
            "  chain output {\n"
            "    type filter hook output priority 0; policy accept;\n"
            '    oif "lo" accept\n'
            f"    {body}\n"
            "  }\n"
            "}\n",
        )

    def popen(
        self, namespace: str, command: Sequence[str], **kwargs: object
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            ["ip", "netns", "exec", namespace, *command], text=True, **kwargs
        )


def coturn_config(directory: Path, secret: str) -> Path:
    config = directory / "turnserver.conf"
    config.write_text(
        "\n".join(
            [
                f"listening-ip={SERVER_IP}",
                f"relay-ip={SERVER_IP}",
                "listening-port=3478",
                "use-auth-secret",
                f"static-auth-secret={secret}",
                "realm=mosaic.test",
                f"allowed-peer-ip={SERVER_IP}",
                "no-tls",
                "no-dtls",
                "no-cli",
                "fingerprint",
                "min-port=49160",
                "max-port=49200",
                "log-file=stdout",
                "simple-log",
            ]
        )
        + "\n"
    )
    return config
