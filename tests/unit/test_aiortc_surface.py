"""aiortc and aioice are touched below their public API in exactly one module, the bridge
(`mosaic.rtc.aiortc_bridge`), client and bots included: an upgrade that moves an internal is
then found and fixed in one place. This test reads every module of the package and of
bench/ (its syntax tree, nothing is imported) and fails when another one reaches a private
name of theirs.

What counts as a private name of theirs is read from their own sources: every ``_name``
(not ``__dunder__``) they define or use. Outside the bridge a module may not

- read or write ``x._name`` on anything but ``self``/``cls`` when ``_name`` is one of
  theirs, or when Mosaic defines no ``_name`` itself (an attribute Mosaic invents on
  someone else's object, as on an aiortc transceiver, is the same reach below the API);
- use ``self._name`` of theirs in a class that derives from one of theirs without defining
  that ``_name`` itself (an inherited internal);
- do either through ``getattr``/``setattr``/``hasattr``/``delattr`` with a literal name;
- import a private module of theirs or a private name from one.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mosaic"
# The benchmark drives the bots: held to the same rule.
SCANNED = (PACKAGE, ROOT / "bench")
BRIDGE = PACKAGE / "rtc" / "aiortc_bridge.py"
THEIRS = ("aiortc", "aioice")
SELF_NAMES = frozenset({"self", "cls"})
ATTRIBUTE_CALLS = frozenset({"getattr", "setattr", "hasattr", "delattr"})


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__") and len(name) > 1


def _defined_names(tree: ast.AST) -> set[str]:
    """Private names a body of code defines: functions, classes, assignments to plain names
    and to ``self.``/``cls.`` attributes, import aliases."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in SELF_NAMES
        ):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.rpartition(".")[2])
    return {name for name in found if _private(name)}


def _their_private_names() -> frozenset[str]:
    names: set[str] = set()
    for package in THEIRS:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None
        for path in Path(spec.origin).parent.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names |= _defined_names(tree)
            names |= {
                node.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and _private(node.attr)
            }
    return frozenset(names)


THEIR_PRIVATE = _their_private_names()


def _modules() -> Iterator[Path]:
    for folder in SCANNED:
        for path in sorted(folder.rglob("*.py")):
            if path != BRIDGE:
                yield path


def _ours() -> frozenset[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        names |= _defined_names(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(names)


def _is_theirs(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in THEIRS


def _their_imports(tree: ast.AST) -> set[str]:
    """Local names bound to a class or module of aiortc or aioice."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _is_theirs(node.module):
            bound |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            bound |= {
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if _is_theirs(alias.name)
            }
    return bound


def _derives_from_theirs(node: ast.ClassDef, theirs: set[str]) -> bool:
    for base in node.bases:
        root = base
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in theirs:
            return True
    return False


def violations(source: str, where: str, ours: frozenset[str]) -> list[str]:
    """Each reach below aiortc's or aioice's API in one module's source."""
    tree = ast.parse(source)
    ours = ours | _defined_names(tree)
    theirs = _their_imports(tree)
    found: list[str] = []

    def foreign(name: str) -> bool:
        return name in THEIR_PRIVATE or name not in ours

    def check(node: ast.AST, inherited_from_theirs: set[str] | None) -> None:
        if isinstance(node, ast.ClassDef):
            inherited = None
            if _derives_from_theirs(node, theirs):
                inherited = THEIR_PRIVATE - _defined_names(node)
            for child in node.body:
                check(child, inherited)
            return
        if isinstance(node, ast.Attribute) and _private(node.attr):
            target = node.value
            on_self = (isinstance(target, ast.Name) and target.id in SELF_NAMES) or (
                isinstance(target, ast.Call)
                and isinstance(target.func, ast.Name)
                and target.func.id == "super"
            )
            if on_self:
                if inherited_from_theirs is not None and node.attr in inherited_from_theirs:
                    found.append(f"{where}:{node.lineno}: inherited .{node.attr}")
            elif foreign(node.attr):
                found.append(f"{where}:{node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ATTRIBUTE_CALLS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and foreign(node.args[1].value)
        ):
            found.append(f"{where}:{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_theirs(alias.name) and any(_private(p) for p in alias.name.split(".")):
                    found.append(f"{where}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and _is_theirs(node.module):
            assert node.module is not None
            if any(_private(part) for part in node.module.split(".")) or any(
                _private(alias.name) for alias in node.names
            ):
                found.append(f"{where}:{node.lineno}: from {node.module} import ...")
        for child in ast.iter_child_nodes(node):
            check(child, inherited_from_theirs)

    check(tree, None)
    return found


def test_only_the_bridge_reaches_below_aiortc_and_aioice() -> None:
    ours = _ours()
    found = [
        hit
        for path in _modules()
        for hit in violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), ours)
    ]
    assert found == [], "aiortc/aioice internals outside mosaic/rtc/aiortc_bridge.py"


def test_the_bridge_itself_is_what_reaches_below() -> None:
    """The scan sees what the bridge does (so a clean result elsewhere means something)."""
    found = violations(BRIDGE.read_text(encoding="utf-8"), "bridge", _ours())
    assert any("._handle_rtp_packet" in hit for hit in found)
    assert any("._connection" in hit for hit in found)


@pytest.mark.parametrize(
    "source",
    [
        # A client wrapping a receiver's private method (what mosaic/client/taps.py once did).
        "def tap(receiver):\n    receiver._handle_rtp_packet = print\n",
        # A bot reaching the ICE connection under a transport.
        "def connection(transport):\n    return transport.transport._connection\n",
        # An attribute of our own invented on an aiortc object.
        "def label(transceiver):\n    transceiver._mosaic_source = 'camera'\n",
        "def label(transceiver):\n    return getattr(transceiver, '_mosaic_source', None)\n",
        # An internal inherited from one of their classes.
        "from aiortc import VideoStreamTrack\n"
        "class Track(VideoStreamTrack):\n    def f(self):\n        return self._timestamp\n",
        # Their private modules and names.
        "import aioice._private\n",
        "from aiortc.rtcpeerconnection import _private_helper\n",
    ],
)
def test_a_new_reach_below_the_api_is_caught(source: str) -> None:
    assert violations(source, "synthetic.py", _ours()) != []


def test_our_own_private_names_and_public_api_use_pass() -> None:
    source = (
        "from aiortc import MediaStreamTrack, RTCPeerConnection\n"
        "class Track(MediaStreamTrack):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self._frames_sent_so_far = 0\n"
        "    def f(self):\n"
        "        return self._frames_sent_so_far\n"
        "async def close(pc: RTCPeerConnection):\n"
        "    await pc.close()\n"
    )
    assert violations(source, "synthetic.py", _ours()) == []
