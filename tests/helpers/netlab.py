"""A bad network for one browser's connection, made and changed during a test.

Inside a namespace of the test's own (tests/helpers/netns.py) every packet between the server
and the browsers crosses ``lo``, so one person's link is told from another's by the UDP ports
of their connection: what the server sends *to* a port is that browser's downlink, what a port
sends is its uplink. Two tools, both in the kernel here (this kernel has no netem):

- **shaping** with tc: an HTB class per shaped link, with a short byte FIFO under it, so a link
  of 200 kbit/s queues a little (delay grows, as on a real bottleneck, which a delay-based
  estimator must notice) and then drops what does not fit; everything else goes through a
  10 Gbit/s default class untouched;
- **random loss** with nftables (``numgen random``): loss without congestion, the kind a NACK
  repairs and an estimator must not mistake for a full link.

Rates and loss change in place (``tc class change``, a chain flush), so a test squeezes and
restores one link in the middle of a meeting in a few milliseconds.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["down", "up"]
DEVICE = "lo"
UNLIMITED_KBPS = 10_000_000
ROOT = "1:"
DEFAULT_CLASS = 99
TABLE = "mosaic_lab"
# How much a shaped link queues before it drops, in time at its rate: a home router's buffer is
# often far larger (bufferbloat), but a long queue only delays the test's verdict.
QUEUE_SECONDS = 0.5
MIN_QUEUE_BYTES = 4_000  # at least three full-size packets, or a small link only drops


# A fresh table (an old one of the same name emptied first): one input chain whose rules jump
# to a chain per link, so a link's loss is changed by flushing its own chain. Input, not output:
# a packet dropped on output fails the sender's sendto with EPERM, which no real network does.
RULES = f"""table inet {TABLE} {{}}
delete table inet {TABLE}
table inet {TABLE} {{
    chain input {{
        type filter hook input priority 0; policy accept;
    }}
}}
"""


def _run(*command: str, stdin: str | None = None) -> None:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


def _queue_bytes(kbps: int) -> int:
    return max(MIN_QUEUE_BYTES, int(kbps * 1000 / 8 * QUEUE_SECONDS))


@dataclass
class Link:
    """One browser connection's link in one direction: the ports it uses, its class, its rules."""

    ports: tuple[int, ...]
    direction: Direction
    classid: int
    kbps: int = UNLIMITED_KBPS
    loss_percent: float = 0.0

    @property
    def match(self) -> str:
        """The port field the kernel matches: what goes *to* the browser is its downlink."""
        return "dport" if self.direction == "down" else "sport"


@dataclass
class NetLab:
    """Per-port shaping and loss on ``lo`` of the namespace the calling thread is in.

    Use as a context manager: entering installs the root qdisc and the nftables table, leaving
    removes both (the namespace is deleted afterwards anyway; removing keeps a reused one clean).
    """

    links: list[Link] = field(default_factory=list)

    def __enter__(self) -> NetLab:
        _run(
            "tc",
            "qdisc",
            "replace",
            "dev",
            DEVICE,
            "root",
            "handle",
            ROOT,
            "htb",
            "default",
            str(DEFAULT_CLASS),
            "r2q",
            "100",
        )
        _run(
            "tc",
            "class",
            "add",
            "dev",
            DEVICE,
            "parent",
            ROOT,
            "classid",
            f"1:{DEFAULT_CLASS}",
            "htb",
            "rate",
            f"{UNLIMITED_KBPS}kbit",
        )
        _run("nft", "-f", "-", stdin=RULES)
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run(
            ["tc", "qdisc", "del", "dev", DEVICE, "root"], check=False, capture_output=True
        )
        subprocess.run(["nft", "delete", "table", "inet", TABLE], check=False, capture_output=True)

    def link(self, ports: list[int] | tuple[int, ...], direction: Direction) -> Link:
        """A link for these local ports of a browser's connection, unshaped until told."""
        classid = 10 + len(self.links)
        made = Link(tuple(sorted(set(ports))), direction, classid)
        queue = _queue_bytes(UNLIMITED_KBPS)
        _run(
            "tc",
            "class",
            "add",
            "dev",
            DEVICE,
            "parent",
            ROOT,
            "classid",
            f"1:{classid}",
            "htb",
            "rate",
            f"{UNLIMITED_KBPS}kbit",
        )
        _run(
            "tc",
            "qdisc",
            "add",
            "dev",
            DEVICE,
            "parent",
            f"1:{classid}",
            "handle",
            f"{classid}:",
            "bfifo",
            "limit",
            str(min(queue, 10_000_000)),
        )
        for port in made.ports:
            _run(
                "tc",
                "filter",
                "add",
                "dev",
                DEVICE,
                "parent",
                ROOT,
                "protocol",
                "ip",
                "prio",
                "1",
                "u32",
                "match",
                "ip",
                "protocol",
                "17",
                "0xff",
                "match",
                "ip",
                made.match,
                str(port),
                "0xffff",
                "flowid",
                f"1:{classid}",
            )
        _run("nft", "add", "chain", "inet", TABLE, f"link{classid}")
        rule = f"udp {made.match} {{ {', '.join(map(str, made.ports))} }} jump link{classid}"
        _run("nft", "add", "rule", "inet", TABLE, "input", *rule.split())
        self.links.append(made)
        return made

    def shape(self, link: Link, kbps: int | None) -> None:
        """Carry at most ``kbps`` (None: no limit) on the link, from now on."""
        link.kbps = UNLIMITED_KBPS if kbps is None else kbps
        # A burst of about two packets: a token bucket with a deep burst would let a whole
        # keyframe through at line rate and hide the squeeze from the estimator.
        burst = ["burst", "3000", "cburst", "3000"] if kbps is not None else []
        _run(
            "tc",
            "class",
            "change",
            "dev",
            DEVICE,
            "parent",
            ROOT,
            "classid",
            f"1:{link.classid}",
            "htb",
            "rate",
            f"{link.kbps}kbit",
            "ceil",
            f"{link.kbps}kbit",
            *burst,
        )
        _run(
            "tc",
            "qdisc",
            "change",
            "dev",
            DEVICE,
            "parent",
            f"1:{link.classid}",
            "handle",
            f"{link.classid}:",
            "bfifo",
            "limit",
            str(min(_queue_bytes(link.kbps), 10_000_000)),
        )

    def lose(self, link: Link, percent: float) -> None:
        """Drop ``percent`` of the link's packets at random (0: none), from now on."""
        link.loss_percent = percent
        _run("nft", "flush", "chain", "inet", TABLE, f"link{link.classid}")
        if percent > 0:
            per_thousand = round(percent * 10)
            _run(
                "nft",
                "add",
                "rule",
                "inet",
                TABLE,
                f"link{link.classid}",
                "numgen",
                "random",
                "mod",
                "1000",
                "<",
                str(per_thousand),
                "drop",
            )

    def restore(self, link: Link) -> None:
        """The link as it was: no limit, no loss."""
        self.shape(link, None)
        self.lose(link, 0)

    def counters(self, link: Link) -> dict[str, int]:
        """Bytes and packets the link's class sent and dropped (for a failing test's message)."""
        done = subprocess.run(
            ["tc", "-s", "class", "show", "dev", DEVICE, "classid", f"1:{link.classid}"],
            capture_output=True,
            text=True,
            check=False,
        )
        words = done.stdout.split()
        try:
            sent = words.index("Sent")
            dropped = words.index("(dropped")
            return {
                "bytes": int(words[sent + 1]),
                "packets": int(words[sent + 3]),
                "dropped": int(words[dropped + 1].rstrip(",")),
            }
        except (ValueError, IndexError):
            return {}
