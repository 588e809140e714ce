"""Benchmark: completing a human task over HTTP versus a bare SpiffWorkflow round trip.

What is measured, per database backend (SQLite file, PostgreSQL):

* HTTP: ``POST /api/v1/tasks/<id>/complete`` through the Flask test client, logged in as
  the Sekretariat of the first demo Gremium. Each round completes the first task
  ("Tagesordnung") of a different Vorlage whose Beratungsfolge (the two demo Gremien) was
  started during setup. This includes routing, login lookup, form validation, restoring the
  workflow from the database, running it, saving it, the human-task rows, domain rows
  (AgendaItem) and the audit event, all in one committed unit of work. SQL statements are
  counted with ``engine.db.count_statements`` around the timed loop (on SQLite this includes
  the ``BEGIN IMMEDIATE`` of each unit of work; on PostgreSQL, BEGIN/COMMIT and the pool's
  pre-ping go past SQLAlchemy's cursor events and are not counted).
* Bare: for the same number of rounds and the same kind of state (a started
  Beratungsfolge waiting at Tagesordnung): ``BpmnWorkflowSerializer.deserialize_json``
  of the full serializer JSON (spec included, SPIFF_CONFIG registry), complete the ready
  user task with the same (validated) data, ``do_engine_steps()``, ``serialize_json``.

Both sides use the restricted script engine (``engine.workflow.sandbox``). Setup (fresh
database, migrations, demo data, papers, started procedures) is not timed; a few warm-up
rounds run before timing on both sides; then bare and HTTP rounds alternate, so both see
the same machine load. Times come from ``time.perf_counter``; the target is judged on the
median ratio (robust against spikes from other load), the mean is shown as well.

Run:  .venv/bin/python benchmarks/bench_completion.py [--rounds 200] [--backend both]
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
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import select  # noqa: E402

from engine.accounts import Account, load_actor  # noqa: E402
from engine.council import Consultation, Meeting, Paper  # noqa: E402
from engine.db import count_statements  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.process import procedures  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.tasks import TASK_READY, HumanTask  # noqa: E402
from engine.workflow import runtime  # noqa: E402
from engine.workflow.models import ProcessInstance, ProcessModel  # noqa: E402
from engine.workflow.sandbox import restricted_script_engine  # noqa: E402
from web import create_app  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-passwort"
WARMUP = 5
TARGETS = {"sqlite": 3.0, "postgresql": 4.0}


def prepare(db, count: int) -> tuple[list[dict], int]:
    """Demo data plus ``count`` started Vorlagen; their Tagesordnung task, version, state."""
    with db.unit_of_work() as s:
        demo = load_demo(s, PASSWORD)
        committee_id = demo.committee_meeting.organization_id
        assembly_id = demo.assembly_meeting.organization_id
        # The committee's next session: the demo's SI/2024/131 lies in the past (its result is
        # what the demo waits for), and the agenda step offers only sessions ahead.
        meeting_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/140")).one()
        seed = s.get(Paper, demo.paper_id)
        clerk = s.exec(select(Account).where(Account.username == "zierstedt")).one()
        actor = load_actor(s, clerk.id)
        paper_ids = []
        for i in range(count):
            paper = Paper(body_id=seed.body_id, reference=f"BENCH/{i:05d}", name=f"Benchmark {i}",
                          paper_type=seed.paper_type, public=True,
                          under_direction_of_id=seed.under_direction_of_id, clerk_id=seed.clerk_id)
            s.add(paper)
            s.flush()
            s.add(Consultation(paper_id=paper.id, position=1, organization_id=committee_id,
                               role="Kenntnisnahme"))
            s.add(Consultation(paper_id=paper.id, position=2, organization_id=assembly_id,
                               role="Kenntnisnahme"))
            s.flush()
            procedures.start_beratungsfolge(s, actor, paper.id)
            paper_ids.append(paper.id)
    with db.unit_of_work() as s:  # read everything the timed loops need, before timing
        rows = s.exec(
            select(HumanTask, ProcessInstance, ProcessModel.spec_json)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.process_instance_id)
            .join(ProcessModel, ProcessModel.id == ProcessInstance.model_id)
            .where(HumanTask.paper_id.in_(paper_ids), HumanTask.bpmn_id == "Tagesordnung",
                   HumanTask.status == TASK_READY)
            .order_by(HumanTask.id)
        ).all()
        assert len(rows) == count, (len(rows), count)
        form, _ = procedures.task_form(s, rows[0][0])
        values = form.validate({"meeting_id": meeting_id})  # what the HTTP path puts in task data
        jobs = [{"task_id": t.id, "version": inst.version, "state": inst.state, "spec_json": spec,
                 "values": values} for t, inst, spec in rows]
    return jobs, meeting_id


def http_client(app):
    """A test client logged in as the Sekretariat of the first Gremium (owner of Tagesordnung)."""
    client = app.test_client()
    client.get("/anmelden")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    response = client.post("/anmelden", data={"username": "hoffmann", "password": PASSWORD,
                                              "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    # Cookie-authenticated API writes carry the session's CSRF token, as the app's pages send it.
    with client.session_transaction() as sess:
        client.environ_base["HTTP_X_CSRF_TOKEN"] = sess["csrf"]
    return client


def http_round(client, job: dict, meeting_id: int) -> float:
    t0 = time.perf_counter()
    response = client.post(f"/api/v1/tasks/{job['task_id']}/complete", json={
        "data": {"meeting_id": meeting_id}, "expected_version": job["version"]})
    elapsed = time.perf_counter() - t0
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
    return elapsed


SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def full_state(job: dict) -> str:
    """The same state the HTTP path starts from, as full serializer JSON (spec included)."""
    return SERIALIZER.serialize_json(runtime.restore(job["state"], job["spec_json"]))


def bare_round(state: str, values: dict) -> float:
    t0 = time.perf_counter()
    workflow = SERIALIZER.deserialize_json(state)
    workflow.script_engine = restricted_script_engine()
    [task] = workflow.get_tasks(state=TaskState.READY, manual=True)
    task.data.update(values)
    task.run()
    workflow.do_engine_steps()
    SERIALIZER.serialize_json(workflow)
    elapsed = time.perf_counter() - t0
    assert task.task_spec.bpmn_id == "Tagesordnung" and not workflow.is_completed()
    return elapsed


def measure(app, jobs: list[dict], meeting_id: int) -> tuple[list[float], list[float], int]:
    """Warm up, then alternate one bare and one HTTP round, so both see the same machine load."""
    client = http_client(app)
    states = [full_state(job) for job in jobs]
    for state, job in zip(states[:WARMUP], jobs[:WARMUP], strict=True):
        bare_round(state, job["values"])
        http_round(client, job, meeting_id)
    bare, http = [], []
    gc.collect()
    with count_statements(app.extensions["ratsflow.db"].engine) as seen:
        for state, job in zip(states[WARMUP:], jobs[WARMUP:], strict=True):
            bare.append(bare_round(state, job["values"]))
            http.append(http_round(client, job, meeting_id))
    return http, bare, len(seen)


def run_backend(backend: str, rounds: int, seal: str = "commit") -> dict:
    with tempfile.TemporaryDirectory(prefix="ratsflow-bench-") as tmp:
        admin, name = None, None
        if backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        else:
            name = f"ratsflow_bench_{uuid.uuid4().hex[:12]}"
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        app = None
        try:
            settings = load_settings(env={}, database_url=url, instance_path=Path(tmp) / "instance",
                                     scheduler_in_process=False, secret_key="bench")
            settings = replace(settings, audit_seal=seal)
            app = create_app(settings, upgrade=True)  # a fresh database: migrate it here
            jobs, meeting_id = prepare(app.extensions["ratsflow.db"], rounds + WARMUP)
            http, bare, statements = measure(app, jobs, meeting_id)
        finally:
            if app is not None:
                app.extensions["ratsflow.db"].dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    return {"http": http, "bare": bare, "statements": statements / len(http)}


def report(backend: str, rounds: int, result: dict) -> bool:
    def ms(values: list[float]) -> tuple[float, float]:
        return statistics.mean(values) * 1000, statistics.median(values) * 1000

    http_mean, http_median = ms(result["http"])
    bare_mean, bare_median = ms(result["bare"])
    ratio_mean, ratio_median = http_mean / bare_mean, http_median / bare_median
    target = TARGETS[backend]
    met = ratio_median <= target

    def verdict(ratio: float) -> str:
        return f"{ratio:.2f}x {'met' if ratio <= target else 'NOT met'}"

    print(f"\n{backend}: {rounds} completions each side (after {WARMUP} warm-up rounds)")
    print(f"  {'':28}{'HTTP':>10}{'bare':>10}{'HTTP/bare':>12}")
    print(f"  {'mean ms/completion':28}{http_mean:>10.2f}{bare_mean:>10.2f}{ratio_mean:>11.2f}x")
    print(f"  {'median ms/completion':28}{http_median:>10.2f}{bare_median:>10.2f}"
          f"{ratio_median:>11.2f}x")
    print(f"  {'SQL statements/completion':28}{result['statements']:>10.1f}{'-':>10}")
    print(f"  target HTTP/bare <= {target:.0f}x: median {verdict(ratio_median)} "
          f"(mean {verdict(ratio_mean)})")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="50 rounds each")
    parser.add_argument("--seal", choices=["commit", "scheduler"], default="commit",
                        help="RATSFLOW_AUDIT_SEAL: the audit event sealed after the commit (default) "
                             "or by the scheduler's sealer")
    parser.add_argument("--json", action="store_true", help="last line: the figures as one JSON object")
    args = parser.parse_args()
    rounds = 50 if args.quick else args.rounds
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print("Task completion: HTTP (POST /api/v1/tasks/<id>/complete) vs bare SpiffWorkflow "
          "round trip (deserialize_json with spec, run, do_engine_steps, serialize_json).")
    print("Both sides use the restricted script engine (engine.workflow.sandbox).")
    results = {backend: run_backend(backend, rounds, args.seal) for backend in backends}
    print(f"audit seal: {args.seal}")
    met = [report(backend, rounds, result) for backend, result in results.items()]
    print(f"machine load (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.json:
        figures: dict[str, Any] = {"load": os.getloadavg()[0], "seal": args.seal, "goals": []}
        for backend, result in results.items():
            http, bare = statistics.median(result["http"]) * 1000, statistics.median(result["bare"]) * 1000
            p95 = statistics.quantiles(result["http"], n=20)[-1] * 1000
            ratio, target = http / bare, TARGETS[backend]
            figures[backend] = {"http_ms": round(http, 3), "http_p95_ms": round(p95, 3),
                                "bare_ms": round(bare, 3), "ratio": round(ratio, 2),
                                "statements": result["statements"]}
            figures["goals"].append({"name": f"Abschluss HTTP/bar ({backend})", "goal": f"<= {target:g}x",
                                     "measured": round(ratio, 2), "p95": None, "unit": "x",
                                     "limit": target, "ratio_to_goal": round(ratio / target, 2)})
            if backend == "postgresql":
                figures["goals"].append({"name": "Anweisungen je Abschluss (PostgreSQL)", "goal": "<= 8",
                                         "measured": result["statements"], "p95": None, "unit": "",
                                         "limit": 8, "ratio_to_goal": round(result["statements"] / 8, 2)})
        print(json.dumps(figures))
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
