"""The audit chain detects tampering; the layers import one way; the leader lock holds."""

from __future__ import annotations

import ast

import pytest

from engine.db import Database, exists_on
from notifications.scheduler import LeaderLock

from .conftest import PROJECT


def test_only_one_scheduler_leads(settings, database):  # type: ignore[no-untyped-def]
    first, second = LeaderLock(database), LeaderLock(Database(settings))
    try:
        assert first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire()
    finally:
        first.release()
        second.release()
        second.database.dispose()


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (PROJECT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(path.name, alias.name.split(".")[0]) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((path.name, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("engine", {"flask", "web", "notifications", "werkzeug"}),
    ("notifications", {"web", "flask"}),
])
def test_layers_import_one_way(package: str, forbidden: set[str]) -> None:
    wrong = sorted((f, m) for f, m in _imports(package) if m in forbidden)
    assert wrong == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    ci = (PROJECT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert f"\n{command}\n" in readme


def test_migrations_match_the_tables(database):  # type: ignore[no-untyped-def]
    """Every schema change is a migration: autogenerate finds nothing left to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with database.engine.connect() as conn:
        opts = {"compare_type": True, "include_object": exists_on(conn.dialect.name)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), SQLModel.metadata)
    assert diff == []


def test_a_second_scheduler_process_runs_no_jobs(settings, database):  # type: ignore[no-untyped-def]
    from notifications.scheduler import start_scheduler

    first = start_scheduler(database)
    second_db = Database(settings)
    try:
        assert first is not None and first.scheduler.get_job("audit-verify") is not None
        assert start_scheduler(second_db) is None
    finally:
        if first is not None:
            first.stop()
        second_db.dispose()
    again = LeaderLock(database)
    assert again.acquire()  # stop gave the lock back
    again.release()
