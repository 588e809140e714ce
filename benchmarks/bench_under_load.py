"""Benchmark: correct under load, at full size (``tests/test_under_load.py`` is the small one).

``ratsflow serve --workers 4`` (gunicorn) and two ``ratsflow scheduler`` processes on a fresh
PostgreSQL database, a real SMTP server on loopback (aiosmtpd, in a thread of this process)
counting Message-IDs, and clients over HTTP: 16 connections complete every open task (every
4th sent twice at once, on purpose), 4 logged-in secretaries move the same Sitzungen
concurrently in two phases; between the phases the leading scheduler is killed (SIGKILL)
while the completions go on, and the standby takes over. Checked, as in the test: each task
completed exactly once (the duplicates answered 409), no lost move (each Sitzung's sequence
counts the moves answered as done, each told every member once), no Message-ID twice at the
SMTP server, ``ratsflow audit verify`` passes. Reported beside it: completions per second and
their latency under this mixed load, the standby's take-over time, each phase's duration.

Bounded: the whole run takes well under 10 minutes (``--quick``: under 3).

Run:  .venv/bin/python benchmarks/bench_under_load.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from engine.db import Database  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from tests.conftest import SmtpServer  # noqa: E402
from tests.load_scenario import Size, run_under_load, tracebacks  # noqa: E402

PG_ADMIN_URL = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FULL = Size(tasks=3000, meetings=40, clients=16, duplicate_every=4, movers=4, moves=20, processes=2,
            mail_wait=180)
QUICK = Size(tasks=600, meetings=10, clients=16, duplicate_every=4, movers=4, moves=6, processes=2,
             mail_wait=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller load (<= 3 min)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    load_before = os.getloadavg()[0]
    print(f"Under load: {size.tasks} tasks by {size.clients} clients, {size.movers} secretaries x "
          f"{size.moves} moves x 2 phases over {size.meetings} Sitzungen, 4 web workers, 2 schedulers "
          f"(the leader killed between the phases); load {load_before:.2f}", flush=True)
    name = f"ratsflow_bench_ul_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    smtp = SmtpServer()
    smtp.start()
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="ratsflow-ul-") as tmp:
            settings = load_settings(env={}, database_url=PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}",
                                     instance_path=Path(tmp) / "instance", scheduler_in_process=False,
                                     secret_key="test-secret")
            with Database(settings) as database:
                database.upgrade()
                result = run_under_load(database, smtp, size)
    finally:
        smtp.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    took = time.perf_counter() - started
    done = result.completions
    duplicates = sum(codes.count(409) for codes in done.statuses.values())
    moves_done = len(result.moves.done())
    retried = result.logs.count("attempt 2 of")
    print(f"  completions: {done.completed} of {size.tasks} ({duplicates} duplicates answered 409), "
          f"{done.rate:.1f}/s, median {done.median_ms:.1f} ms, p95 {done.percentile(95):.1f} ms")
    print(f"  moves: {moves_done} of {len(result.moves.requests)} answered as done; "
          f"{result.notices} notices delivered; {result.messages} e-mails at the SMTP server, "
          f"{result.unique_ids} distinct Message-IDs")
    print(f"  standby took over {result.takeover_s:.1f} s after the kill; {retried} requests ran again "
          "after a deadlock")
    print(f"  phases (s since start): {', '.join(f'{k} {v:.1f}' for k, v in result.seconds.items())}")
    print(f"  {result.verify}")
    print(f"  {'ALL HELD' if not result.violations else 'VIOLATED:'}")
    for line in result.violations[:30]:
        print(f"    {line}")
    if result.violations:
        print(tracebacks(result.logs))
    print(f"  took {took:.0f} s; load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    if args.json:
        figures = {
            "tasks": size.tasks, "completed": done.completed, "duplicates_409": duplicates,
            "completions_per_s": round(done.rate, 1), "median_ms": round(done.median_ms, 2),
            "p95_ms": round(done.percentile(95), 2), "moves": len(result.moves.requests),
            "moves_done": moves_done, "notices": result.notices, "messages": result.messages,
            "distinct_message_ids": result.unique_ids, "takeover_s": round(result.takeover_s, 2),
            "deadlock_retries": retried, "phases_s": {k: round(v, 1) for k, v in result.seconds.items()},
            "violations": result.violations[:50], "took_s": round(took, 1),
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "goals": [{
                "name": "under load: violations (lost updates, duplicate mails, tasks not done exactly once, "
                        "chain)",
                "goal": "0 violations", "measured": len(result.violations), "p95": None, "unit": "count",
                "limit": 0,
                "ratio_to_goal": 0.0 if not result.violations else float(len(result.violations))}],
        }
        print(json.dumps(figures))
    return 0 if not result.violations else 1


if __name__ == "__main__":
    sys.exit(main())
