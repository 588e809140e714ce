"""Lint and types are part of green: ruff and mypy run with the tests (and so in CI).

mypy reads its settings from pyproject.toml ([tool.mypy]: engine, web and notifications).
No database fixture: these run once, not once per database.
"""

from __future__ import annotations

import subprocess
import sys

from .conftest import PROJECT

LINTED = ["engine", "web", "notifications", "bpmn", "tests", "benchmarks", "migrations"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=900, check=False)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", *LINTED)
    assert result.returncode == 0, f"ruff check failed:\n{result.stdout}{result.stderr}"


def test_mypy_finds_nothing() -> None:
    result = _run("mypy")
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"
