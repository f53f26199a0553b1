"""The import rules of docs/architecture.md, enforced: every module's syntax tree is read
(nothing is imported) and each ``import`` checked, lazy and type-checking ones included.

- `mosaic.domain` imports only the standard library and pydantic: the rules stay pure;
- `mosaic.media` never imports `mosaic.api`, `mosaic.store` or `mosaic.signaling`; within it
  `wire` imports no other media package;
- the Python client (`mosaic.client`) and the bots (`mosaic.bots`, built on the client) never
  import the server: only themselves and the shared modules named in `SHARED`;
- `mosaic.recording` (files on disk, the offline render) imports only itself and
  `mosaic.media.wire`: the SFU's recorder drives it, never the other way round;
- the shared modules import only each other (and the standard library, aiortc...);
- `mosaic.cluster` (Redis: registry, placement, bus) imports only itself, `mosaic.domain`,
  `mosaic.security` and `mosaic.tasks` (and the `redis` package); `mosaic.signaling`,
  `mosaic.api` and the top-level modules may import it, the media, domain, store, security,
  rtc, client, bots and recording packages never do: the single process never needs Redis.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mosaic"

# What the client, the bots and the server share; none of it is a server module. The bridge
# to aiortc/aioice (`mosaic.rtc`), the pure wire formats it and the client read
# (`mosaic.media.wire`), and the background-task set everyone keeps (`mosaic.tasks`).
SHARED = ("mosaic.rtc", "mosaic.media.wire", "mosaic.tasks")
DOMAIN_THIRD_PARTY = frozenset({"pydantic", "pydantic_core", "typing_extensions"})
CLUSTER_IMPORTS = ("mosaic.cluster", "mosaic.domain", "mosaic.security", "mosaic.tasks")
NEVER_CLUSTER = (
    "mosaic.media",
    "mosaic.store",
    "mosaic.security",
    "mosaic.rtc",
    "mosaic.client",
    "mosaic.bots",
    "mosaic.recording",
)


def _within(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``module`` imports, relative imports resolved; ``from x import y`` counts
    as ``x.y`` as well when ``y`` may be a module (it is checked like one)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if origin == "__future__":
                continue
            found.add(origin)
            if origin.startswith("mosaic"):
                found |= {f"{origin}.{alias.name}" for alias in node.names}
    return found


def rule_broken(importer: str, name: str) -> str | None:
    """The rule that ``importer`` importing ``name`` breaks, if any."""
    top = name.split(".", maxsplit=1)[0]
    ours = top == "mosaic"
    if _within(importer, ["mosaic.domain"]):
        pure = (
            _within(name, ["mosaic.domain"])
            if ours
            else (top in sys.stdlib_module_names or top in DOMAIN_THIRD_PARTY)
        )
        return None if pure else "domain imports only the standard library and pydantic"
    if not ours or name == "mosaic":
        return None
    if _within(importer, ["mosaic.media"]) and _within(
        name, ["mosaic.api", "mosaic.store", "mosaic.signaling"]
    ):
        return "media never imports api, store or signaling"
    in_media = _within(name, ["mosaic.media"])
    if _within(importer, ["mosaic.media.wire"]) and in_media:
        return None if _within(name, ["mosaic.media.wire"]) else "wire imports no other media"
    if _within(importer, ["mosaic.recording"]) and not _within(
        name, ["mosaic.recording", "mosaic.media.wire"]
    ):
        return "recording imports only itself and media/wire"
    if _within(importer, ["mosaic.client", "mosaic.bots"]):
        allowed = ["mosaic.client", *SHARED]
        if _within(importer, ["mosaic.bots"]):
            allowed.append("mosaic.bots")
        return None if _within(name, allowed) else "client and bots never import the server"
    if _within(importer, SHARED) and not _within(name, SHARED):
        return "shared modules import only shared modules"
    if _within(importer, ["mosaic.cluster"]) and not _within(name, CLUSTER_IMPORTS):
        return "cluster imports only itself, domain, security and tasks"
    if _within(name, ["mosaic.cluster"]) and _within(importer, NEVER_CLUSTER):
        return "only signaling, api and the top level import cluster"
    return None


def broken_rules(graph: dict[str, set[str]]) -> list[str]:
    """Each import that breaks a rule, as "importer -> imported (rule)"."""
    return [
        f"{importer} -> {name} ({why})"
        for importer, imported in sorted(graph.items())
        for name in sorted(imported)
        if (why := rule_broken(importer, name)) is not None
    ]


def package_graph() -> dict[str, set[str]]:
    return {
        module_name(path): imports_of(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
        )
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_every_module_keeps_the_import_rules() -> None:
    assert broken_rules(package_graph()) == []


def test_the_scan_sees_real_imports() -> None:
    """A rule that reads nothing passes anything: the graph holds what the code imports."""
    graph = package_graph()
    assert "mosaic.rtc.aiortc_bridge" in graph["mosaic.client.taps"]
    assert "mosaic.media.wire.rtp" in graph["mosaic.media.sfu.negotiation"]
    assert "pydantic" in set().union(
        *(v for k, v in graph.items() if k.startswith("mosaic.domain"))
    )


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("mosaic.domain.synthetic", "from mosaic.store import db\n"),
        ("mosaic.domain.synthetic", "import sqlalchemy\n"),
        ("mosaic.media.sfu.synthetic", "from mosaic.signaling.room import Room\n"),
        ("mosaic.media.sfu.synthetic", "def f():\n    import mosaic.api.meetings\n"),
        ("mosaic.media.wire.synthetic", "from mosaic.media.sfu.up import UpTrack\n"),
        ("mosaic.media.wire.synthetic", "from ..sfu import negotiation\n"),
        ("mosaic.client.synthetic", "from mosaic.signaling.protocol import SUBPROTOCOL\n"),
        ("mosaic.client.synthetic", "from mosaic.media.sfu.router import Router\n"),
        ("mosaic.bots.synthetic", "from mosaic.services import Services\n"),
        ("mosaic.rtc.synthetic", "from mosaic.media.sfu import up\n"),
        ("mosaic.recording.synthetic", "from mosaic.media.sfu.up import UpStream\n"),
        ("mosaic.cluster.synthetic", "from mosaic.signaling.room import Room\n"),
        ("mosaic.cluster.synthetic", "from mosaic.store.db import Database\n"),
        ("mosaic.media.sfu.synthetic", "from mosaic.cluster.link import RedisLink\n"),
        ("mosaic.security.synthetic", "from mosaic.cluster import keys\n"),
    ],
)
def test_a_synthetic_violation_is_caught(module: str, source: str) -> None:
    graph = package_graph()
    graph[module] = imports_of(source, module)
    assert broken_rules(graph) != []


def test_allowed_imports_pass() -> None:
    graph = {
        "mosaic.domain.synthetic": imports_of(
            "import enum\nfrom pydantic import BaseModel\nfrom .roster import Role\n",
            "mosaic.domain.synthetic",
        ),
        "mosaic.client.synthetic": imports_of(
            "import aiortc\nfrom mosaic.rtc.aiortc_bridge import PeerConnection\n"
            "from mosaic.media.wire.rtp import is_rtcp\nfrom mosaic.tasks import TaskSet\n",
            "mosaic.client.synthetic",
        ),
        "mosaic.bots.synthetic": imports_of(
            "from mosaic.client import join\nfrom mosaic.bots.base import BaseBot\n",
            "mosaic.bots.synthetic",
        ),
        "mosaic.cluster.synthetic": imports_of(
            "import redis.asyncio\nfrom mosaic.cluster import keys\nfrom mosaic.tasks import"
            " TaskSet\nfrom mosaic.security.throttle import Throttle\n",
            "mosaic.cluster.synthetic",
        ),
        "mosaic.signaling.synthetic": imports_of(
            "from mosaic.cluster.placement import Placement\n", "mosaic.signaling.synthetic"
        ),
    }
    assert broken_rules(graph) == []


def test_the_client_speaks_the_servers_protocol_version() -> None:
    """The client names the protocol version itself rather than import the server's module."""
    from mosaic.client.signaling import SUBPROTOCOL as CLIENT
    from mosaic.signaling.protocol import SUBPROTOCOL as SERVER

    assert CLIENT == SERVER
