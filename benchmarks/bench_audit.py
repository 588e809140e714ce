"""Benchmark: the process history at a million events, on PostgreSQL and on SQLite.

For each database (a throwaway one, dropped at the end): the migrations, the demo, then
``--events`` events (default 1,000,000) appended with the chain's own hashing
(``engine.audit._digest``, in batches, head row kept), 200 of them for the seed Vorlage
2024/063 and the rest spread over 2,000 other paper ids. Measured, side by side:

* ``verify`` over the whole chain, in a child process (time and its peak resident memory),
  at a tenth of the events and at all of them (memory must stay flat as the chain grows);
* server time of the auditor's pages through Flask's test client (median, p95 over
  ``--requests``): the seed's timeline (200+ events) and the search's first page and a
  filtered search (event type and period) over all events;
* ``ratsflow audit export --format csv`` of every event to a file, in a child process (time,
  peak memory, rows, bytes).

Run:  .venv/bin/python benchmarks/bench_audit.py [--events 1000000] [--requests 50] [--only sqlite]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text, update  # noqa: E402

from engine.accounts import create_account  # noqa: E402
from engine.audit import AuditEvent, AuditHead, _digest  # noqa: E402
from engine.council import ROLE_AUDITOR  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.types import table_of  # noqa: E402

ADMIN = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PROJECT = Path(__file__).resolve().parent.parent


def append(db: Database, count: int, seed_paper: int, batch: int = 20_000) -> float:
    """Append ``count`` events to the chain (hashed as the engine hashes); seconds taken."""
    started = time.perf_counter()
    head = table_of(AuditHead)
    with db.unit_of_work() as s:
        seq, prev = s.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    done = 0
    while done < count:
        rows = []
        for _ in range(min(batch, count - done)):
            seq += 1
            done += 1
            paper = seed_paper if done % (count // 200 or 1) == 0 else 100_000 + done % 2000
            at = t0 + timedelta(seconds=seq * 20)
            details = {"task": "Ergebnis", "title": "Ergebnis erfassen",
                       "values": {"ergebnis": "beschlossen"}, "gremium": "Bench-Ausschuss", "n": seq}
            action = "task.completed" if seq % 3 else "task.claimed"
            digest = _digest(prev, seq, at, "bench", action, paper, None, details)
            rows.append({"seq": seq, "at": at, "actor": "bench", "actor_name": "Bench", "action": action,
                         "paper_id": paper, "process_instance_id": None, "details": details,
                         "prev_hash": prev, "hash": digest})
            prev = digest
        with db.unit_of_work() as s:
            s.execute(insert(AuditEvent), rows)
            s.execute(update(head).where(head.c.id == 1).values(seq=seq, hash=prev))
    return time.perf_counter() - started


def child(env: dict[str, str], *args: str) -> tuple[float, int, str]:
    """Run ``ratsflow`` as a child process: seconds, its peak resident memory (KB), output."""
    code = ("import resource, sys; from web.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
            "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=PROJECT, env=env, capture_output=True,
                          text=True, check=False)
    took = time.perf_counter() - started
    rss = next((int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("MAXRSS")), 0)
    said = (done.stdout + done.stderr).strip().splitlines()
    return took, rss, said[0] if said else ""


def timed(client, url: str, requests: int) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    for _ in range(3):
        client.get(url)
    times, size = [], 0
    for _ in range(requests):
        t = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.get_data())
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], size


def run(kind: str, events: int, requests: int) -> None:
    instance = Path(tempfile.mkdtemp())
    if kind == "sqlite":
        url, drop = f"sqlite:///{instance / 'bench.sqlite'}", None
    else:
        name = f"ratsflow_bench_audit_{uuid.uuid4().hex[:10]}"
        admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url, drop = ADMIN.rsplit("/", 1)[0] + f"/{name}", (admin, name)
    try:
        settings = load_settings(env={}, database_url=url, instance_path=instance, scheduler_in_process=False,
                                 secret_key="bench")
        db = Database(settings)
        db.upgrade()
        with db.unit_of_work() as s:
            demo = load_demo(s, "bench", week=False)
            create_account(s, "pruefer", "bench", "Prüfer", [(ROLE_AUDITOR, None)])
        env = {**os.environ, "DATABASE_URL": url, "RATSFLOW_INSTANCE_PATH": str(instance)}
        print(f"\n{kind}: {events:,} events")
        tenth = append(db, events // 10, demo.paper_id)
        took, rss_tenth, said = child(env, "audit", "verify")
        print(f"  appended {events // 10:,} in {tenth:.1f} s; verify: {took:.1f} s, "
              f"peak {rss_tenth / 1024:.0f} MB ({said})")
        rest = append(db, events - events // 10, demo.paper_id)
        took, rss, said = child(env, "audit", "verify")
        target = "met" if took < 30 else "NOT met"
        print(f"  appended {events - events // 10:,} more in {rest:.1f} s; verify over all: {took:.1f} s "
              f"(target < 30 s {target}), peak {rss / 1024:.0f} MB (at a tenth: {rss_tenth / 1024:.0f} MB) "
              f"({said})")

        if kind == "postgresql":  # as autovacuum would have done after the bulk append
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE audit_event"))

        from web import create_app

        app = create_app(settings, upgrade=False)
        client = app.test_client()
        page = client.get("/anmelden")
        token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/anmelden", data={"username": "pruefer", "password": "bench", "csrf_token": token})
        for label, path in [("timeline of 2024/063", f"/revision/vorlagen/{demo.paper_id}"),
                            ("search, first page", "/revision/"),
                            ("search, type + period",
                             "/revision/?ereignis=task.claimed&von=01.03.2025&bis=31.03.2025"),
                            ("search, one Vorlage", "/revision/?vorlage=2024/063")]:
            median, p95, size = timed(client, path, requests)
            print(f"  {label:<24} median {median:6.1f} ms, p95 {p95:6.1f} ms "
                  f"(target p95 < 50 ms {'met' if p95 < 50 else 'NOT met'}), {size / 1024:.0f} KB")
        out = instance / "export.csv"
        took, rss, _ = child(env, "audit", "export", "--format", "csv", "--out", str(out))
        lines = sum(1 for _ in out.open(encoding="utf-8-sig")) - 1
        print(f"  CSV export of {lines:,} rows: {took:.1f} s, peak {rss / 1024:.0f} MB, "
              f"{out.stat().st_size / 1024 / 1024:.0f} MB written")
        db.dispose()
    finally:
        if drop is not None:
            admin, name = drop
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    for kind in ("postgresql", "sqlite"):
        if args.only in (None, kind):
            run(kind, args.events, args.requests)


if __name__ == "__main__":
    main()
