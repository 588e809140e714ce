"""Correct under load, with real processes: ``ratsflow serve --workers 4`` (gunicorn) and two
``ratsflow scheduler`` on PostgreSQL, a real SMTP server on loopback, clients over HTTP.

Clients complete every open task (some twice at once, on purpose) and move the same Sitzungen
concurrently; between two phases of moves the leading scheduler is killed (SIGKILL) and the
standby takes over. Then: every task was completed exactly once (the duplicate answered 409),
no move was lost (each Sitzung's sequence counts every move that was answered as done, and
each such move told every member once), no Message-ID reached the SMTP server twice, and
``ratsflow audit verify`` passes. ``benchmarks/bench_under_load.py`` runs the same at full size.
"""

from __future__ import annotations

import pytest

from .load_scenario import SMALL, run_under_load, tracebacks


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_tasks_sessions_and_reminders_hold_under_load_with_the_leader_killed(database, smtp):  # type: ignore[no-untyped-def]
    result = run_under_load(database, smtp, SMALL)
    violations = result.violations
    assert violations == [], "\n".join([*violations, tracebacks(result.logs)])
    assert result.completions.completed == SMALL.tasks
    duplicates = sum(codes.count(409) for codes in result.completions.statuses.values())
    assert duplicates == len(range(0, SMALL.tasks, SMALL.duplicate_every))
    assert len(result.moves.done()) >= SMALL.moves  # at least one mover's moves went through per phase
    assert result.notices > 0 and result.messages == result.unique_ids

