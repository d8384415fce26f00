"""What `pip install .` (the Docker image) installs: every top-level module
and package of the application, with the files Alembic needs."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = {"tests", "bench"}


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_top_level_module_is_installed() -> None:
    modules = {path.stem for path in ROOT.glob("*.py")}
    assert modules == set(_setuptools()["py-modules"])


def test_every_top_level_package_is_installed() -> None:
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in NOT_SHIPPED
    }
    patterns = _setuptools()["packages"]["find"]["include"]
    for package in packages:
        assert any(fnmatch.fnmatch(package, pattern) for pattern in patterns), package


def test_migration_files_are_package_data() -> None:
    data = _setuptools()["package-data"]["migrations"]
    for path in (ROOT / "migrations").rglob("*"):
        if path.is_file() and path.suffix in {".py", ".mako"} and "__pycache__" not in path.parts:
            relative = str(path.relative_to(ROOT / "migrations"))
            assert (
                relative.endswith("__init__.py")
                or relative == "env.py"
                or any(fnmatch.fnmatch(relative, pattern) for pattern in data)
            ), relative
