"""docs/security.md promises a test for every protection: each test it names must exist, so the
document cannot cite a test that was renamed, moved or never written. The other documents cite
test files too (as evidence, or as where to look): those files must exist as well."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOC = DOCS / "security.md"
# The document's own convention: "Test names below are in `tests/security/` unless another
# folder is given". A bare file name is resolved there, not wherever a file of that name is.
DEFAULT_FOLDER = "tests/security/"
# Citations look like `file.py::test_name`, `::test_name` (same file as the last one) or
# a bare `tests/.../file.py`.
CITATION = re.compile(r"`((?:tests/[\w/]*?)?test_\w+\.py)?(?:::(test_\w+))?`")
# Any test file path or test file name in running text, backticks or not.
TEST_PATH = re.compile(r"(?<![\w/.-])((?:tests/[\w/]+/)?test_\w+\.py)\b")
# A source file named by its path, from the repository root or from the folder of one of the
# packages of mosaic/ (`mosaic/media/wire/rtp.py`, `media/wire/rtp.py`, `signaling/door.py`).
PACKAGES = "|".join(
    p.name for p in (ROOT / "mosaic").iterdir() if (p / "__init__.py").is_file() or p.name == "web"
)
MODULE_PATH = re.compile(
    rf"(?<![\w/.-])((?:mosaic/|(?:{PACKAGES})/)[\w/]+\.(?:py|js|json|html|css))\b"
)


def _defined_tests() -> dict[str, set[str]]:
    """test file path (from the repository root) -> names of the tests defined in it."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names = set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.MULTILINE))
        found[path.relative_to(ROOT).as_posix()] = names
    return found


def _in_security_doc(file_name: str) -> str:
    """Where a file named in docs/security.md is, by the document's convention."""
    return file_name if file_name.startswith("tests/") else DEFAULT_FOLDER + file_name


def missing_citations(text: str, defined: dict[str, set[str]]) -> list[str]:
    """Files and tests cited in the security document that the suite does not have."""
    missing: list[str] = []
    current_file: str | None = None
    for match in CITATION.finditer(text):
        file_name, test_name = match.groups()
        if file_name:
            current_file = _in_security_doc(file_name)
            if current_file not in defined:
                missing.append(current_file)
                continue
        if test_name and test_name not in defined.get(current_file or "", set()):
            missing.append(f"{current_file}::{test_name}")
    return missing


def missing_test_files(text: str, defined: dict[str, set[str]], bare_in: str | None) -> list[str]:
    """Test files a document names that do not exist. A bare name is looked up in ``bare_in``
    when the document says where its bare names are, else anywhere in the suite."""
    names = {Path(path).name for path in defined}
    missing = []
    for cited in TEST_PATH.findall(text):
        if cited.startswith("tests/"):
            found = cited in defined
        elif bare_in is not None:
            found = bare_in + cited in defined
        else:
            found = cited in names
        if not found:
            missing.append(cited)
    return missing


def test_every_test_the_security_document_cites_exists() -> None:
    assert missing_citations(DOC.read_text(), _defined_tests()) == []


def test_every_test_file_the_documents_name_exists() -> None:
    defined = _defined_tests()
    missing = {
        doc.relative_to(ROOT).as_posix(): found
        for doc in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
        if (
            found := missing_test_files(
                doc.read_text(), defined, DEFAULT_FOLDER if doc == DOC else None
            )
        )
    }
    assert missing == {}


def missing_modules(text: str, root: Path) -> list[str]:
    """Source files a document names by path that are not in the tree under ``root``: a
    module moved into a package (``media/rtp.py`` into ``media/wire/``) leaves such a path."""
    missing = []
    for cited in MODULE_PATH.findall(text):
        path = cited if cited.startswith("mosaic/") else f"mosaic/{cited}"
        if not (root / path).is_file():
            missing.append(cited)
    return missing


def test_every_source_file_the_documents_name_by_path_exists() -> None:
    missing = {
        doc.relative_to(ROOT).as_posix(): found
        for doc in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
        if (found := missing_modules(doc.read_text(), ROOT))
    }
    assert missing == {}


def test_a_module_path_left_behind_by_a_move_is_caught(tmp_path: Path) -> None:
    (tmp_path / "mosaic/media/wire").mkdir(parents=True)
    (tmp_path / "mosaic/media/wire/rtp.py").write_text("")
    text = (
        "`media/wire/rtp.py`, mosaic/media/wire/rtp.py, `media/rtp.py`, mosaic/media/rtp.py, "
        "tests/unit/media/test_rtp.py"
    )
    assert missing_modules(text, tmp_path) == ["media/rtp.py", "mosaic/media/rtp.py"]


def test_a_file_cited_outside_its_folder_is_caught() -> None:
    """The checks can fail: a bare name of a unit test in the security document is looked up
    under tests/security/ (as the document says), a path is looked up as written, and a test
    cited after a file must be in that very file."""
    defined = {"tests/unit/test_x.py": {"test_a"}, "tests/security/test_y.py": {"test_b"}}
    text = "`test_x.py`, `tests/unit/test_x.py::test_a`, `::test_b`, `test_y.py::test_b`"
    assert missing_citations(text, defined) == [
        "tests/security/test_x.py",
        "tests/unit/test_x.py::test_b",
    ]
    prose = "see tests/unit/test_gone.py and test_x.py, tests/unit/test_x.py"
    assert missing_test_files(prose, defined, DEFAULT_FOLDER) == [
        "tests/unit/test_gone.py",
        "test_x.py",
    ]
    assert missing_test_files(prose, defined, None) == ["tests/unit/test_gone.py"]


def test_the_document_cites_tests_at_all() -> None:
    assert len(re.findall(r"::test_\w+", DOC.read_text())) > 40
