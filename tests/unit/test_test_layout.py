"""Test helpers live in helper modules (tests/helpers/, a folder's helper module, a conftest),
never in a test module that others import.

A helper kept in a test module ties unrelated test files together (moving or deleting one
breaks the others, a test name imported along is collected twice), and a helper hidden among
tests is one nobody finds, so it gets written again. The walk is over the syntax tree, so an
import inside a function or under ``if TYPE_CHECKING`` counts as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _module_name(path: Path, root: Path) -> str:
    """Dotted name of a file under ``root`` (the ``tests`` package itself)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> list[str]:
    """Every module name an import statement may load, relative imports resolved.

    ``from a.b import c`` may load ``a.b`` or the submodule ``a.b.c``: both are returned."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        if not is_package:
            package.pop()
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def imports_of_test_modules(root: Path) -> list[str]:
    """``importer: imported`` for every module under ``root`` that imports a test module."""
    files = sorted(root.rglob("*.py"))
    test_modules = {_module_name(p, root) for p in files if p.name.startswith("test_")}
    found = []
    for path in files:
        importer = _module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = _imported(node, importer, path.name == "__init__.py")
                found += [
                    f"{importer}: {name}"
                    for name in names
                    if name in test_modules and name != importer
                ]
    return found


def test_no_module_of_the_suite_imports_a_test_module() -> None:
    assert imports_of_test_modules(TESTS) == []


def test_an_import_from_a_test_module_is_caught(tmp_path: Path) -> None:
    """The check can fail: absolute, relative and submodule imports of a test module are all
    reported, whether from a test module, a helper or a conftest; helper imports are not."""
    root = tmp_path / "tests"
    files = {
        "__init__.py": "",
        "helpers/__init__.py": "",
        "helpers/waiting.py": "def wait_until(): ...\n",
        "browser/__init__.py": "",
        "browser/conftest.py": "from tests.browser.test_media import wait_until\n",
        "browser/test_media.py": "from tests.helpers.waiting import wait_until\n",
        "browser/test_gallery.py": "from .test_media import wait_until\n",
        "browser/test_room.py": "def test_room():\n    from tests.browser import test_media\n",
        "unit/__init__.py": "",
        "unit/test_parse.py": "import tests.browser.test_media\nfrom .. import helpers\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    assert sorted(imports_of_test_modules(root)) == [
        "tests.browser.conftest: tests.browser.test_media",
        "tests.browser.test_gallery: tests.browser.test_media",
        "tests.browser.test_room: tests.browser.test_media",
        "tests.unit.test_parse: tests.browser.test_media",
    ]
