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

The pages are measured twice: through Flask's test client (server time only) and, the
figure the goal is about, with the app served by gunicorn (one sync worker) in a process of
its own and requests over loopback (``requests``, one connection). On PostgreSQL the events
go in by COPY (the chain hashed in Python as the engine hashes it); the query plan of the
type + period search is printed (EXPLAIN ANALYZE).

Run:  .venv/bin/python benchmarks/bench_audit.py [--events 1000000] [--requests 50] [--only sqlite]
      [--quick]  (PostgreSQL only, 100,000 events, 30 requests: < 3 min)  [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from sqlalchemy import create_engine, insert, text, update  # noqa: E402

from engine.accounts import create_account  # noqa: E402
from engine.audit import HASH_VERSION, AuditEvent, AuditHead, _digest  # noqa: E402
from engine.audit import seal as audit_seal  # noqa: E402
from engine.council import ROLE_AUDITOR  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.types import table_of  # noqa: E402

ADMIN = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PROJECT = Path(__file__).resolve().parent.parent


_COPY_COLUMNS = ("seq", "at", "actor", "actor_name", "action", "paper_id", "process_instance_id", "details",
                 "prev_seq", "prev_hash", "hash", "hash_version")


def append(db: Database, count: int, seed_paper: int, spacing: float = 20.0, batch: int = 20_000) -> float:
    """Append ``count`` sealed events to the chain (hashed as the engine hashes; PostgreSQL:
    by COPY); seconds taken."""
    started = time.perf_counter()
    head = table_of(AuditHead)
    postgres = db.engine.dialect.name == "postgresql"
    with db.unit_of_work() as s:
        audit_seal(s)
        seq, prev = s.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    done = 0
    while done < count:
        rows = []
        for _ in range(min(batch, count - done)):
            seq += 1
            done += 1
            paper = seed_paper if done % (count // 200 or 1) == 0 else 100_000 + done % 2000
            at = t0 + timedelta(seconds=seq * spacing)
            details = {"task": "Ergebnis", "title": "Ergebnis erfassen",
                       "values": {"ergebnis": "beschlossen"}, "gremium": "Bench-Ausschuss", "n": seq}
            action = "task.completed" if seq % 3 else "task.claimed"
            digest = _digest(prev, seq, at, "bench", action, paper, None, details, "Bench", HASH_VERSION)
            rows.append({"seq": seq, "at": at, "actor": "bench", "actor_name": "Bench", "action": action,
                         "paper_id": paper, "process_instance_id": None, "details": details,
                         "prev_seq": seq - 1, "prev_hash": prev, "hash": digest,
                         "hash_version": HASH_VERSION})
            prev = digest
        if postgres:
            raw = db.engine.raw_connection()
            try:
                with raw.cursor() as cur, cur.copy(  # type: ignore[attr-defined]
                        f"COPY audit_event ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([json.dumps(row[c]) if c == "details" else row[c]
                                        for c in _COPY_COLUMNS])
                with raw.cursor() as cur:
                    cur.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (seq, prev))
                    cur.execute("SELECT setval('audit_event_seq', %s)", (seq,))  # the app goes on after them
                raw.commit()
            finally:
                raw.close()
        else:
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """The app under gunicorn (one sync worker) in a process of its own; its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "web:create_app(upgrade=False)"], cwd=PROJECT, env={**env, "RATSFLOW_SCHEDULER": "false"})
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(base + "/anmelden", timeout=10)
            return server, base
        except requests.RequestException:
            time.sleep(0.1)
    server.kill()
    server.wait()
    raise RuntimeError("gunicorn kam nicht hoch")


def timed_http(http: requests.Session, url: str, count: int) -> tuple[float, float, int]:
    for _ in range(3):
        http.get(url)
    times, size = [], 0
    for _ in range(count):
        t = time.perf_counter()
        response = http.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.content)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], size


SEARCH = "/revision/?ereignis=task.claimed&von=01.03.2025&bis=31.03.2025"


def explain(db: Database) -> str:
    """The plan of the type + period search's query as the page runs it."""
    from datetime import date

    from engine import audit_history

    with db.unit_of_work(write=False) as s:
        query = audit_history.page_query(s, audit_history.Filters(
            action="task.claimed", since=date(2025, 3, 1), until=date(2025, 3, 31)), None, 50)
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = s.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars().all()
    return "\n".join(plan)


def run(kind: str, events: int, requests_count: int, quick: bool) -> dict[str, object]:
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
        figures: dict[str, object] = {"events": events}
        print(f"\n{kind}: {events:,} events{' (quick: reduced size)' if quick else ''}")
        spacing = 20.0 * 1_000_000 / events  # the events span the same eight months at every size
        tenth = append(db, events // 10, demo.paper_id, spacing)
        took, rss_tenth, said = child(env, "audit", "verify")
        print(f"  appended {events // 10:,} in {tenth:.1f} s; verify: {took:.1f} s, "
              f"peak {rss_tenth / 1024:.0f} MB ({said})")
        rest = append(db, events - events // 10, demo.paper_id, spacing)
        figures["append_s"] = round(tenth + rest, 1)
        took, rss, said = child(env, "audit", "verify")
        figures["verify_s"], figures["verify_peak_mb"] = round(took, 1), round(rss / 1024)
        target = "met" if took < 30 else "NOT met"
        print(f"  appended {events - events // 10:,} more in {rest:.1f} s; verify over all: {took:.1f} s "
              f"(target < 30 s {target}), peak {rss / 1024:.0f} MB (at a tenth: {rss_tenth / 1024:.0f} MB) "
              f"({said})")

        if kind == "postgresql":  # as autovacuum would have done after the bulk append
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE audit_event"))

        from web import create_app

        if kind == "postgresql":
            print("  plan of the type + period search:\n    " + explain(db).replace("\n", "\n    "))
        app = create_app(settings, upgrade=False)
        client = app.test_client()
        page = client.get("/anmelden")
        token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/anmelden", data={"username": "pruefer", "password": "bench", "csrf_token": token})
        server, base = served(env)
        pages: dict[str, dict[str, float]] = {}
        try:
            http = requests.Session()
            page_text = http.get(base + "/anmelden").text
            token = page_text.split('name="csrf_token" value="')[1].split('"')[0]
            http.post(base + "/anmelden",
                      data={"username": "pruefer", "password": "bench", "csrf_token": token})
            for label, path in [("timeline of 2024/063", f"/revision/vorlagen/{demo.paper_id}"),
                                ("search, first page", "/revision/"),
                                ("search, type + period", SEARCH),
                                ("search, one Vorlage", "/revision/?vorlage=2024/063")]:
                median, p95, size = timed(client, path, requests_count)
                h_median, h_p95, _ = timed_http(http, base + path, requests_count)
                pages[label] = {"median_ms": round(h_median, 1), "p95_ms": round(h_p95, 1),
                                "test_client_median_ms": round(median, 1),
                                "test_client_p95_ms": round(p95, 1)}
                print(f"  {label:<24} served: median {h_median:6.1f} ms, p95 {h_p95:6.1f} ms "
                      f"(target p95 < 50 ms {'met' if h_p95 < 50 else 'NOT met'}); test client: median "
                      f"{median:6.1f} ms, p95 {p95:6.1f} ms; {size / 1024:.0f} KB")
        finally:
            server.terminate()
            server.wait(timeout=30)
        figures["pages"] = pages
        out = instance / "export.csv"
        took, rss, _ = child(env, "audit", "export", "--format", "csv", "--out", str(out))
        lines = sum(1 for _ in out.open(encoding="utf-8-sig")) - 1
        print(f"  CSV export of {lines:,} rows: {took:.1f} s, peak {rss / 1024:.0f} MB, "
              f"{out.stat().st_size / 1024 / 1024:.0f} MB written")
        figures["export_s"], figures["export_rows"] = round(took, 1), lines
        db.dispose()
        return figures
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
    parser.add_argument("--quick", action="store_true",
                        help="PostgreSQL only, 100,000 events, 30 requests per page (< 3 min)")
    parser.add_argument("--json", action="store_true", help="last line: the figures as one JSON object")
    args = parser.parse_args()
    if args.quick:
        args.events, args.requests = min(args.events, 100_000), min(args.requests, 30)
        args.only = "postgresql"
    figures: dict[str, object] = {"quick": args.quick, "load_before": round(os.getloadavg()[0], 2)}
    for kind in ("postgresql", "sqlite"):
        if args.only in (None, kind):
            figures[kind] = run(kind, args.events, args.requests, args.quick)
    figures["load_after"] = round(os.getloadavg()[0], 2)
    goals = []
    pg = figures.get("postgresql")
    if isinstance(pg, dict):
        search = pg["pages"]["search, type + period"]
        goals.append({"name": f"audit search by type + period at {args.events:,} events (PostgreSQL, served)",
                      "goal": "p95 < 50 ms", "measured": search["median_ms"], "p95": search["p95_ms"],
                      "unit": "ms", "limit": 50, "ratio_to_goal": round(search["p95_ms"] / 50, 2)})
        goals.append({"name": f"audit verify over {args.events:,} events (PostgreSQL)", "goal": "< 30 s",
                      "measured": pg["verify_s"], "p95": None, "unit": "s", "limit": 30,
                      "ratio_to_goal": round(float(pg["verify_s"]) / 30, 2)})
    figures["goals"] = goals
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
