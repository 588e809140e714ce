"""Benchmark: the audit chain on the writers' path, on PostgreSQL, side by side.

Each writer is a process of its own (as web workers are) running short transactions shaped
like a completion: read a row, a version-checked UPDATE, the audit event, a second UPDATE,
commit. Measured for 1, 4 and 8 writers (events/s over a fixed time, the median and p95
transaction time), each variant in a fresh database made from one migrated template:

* ``old`` (the floor, as ``engine.audit.record`` was before migration 0012): lock the
  ``audit_head`` row (UPDATE … RETURNING), INSERT the hashed event, UPDATE the head, in the
  middle of the transaction; the head is held until commit.
* ``write_last`` (option a): the same three statements, just before the commit.
* ``append_seal`` (option b, ``RATSFLOW_AUDIT_SEAL=commit``): one INSERT (number from
  ``audit_next_seq()``, no hash, no lock); after the commit the unit of work's own seal hashes
  whatever is waiting (giving way to a sealer at work).
* ``append_sealer`` (option b, ``RATSFLOW_AUDIT_SEAL=scheduler``): writers only append; the
  scheduler's sealer (``notifications.scheduler.Sealer``) runs in a process of its own.

For the ``append_*`` variants an observer thread reads the sealed head every millisecond; the
time from each 10th event's commit to the first observation of the head past it is the
commit-to-sealed time (median, p95). After each run the chain is
verified (``engine.audit.verify``; every event sealed).

Run:  .venv/bin/python benchmarks/bench_audit_chain.py [--seconds 6] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from engine import audit  # noqa: E402
from engine.db import Database, count_statements  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.types import table_of  # noqa: E402
from notifications.scheduler import Sealer  # noqa: E402

ADMIN = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
VARIANTS = ("old", "write_last", "append_seal", "append_sealer")
WRITERS = (1, 4, 8)

_READ = text("SELECT id, version FROM bench_work WHERE id = :w")
_BUMP = text("UPDATE bench_work SET version = version + 1, n = n + 1 WHERE id = :w AND version = :v")
_TOUCH = text("UPDATE bench_task SET done = done + 1 WHERE id = :w")
_LOCK_HEAD = text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
_SET_HEAD = text("UPDATE audit_head SET hash = :h WHERE id = 1")


def _old_record(session: Session, actor: str, details: dict[str, Any]) -> None:
    """``engine.audit.record`` before migration 0012: the head row locked until commit."""
    at = datetime.now(UTC)
    seq, prev = session.execute(_LOCK_HEAD).one()
    digest = audit._digest(prev, seq, at, actor, "task.completed", None, None, details, actor.title(),
                           audit.HASH_VERSION)
    session.execute(insert(table_of(audit.AuditEvent)).values(
        seq=seq, at=at, actor=actor, actor_name=actor.title(), action="task.completed", details=details,
        prev_seq=seq - 1, prev_hash=prev, hash=digest, hash_version=audit.HASH_VERSION))
    session.execute(_SET_HEAD, {"h": digest})


def _transaction(variant: str, db: Database, writer: int, i: int) -> int | None:
    """One completion-shaped transaction; the event's number for the ``append_*`` variants."""
    actor, details = f"writer{writer}", {"task": "Ergebnis", "values": {"ergebnis": "beschlossen"}, "n": i}
    seq = None
    uow = db.begin()
    s = uow.session
    try:
        _, version = s.execute(_READ, {"w": writer}).one()
        if variant == "old":
            _old_record(s, actor, details)
        s.execute(_BUMP, {"w": writer, "v": version})
        if variant.startswith("append"):
            seq = audit.record(s, actor, actor.title(), "task.completed", details=details).seq
        s.execute(_TOUCH, {"w": writer})
        if variant == "write_last":
            _old_record(s, actor, details)
        uow.commit()
    finally:
        uow.close()
    return seq


#: Transaction times (s); (number, moment of commit) of every 10th event (time.perf_counter is
#: the machine's monotonic clock, the same in every process).
Timings = tuple[list[float], list[tuple[int, float]]]


def _run_writer(url: str, variant: str, writer: int, seconds: float, go: Any) -> Timings:
    db = Database(load_settings(env={}, database_url=url, scheduler_in_process=False, secret_key="bench",
                                audit_seal="scheduler" if variant == "append_sealer" else "commit"))
    _transaction(variant, db, writer, -1)  # connection and statement caches warm
    times: list[float] = []
    commits: list[tuple[int, float]] = []
    go.wait()
    until = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < until:
        t = time.perf_counter()
        seq = _transaction(variant, db, writer, i)
        committed = time.perf_counter()
        times.append(committed - t)
        if seq is not None and i % 10 == 0:  # the observer tells when the head passed it
            commits.append((seq, committed))
        i += 1
    db.dispose()
    return times, commits


def _seal_loop(url: str, stop: Any) -> None:
    """The scheduler's sealer (``notifications.scheduler.Sealer``) in a process of its own."""
    db = Database(load_settings(env={}, database_url=url, scheduler_in_process=False, secret_key="bench"))
    sealer = Sealer(db)
    while not stop.is_set():
        if not sealer.turn():
            stop.wait(sealer.idle)
    db.dispose()


class _Ready:
    """Tells the pool this writer is warm, then waits for the start."""

    def __init__(self, number: int, ready: Any, go: Any) -> None:
        self.number, self.ready, self.go = number, ready, go

    def wait(self) -> None:
        self.ready.put(self.number)
        self.go.wait()


def _worker(number: int, inbox: Any, ready: Any, go: Any, stop: Any, out: Any) -> None:
    """A long-lived process (started once: imports cost seconds); one command per run."""
    while True:
        command = inbox.get()
        if command is None:
            return
        url, variant, seconds = command
        if number < 0:  # the sealer of ``append_sealer``
            ready.put(number)
            _seal_loop(url, stop)
            out.put(None)
            continue
        out.put(_run_writer(url, variant, number, seconds, _Ready(number, ready, go)))


class Pool:
    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.ready, self.go, self.stop, self.out = ctx.Queue(), ctx.Event(), ctx.Event(), ctx.Queue()
        self.inboxes = {n: ctx.Queue() for n in [-1, *range(size)]}
        self.procs = [ctx.Process(target=_worker, args=(n, q, self.ready, self.go, self.stop, self.out))
                      for n, q in self.inboxes.items()]
        for p in self.procs:
            p.start()

    def run(self, url: str, variant: str, writers: int,
            seconds: float) -> tuple[list[Timings], list[tuple[float, int]]]:
        """The writers' timings, and the sealed head as observed every millisecond."""
        self.go.clear()
        self.stop.clear()
        members = list(range(writers)) + ([-1] if variant == "append_sealer" else [])
        for n in members:
            self.inboxes[n].put((url, variant, seconds))
        for _ in members:
            self.ready.get()
        heads: list[tuple[float, int]] = []
        watching = threading.Event()
        observer = threading.Thread(target=_observe, args=(url, watching, heads))
        if variant.startswith("append"):
            observer.start()
        self.go.set()
        results = [self.out.get() for _ in range(writers)]
        if variant.startswith("append"):
            _wait_sealed(url)
            watching.set()
            observer.join()
        self.stop.set()
        if variant == "append_sealer":
            self.out.get()
        return results, heads

    def close(self) -> None:
        for q in self.inboxes.values():
            q.put(None)
        for p in self.procs:
            p.join()


def _observe(url: str, done: threading.Event, heads: list[tuple[float, int]]) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        while not done.is_set():
            head = conn.execute(text("SELECT seq FROM audit_head")).scalar_one()
            heads.append((time.perf_counter(), head))
            time.sleep(0.001)
    engine.dispose()


def _wait_sealed(url: str) -> None:
    """Until the head reaches the newest event (bounded: 30 s)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for _ in range(3000):
            if conn.execute(text("SELECT (SELECT max(seq) FROM audit_event) <= seq "
                                 "FROM audit_head")).scalar():
                break
            time.sleep(0.01)
    engine.dispose()


def _sealed_after(commits: list[tuple[int, float]], heads: list[tuple[float, int]]) -> list[float]:
    """Each sampled event's time from its commit to the first observation of the head past it."""
    latencies = []
    for seq, committed in commits:
        seen = next((t for t, head in heads if head >= seq and t >= committed), None)
        if seen is not None:
            latencies.append(seen - committed)
    return latencies


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))] if values else 0.0


def run_variant(pool: Pool, admin: Any, template: str, variant: str, writers: int,
                seconds: float) -> dict[str, Any]:
    name = f"ratsflow_bench_chain_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        results, heads = pool.run(url, variant, writers, seconds)
        times = [t for r in results for t in r[0]]
        latencies = _sealed_after([c for r in results for c in r[1]], heads)
        settings = load_settings(env={}, database_url=url, scheduler_in_process=False, secret_key="bench")
        with Database(settings) as db:
            with db.unit_of_work() as s:
                audit.seal(s)
            with db.unit_of_work(write=False) as s:
                report = audit.verify(s)
            events = report.events - writers  # the warm-up transactions
        assert report.ok and report.unsealed == 0, report.problem
        return {"events_per_s": round(events / seconds, 1), "events": events,
                "tx_median_ms": round(statistics.median(times) * 1000, 2),
                "tx_p95_ms": round(_pct(times, 0.95) * 1000, 2),
                "sealed_median_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
                "sealed_p95_ms": round(_pct(latencies, 0.95) * 1000, 2) if latencies else None}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def statements_per_event(url: str) -> dict[str, int]:
    """Statements on the writer's path for the audit event alone (inside the transaction)."""
    counts = {}
    settings = load_settings(env={}, database_url=url, scheduler_in_process=False, secret_key="bench")
    with Database(settings) as db:
        for variant in ("old", "append_seal"):
            uow = db.begin()
            with count_statements(db.engine) as seen:
                if variant == "old":
                    _old_record(uow.session, "probe", {})
                else:
                    audit.record(uow.session, "probe", "Probe", "task.completed")
            uow.rollback()
            uow.close()
            counts[variant] = len(seen)
        with db.engine.begin() as conn:  # the probe's number back: every run starts without a gap
            conn.execute(text("SELECT setval('audit_event_seq', 1, false)"))
    counts["write_last"] = counts["old"]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="measured time per variant and writer count")
    parser.add_argument("--quick", action="store_true", help="2 s per run (the whole benchmark < 2 min)")
    parser.add_argument("--json", action="store_true", help="last line: the figures as one JSON object")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    template = f"ratsflow_bench_chain_tpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    url = ADMIN.rsplit("/", 1)[0] + f"/{template}"
    load = os.getloadavg()[0]
    figures: dict[str, Any] = {"postgresql": {}, "seconds": seconds, "quick": args.quick,
                               "load_before": round(load, 2)}
    try:
        settings = load_settings(env={}, database_url=url, scheduler_in_process=False, secret_key="bench")
        with Database(settings) as db:
            db.upgrade()
            with db.engine.begin() as conn:
                conn.execute(text("CREATE TABLE bench_work "
                                  "(id int PRIMARY KEY, version int NOT NULL, n int NOT NULL)"))
                conn.execute(text("CREATE TABLE bench_task (id int PRIMARY KEY, done int NOT NULL)"))
                for w in range(max(WRITERS)):
                    conn.execute(text("INSERT INTO bench_work VALUES (:w, 0, 0)"), {"w": w})
                    conn.execute(text("INSERT INTO bench_task VALUES (:w, 0)"), {"w": w})
            statements = statements_per_event(url)
        figures["statements_per_event"] = statements
        print(f"PostgreSQL, {seconds:.0f} s per run, writers as processes, load {load:.2f} "
              f"({'quick' if args.quick else 'full'})")
        print(f"statements per event on the writer's path: old {statements['old']}, "
              f"write_last {statements['write_last']}, append {statements['append_seal']}")
        print(f"{'variant':<15}" + "".join(f"{n:>4} writers: ev/s   tx p95  sealed p95 " for n in WRITERS))
        pool = Pool(max(WRITERS))
        for variant in VARIANTS:
            row = figures["postgresql"][variant] = {}
            line = f"{variant:<15}"
            for n in WRITERS:
                r = row[str(n)] = run_variant(pool, admin, template, variant, n, seconds)
                sealed = f"{r['sealed_p95_ms']:8.1f} ms" if r["sealed_p95_ms"] is not None else " " * 11
                line += f"{r['events_per_s']:>16.0f} {r['tx_p95_ms']:6.1f} ms {sealed} "
            print(line, flush=True)
        pool.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        admin.dispose()
    pg = figures["postgresql"]
    top = str(max(WRITERS))
    old_eps, new_eps = pg["old"][top]["events_per_s"], pg["append_seal"][top]["events_per_s"]
    sealer_eps = pg["append_sealer"][top]["events_per_s"]
    figures["ratio_new_to_old_at_8"] = round(new_eps / old_eps, 2)
    figures["load_after"] = round(os.getloadavg()[0], 2)
    latency = pg["append_seal"][top]
    figures["goals"] = [
        {"name": "audit: statements per event on the writer's path", "goal": "<= 1",
         "measured": statements["append_seal"], "p95": None, "unit": "statements", "limit": 1,
         "ratio_to_goal": statements["append_seal"] / 1},
        {"name": "audit: events/s at 8 writers, old head lock vs append + seal after commit",
         "goal": "old/new <= 0.67 (>= 1.5x)",
         "measured": round(old_eps / new_eps, 2), "p95": None, "unit": "ratio", "limit": 0.67,
         "ratio_to_goal": round(old_eps / new_eps / 0.67, 2)},
        {"name": "audit: events/s at 8 writers, old vs append + scheduler's sealer",
         "goal": "old/new <= 0.67 (>= 1.5x)", "measured": round(old_eps / sealer_eps, 2), "p95": None,
         "unit": "ratio", "limit": 0.67, "ratio_to_goal": round(old_eps / sealer_eps / 0.67, 2)},
        {"name": "audit: commit to sealed at 8 writers", "goal": "p95 < 100 ms",
         "measured": latency["sealed_median_ms"], "p95": latency["sealed_p95_ms"], "unit": "ms", "limit": 100,
         "ratio_to_goal": round((latency["sealed_p95_ms"] or 0) / 100, 2)},
    ]
    print(f"append_seal vs old at {top} writers: {new_eps:.0f} vs {old_eps:.0f} events/s "
          f"({figures['ratio_new_to_old_at_8']}x); commit to sealed p95 {latency['sealed_p95_ms']} ms; "
          f"load after {figures['load_after']}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
