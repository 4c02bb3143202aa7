"""axe-core in the browser: the pinned npm package (tests/e2e/package.json), installed by
`make test` with `npm ci`, injected into every page of a Playwright context. Nothing comes from
a CDN."""

import os
from pathlib import Path

import pytest

AXE_CORE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 level A and AA (2.0's rules are part of 2.1).
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = ("serious", "critical")
INSTALL_HINT = "npm ci --prefix tests/e2e --ignore-scripts (make test runs it)"


def install_axe(context):
    """Every page the context opens gets ``window.axe``. An init script is not subject to the
    portal's Content-Security-Policy, so no policy is loosened for the test."""
    if not AXE_CORE.exists():
        message = f"axe-core is not installed at {AXE_CORE}: {INSTALL_HINT}"
        if os.environ.get("PORTAL_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    context.add_init_script(path=str(AXE_CORE))


def serious_violations(page, excluded_rules=()):
    """axe's serious and critical WCAG 2.1 AA violations on the page as it is now, one line each
    (rule, impact, help and the elements' selectors)."""
    results = page.evaluate(
        """async ([tags, excluded]) => {
            const rules = Object.fromEntries(excluded.map((id) => [id, { enabled: false }]));
            return await window.axe.run(document, {
                runOnly: { type: "tag", values: tags },
                rules,
                resultTypes: ["violations"],
            });
        }""",
        [WCAG_21_AA, list(excluded_rules)],
    )
    lines = []
    for violation in results["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
        more = len(violation["nodes"]) - 3
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']}; at {targets}"
            + (f" and {more} more" if more > 0 else "")
        )
    return lines
