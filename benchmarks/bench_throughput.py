"""Benchmark: task completions per second over real HTTP, production serving, PostgreSQL.

What is measured: ``ratsflow serve --workers W`` (gunicorn, ``web/gunicorn_conf.py``) in its
own process on loopback against a fresh PostgreSQL database, the login counters in the Redis
on loopback; a load generator in a process of its own, with 1, 4 and 16 clients, each one
keep-alive connection (``http.client``) sending ``POST /api/v1/tasks/<id>/complete`` with the
Sekretariat's API token, every task completed once. Per configuration: completions per
second (wall time from the first request to the last answer), latency median and p95.

Beside it, in the same run, the floors: the same server answering ``GET /healthz`` (routing,
one database round trip, nothing written) with the same clients, and the bare engine round
trip (deserialize, complete, engine steps, serialize: ``bench_completion.bare_round``) on one
core in this process, and that rate times the two cores.

Setup (not timed): demo, upcoming Sitzungen of its committee (at most ~40 tasks each, as on a
real agenda), many started Beratungsfolgen waiting at "Tagesordnung" (started in two
processes), a warm-up that brings every worker's app and script sandbox up.

Run:  .venv/bin/python benchmarks/bench_throughput.py [--quick] [--json] [--workers 2 4] [--clients 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from engine.db import Database  # noqa: E402
from engine.process import procedures  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.tasks import HumanTask  # noqa: E402
from engine.workflow.models import ProcessInstance, ProcessModel  # noqa: E402
from tests.load_scenario import prepare  # noqa: E402
from tests.serving import Job, Outcome, Server, complete_tasks, get_many, ratsflow_env  # noqa: E402

PG_ADMIN_URL = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RATSFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")
GOAL_PER_S = 300.0
#: Completions per configuration, by number of clients (full run, quick run).
FULL = {1: 200, 4: 600, 16: 1000}
QUICK = {1: 50, 4: 150, 16: 250}
WARMUP_PER_WORKER = 10
TASKS_PER_MEETING = 40


def _generate(port: int, token: str, jobs: list[Job], clients: int) -> Outcome:
    """In the load generator's own process."""
    return complete_tasks(port, token, jobs, clients)


def _floor(port: int, clients: int, count: int) -> Outcome:
    return get_many(port, "/healthz", clients, count)


def bare_rate(database: Database, jobs: list[Job], rounds: int) -> float:
    """The bare SpiffWorkflow round trip of the same kind of state, per second on one core
    (median of ``rounds``), as ``bench_completion.py`` measures it."""
    import bench_completion as bc

    ids = [j.task_id for j in jobs[:rounds]]
    with database.unit_of_work(write=False) as s:
        rows = s.exec(select(HumanTask, ProcessInstance, ProcessModel.spec_json)
                      .join(ProcessInstance, col(ProcessInstance.id) == HumanTask.process_instance_id)
                      .join(ProcessModel, col(ProcessModel.id) == ProcessInstance.model_id)
                      .where(col(HumanTask.id).in_(ids))).all()
        form, _ = procedures.task_form(s, rows[0][0])
        values = form.validate({"meeting_id": jobs[0].meeting_id})
        states = [bc.full_state({"state": inst.state, "spec_json": spec}) for _t, inst, spec in rows]
    times = [bc.bare_round(state, values) for state in states]
    return 1.0 / statistics.median(times)


def run(workers_list: list[int], clients_list: list[int], counts: dict[int, int]) -> dict:
    name = f"ratsflow_bench_tp_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    result: dict = {"configs": [], "floor_healthz": [], "load_before": os.getloadavg()[0]}
    try:
        with tempfile.TemporaryDirectory(prefix="ratsflow-tp-") as tmp:
            instance = Path(tmp) / "instance"
            settings = load_settings(env={}, database_url=url, instance_path=instance,
                                     scheduler_in_process=False, secret_key="bench")
            with Database(settings) as database:
                database.upgrade()
                per_server = sum(counts[c] for c in clients_list)
                warmup = max(workers_list) * WARMUP_PER_WORKER
                total = len(workers_list) * (per_server + warmup)
                t0 = time.perf_counter()
                prepared = prepare(database, tasks=total, meetings=max(1, total // TASKS_PER_MEETING),
                                   processes=2)
                result["setup_s"] = round(time.perf_counter() - t0, 1)
                result["bare_per_s_one_core"] = round(bare_rate(database, prepared.jobs, 50), 1)
            env = ratsflow_env(url, instance, RATSFLOW_SCHEDULER="false",
                               RATSFLOW_RATELIMIT_STORAGE=REDIS_URL)
            jobs = list(prepared.jobs)
            generator = ProcessPoolExecutor(1, mp_context=get_context("spawn"))  # its own process
            try:
                for workers in workers_list:
                    with Server(env, workers) as server:
                        warm, jobs = jobs[:workers * WARMUP_PER_WORKER], jobs[workers * WARMUP_PER_WORKER:]
                        generator.submit(_generate, server.port, prepared.token, warm,
                                         min(4, workers * 2)).result()
                        for clients in clients_list:
                            floor = generator.submit(_floor, server.port, clients, counts[clients]).result()
                            result["floor_healthz"].append(_summary(workers, clients, floor))
                            mine, jobs = jobs[:counts[clients]], jobs[counts[clients]:]
                            outcome = generator.submit(_generate, server.port, prepared.token, mine,
                                                       clients).result()
                            failed = [t for t, codes in outcome.statuses.items() if codes != [200]]
                            summary = _summary(workers, clients, outcome)
                            summary["failed"] = len(failed) + len(outcome.errors)
                            result["configs"].append(summary)
                            _print_row(summary, result["floor_healthz"][-1])
            finally:
                generator.shutdown()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    result["load_after"] = os.getloadavg()[0]
    return result


def _summary(workers: int, clients: int, outcome: Outcome) -> dict:
    return {"workers": workers, "clients": clients, "count": outcome.completed,
            "per_s": round(outcome.rate, 1), "median_ms": round(outcome.median_ms, 2),
            "p95_ms": round(outcome.percentile(95), 2)}


def _print_row(ours: dict, floor: dict) -> None:
    print(f"  {ours['workers']:>7} {ours['clients']:>7} {ours['count']:>7} {ours['per_s']:>10.1f} "
          f"{ours['median_ms']:>9.1f} {ours['p95_ms']:>8.1f}   {floor['per_s']:>9.1f} "
          f"{floor['median_ms']:>9.2f}"
          f"{'  FAILED ' + str(ours['failed']) if ours.get('failed') else ''}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--quick", action="store_true", help="fewer completions per configuration (<= 3 min)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = parser.parse_args()
    counts = {c: (QUICK if args.quick else FULL).get(c, 200 if args.quick else 600) for c in args.clients}
    print(f"Throughput over HTTP (loopback, PostgreSQL, gunicorn gthread), load {os.getloadavg()[0]:.2f}")
    print(f"  {'workers':>7} {'clients':>7} {'done':>7} {'compl./s':>10} {'median':>9} {'p95 ms':>8}   "
          f"{'healthz/s':>9} {'median':>9}")
    result = run(args.workers, args.clients, counts)
    best = max(result["configs"], key=lambda r: r["per_s"])
    bare = result["bare_per_s_one_core"]
    print(f"  bare engine round trip: {bare:.0f}/s on one core, {2 * bare:.0f}/s on two (the ceiling of "
          "any server on this machine)")
    print(f"  best: {best['per_s']:.1f} completions/s ({best['workers']} workers, "
          f"{best['clients']} clients), "
          f"goal >= {GOAL_PER_S:.0f}/s: {'met' if best['per_s'] >= GOAL_PER_S else 'NOT met'}; "
          f"{best['per_s'] / (2 * bare):.0%} of the two-core bare ceiling")
    print(f"  setup {result['setup_s']} s; load {result['load_before']:.2f} before, "
          f"{result['load_after']:.2f} after")
    failures = sum(r.get("failed", 0) for r in result["configs"])
    if failures:
        print(f"  {failures} completions did not answer 200")
    ms_per = 1000.0 / best["per_s"] if best["per_s"] else float("inf")
    limit = 1000.0 / GOAL_PER_S
    result["best"] = best
    result["goals"] = [{
        "name": "throughput: wall ms per completion, best of workers 2/4 x clients 1/4/16",
        "goal": f">= {GOAL_PER_S:.0f} completions/s on two cores (<= {limit:.2f} ms each)",
        "measured": round(ms_per, 3), "p95": None, "unit": "ms", "limit": round(limit, 3),
        "ratio_to_goal": round(ms_per / limit, 3)}]
    if args.json:
        print(json.dumps(result))
    return 0 if best["per_s"] >= GOAL_PER_S and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
