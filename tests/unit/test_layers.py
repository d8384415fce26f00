"""The dependency rules of ARCHITECTURE.md, read from the import statements.

Arrows only point down: a forbidden import fails. KNOWN lists exceptions
with what they still import (none since issue 13); it may only shrink: an
entry no longer needed fails too."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

WORKFLOW_LIBS = ("temporalio",)
# What each layer must not import (top-level package names).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "api": ("models", "integrations", "workflows", "activities", "sqlalchemy", *WORKFLOW_LIBS),
    "services": ("activities", "api"),
    "workflows": ("models", "integrations", "services", "api"),
    "activities": ("services", "api", "workflows"),
    "models": ("services", "api", "workflows", "activities", "integrations"),
    "integrations": ("services", "api", "workflows", "activities", "models"),
    "domain": (
        "services", "api", "workflows", "activities", "models", "integrations", "settings",
        "sqlalchemy", "fastapi", "httpx", *WORKFLOW_LIBS,
    ),
}  # fmt: skip

# The composition root opens the request's transaction and builds the
# clients services receive (ARCHITECTURE.md).
COMPOSITION_ROOT: dict[str, set[str]] = {
    "api/app.py": {"integrations", "models"},
    "api/deps.py": {"models", "sqlalchemy", "temporalio"},
}

# Modules allowed an import their layer forbids, with what they still import:
# none left (issue 13 moved the last ones). The list may only shrink.
KNOWN: dict[str, set[str]] = {}


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _violations() -> dict[str, set[str]]:
    broken: dict[str, set[str]] = {}
    for layer, banned in FORBIDDEN.items():
        for path in sorted((ROOT / layer).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            bad = _imported_packages(path) & set(banned)
            bad -= COMPOSITION_ROOT.get(name, set())
            if bad:
                broken[name] = bad
    return broken


def test_no_layer_imports_what_it_must_not() -> None:
    broken = _violations()
    new = {
        name: sorted(bad - KNOWN.get(name, set()))
        for name, bad in broken.items()
        if bad - KNOWN.get(name, set())
    }
    assert new == {}, f"forbidden imports (ARCHITECTURE.md, dependency rules): {new}"


def test_the_known_exceptions_are_still_needed() -> None:
    broken = _violations()
    stale = {
        name: sorted(allowed - broken.get(name, set()))
        for name, allowed in KNOWN.items()
        if allowed - broken.get(name, set())
    }
    assert stale == {}, f"no longer imported: remove from KNOWN {stale}"


def test_the_walk_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The reader itself: a workflow importing models is caught."""
    module = tmp_path / "order.py"
    module.write_text("from models.orders import Order\nimport sqlalchemy.orm\n")
    assert _imported_packages(module) == {"models", "sqlalchemy"}
