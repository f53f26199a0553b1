"""axe-core, the accessibility engine, run inside a page: what it finds, and what we accept.

axe comes from the npm registry by tests/browser/axe/package-lock.json (``make test`` runs
``npm ci`` there); it is never kept in git. It is handed to the page through the browser's
own evaluation channel (CDP or WebDriver BiDi), which the page's Content-Security-Policy does
not govern, so the page under test runs with its real policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"

# Rules whose moderate findings are accepted, each for the reason docs/accessibility.md gives.
JUSTIFIED: dict[str, str] = {}

# Run every WCAG 2.0/2.1/2.2 A and AA rule and axe's best practices (landmarks, headings).
RUN = """async () => {
    const result = await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa',
                                        'best-practice']},
        resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => ({target: n.target.join(' '), summary: n.failureSummary})),
    }));
}"""


def axe_source() -> str:
    if not AXE_JS.exists():
        raise AssertionError(
            f"{AXE_JS} is missing: `make test` installs it "
            "(npm ci --prefix tests/browser/axe --ignore-scripts)"
        )
    return AXE_JS.read_text()


def unacceptable(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Serious and critical findings, and moderate or minor ones nobody has justified."""
    return [
        v for v in violations if v["impact"] in ("serious", "critical") or v["id"] not in JUSTIFIED
    ]


def describe(state: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{state}:"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']}")
        for node in v["nodes"][:4]:
            lines.append(f"      {node['target']}: {(node['summary'] or '').splitlines()[-1]}")
    return "\n".join(lines)
