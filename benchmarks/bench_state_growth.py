"""Benchmark: does a Vorlage's workflow state (and so its completion) grow with its history?

On a throwaway SQLite database (or PostgreSQL with ``--backend postgresql``): the demo, one
Gremium with a session every week for a year and a half, and one Vorlage with a single
Beratung in it. The Beratung is then vertagt again and again (Tagesordnung → Ergebnis
"vertagt" → Tagesordnung … : the loop every postponed Vorlage runs). After 1, 10 and 50
Beratungen (sessions it was on), measured:

* the size of the instance's stored state (bytes of JSON; the model version's spec is stored
  once per version, not in the state), and the number of SpiffWorkflow tasks in it;
* the time of the next completion ("Auf die Tagesordnung setzen", through
  ``procedures.complete_task`` in a unit of work that is rolled back, so it can be repeated:
  median over ``--repeat``).

Goal (issue 16): completion at 50 costs at most 1.5x completion at 1.

Run:  .venv/bin/python benchmarks/bench_state_growth.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.accounts import Actor, load_actor  # noqa: E402
from engine.council import Account, Consultation, Meeting, Paper  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.process import procedures  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.tasks import TASK_READY, HumanTask  # noqa: E402
from engine.workflow.models import ProcessInstance  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHECKPOINTS = (1, 10, 50)
GOAL = 1.5


def _actor(s: Any, username: str) -> Actor:
    account = s.exec(select(Account).where(Account.username == username)).one()
    actor = load_actor(s, account.id)
    assert actor is not None
    return actor


def _open_task(s: Any, paper_id: int) -> tuple[HumanTask, int]:
    task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                          HumanTask.status == TASK_READY)).one()
    version = s.get(ProcessInstance, task.process_instance_id).version
    return task, version


def run(url: str, repeat: int) -> dict[str, Any]:
    settings = load_settings(env={}, database_url=url, instance_path=Path(tempfile.mkdtemp()) / "i",
                             scheduler_in_process=False, secret_key="bench")
    db = Database(settings)
    db.upgrade()
    with db.unit_of_work() as s:
        demo = load_demo(s, "bench-passwort")
        committee_id = demo.committee_meeting.organization_id
        first = demo.committee_meeting.start + timedelta(days=60)
        for week in range(max(CHECKPOINTS) + 5):
            s.add(Meeting(organization_id=committee_id, reference=f"BENCH/{week}", name=f"Sitzung {week}",
                          start=first + timedelta(weeks=week), end=first + timedelta(weeks=week, hours=2)))
        seed = s.get(Paper, demo.paper_id)
        paper = Paper(body_id=seed.body_id, reference="BENCH/LOOP", name="Immer wieder vertagt",
                      paper_type=seed.paper_type, public=True,
                      under_direction_of_id=seed.under_direction_of_id, clerk_id=seed.clerk_id)
        s.add(paper)
        s.flush()
        s.add(Consultation(paper_id=paper.id, position=1, organization_id=committee_id, role="Entscheidung"))
        s.flush()
        procedures.start_beratungsfolge(s, _actor(s, "zierstedt"), paper.id, now=first - timedelta(days=30))
        paper_id = paper.id
    meetings_ahead = []
    with db.unit_of_work() as s:
        meetings_ahead = [(m.id, m.start) for m in s.exec(
            select(Meeting).where(Meeting.reference.startswith("BENCH/")).order_by(Meeting.start))]  # type: ignore[attr-defined]

    figures: dict[str, Any] = {}
    for beratungen in range(1, max(CHECKPOINTS) + 1):
        meeting_id, start = meetings_ahead[beratungen - 1]
        now = start - timedelta(days=3)
        if beratungen in CHECKPOINTS:
            figures[str(beratungen)] = measure(db, paper_id, meeting_id, now, repeat)
        with db.unit_of_work() as s:
            task, version = _open_task(s, paper_id)
            procedures.complete_task(s, _actor(s, "hoffmann"), task.id, {"meeting_id": meeting_id}, version,
                                     now=now)
        with db.unit_of_work() as s:
            task, version = _open_task(s, paper_id)
            procedures.complete_task(s, _actor(s, "hoffmann"), task.id, {"ergebnis": "vertagt"}, version,
                                     now=start + timedelta(hours=3))
    db.dispose()
    return figures


def measure(db: Database, paper_id: int, meeting_id: int, now: Any, repeat: int) -> dict[str, Any]:
    with db.unit_of_work() as s:
        task, version = _open_task(s, paper_id)
        instance = s.get(ProcessInstance, task.process_instance_id)
        state_bytes = len(instance.state.encode())
        tasks = len(json.loads(instance.state)["tasks"])
    times, cpu = [], []
    gc.collect()
    for _ in range(repeat):
        uow = db.begin()
        try:
            s = uow.session
            actor = _actor(s, "hoffmann")
            started, started_cpu = time.perf_counter(), time.process_time()
            procedures.complete_task(s, actor, task.id, {"meeting_id": meeting_id}, version, now=now)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        finally:
            uow.rollback()
            uow.close()
    return {"state_bytes": state_bytes, "spiff_tasks": tasks,
            "completion_ms": statistics.median(times) * 1000,
            "completion_cpu_ms": statistics.median(cpu) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args = parser.parse_args()
    repeat = 10 if args.quick else args.repeat
    with tempfile.TemporaryDirectory(prefix="ratsflow-bench-") as tmp:
        name = None
        admin = None
        if args.backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        else:
            name = f"ratsflow_bench_{uuid.uuid4().hex[:12]}"
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            figures = run(url, repeat)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    base = figures["1"]["completion_ms"]
    print(f"State growth ({args.backend}), a Beratung vertagt again and again; completion = "
          f"'Auf die Tagesordnung setzen', median of {repeat}")
    print(f"  {'Beratungen':>10}{'state KB':>10}{'tasks':>8}{'ms':>8}{'x at 1':>8}{'CPU ms':>8}{'x at 1':>8}")
    cpu_base = figures["1"]["completion_cpu_ms"]
    for k, f in figures.items():
        print(f"  {k:>10}{f['state_bytes'] / 1024:>10.1f}{f['spiff_tasks']:>8}{f['completion_ms']:>8.2f}"
              f"{f['completion_ms'] / base:>8.2f}{f['completion_cpu_ms']:>8.2f}"
              f"{f['completion_cpu_ms'] / cpu_base:>8.2f}")
    print(f"  machine load (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    ratio = figures["50"]["completion_ms"] / base
    print(f"  goal: completion at 50 <= {GOAL}x at 1: {ratio:.2f}x {'met' if ratio <= GOAL else 'NOT met'}")
    if args.json:
        print(json.dumps({"backend": args.backend, "checkpoints": figures, "load": os.getloadavg()[0],
                          "goals": [{
            "name": "Abschluss nach 50 Beratungen / nach 1", "goal": f"<= {GOAL}x", "measured": ratio,
            "p95": None, "unit": "x", "limit": GOAL, "ratio_to_goal": ratio / GOAL}]}))
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
