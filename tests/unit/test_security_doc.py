"""docs/security.md promises a test for every protection: each test it names must exist, so the
document cannot cite a test that was renamed or never written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"


def _defined_tests() -> dict[str, set[str]]:
    """test file name -> names of the tests defined in it, over the whole suite."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names = set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.MULTILINE))
        found.setdefault(path.name, set()).update(names)
        found.setdefault(str(path.relative_to(ROOT)), set()).update(names)
    return found


def test_every_test_the_security_document_cites_exists() -> None:
    defined = _defined_tests()
    text = DOC.read_text()
    missing: list[str] = []
    current_file: str | None = None
    # Citations look like `file.py::test_name`, `::test_name` (same file as the last one) or
    # a bare `tests/.../file.py`.
    for match in re.finditer(r"`((?:tests/[\w/]*?)?test_\w+\.py)?(?:::(test_\w+))?`", text):
        file_name, test_name = match.groups()
        if file_name:
            current_file = file_name
            if file_name not in defined:
                missing.append(file_name)
                continue
        if test_name and test_name not in defined.get(current_file or "", set()):
            missing.append(f"{current_file}::{test_name}")
    assert missing == []


def test_the_document_cites_tests_at_all() -> None:
    assert len(re.findall(r"::test_\w+", DOC.read_text())) > 40
