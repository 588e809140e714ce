"""Benchmark: the JSON API v1 over many Vorlagen, on SQLite and on PostgreSQL.

For each database (a throwaway one, dropped at the end): the migrations, the demo (with its
week of further Vorlagen), then ``--papers`` more Vorlagen (default 20,000) with two Beratungen
each, inserted in bulk. Measured through Flask's test client, server time per request
(median, p95 over ``--requests``):

* ``GET /api/v1/papers?limit=50``: the first page with each Vorlage's Beratungsfolge;
* the same list deep in: the cursor after ``DEEP`` pages (keyset: it should cost the same);
* ``GET /api/v1/meetings?limit=50`` and ``GET /api/v1/tasks`` (the secretary's inbox);
* ``GET /api/v1/me/reminders`` with a bearer token and with the session cookie: what checking
  a token costs (a lookup by hash and the account's grants, in a unit of work of its own).

Run:  .venv/bin/python benchmarks/bench_api.py [--papers 20000] [--requests 100] [--only sqlite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from engine.accounts import load_actor  # noqa: E402
from engine.council import Account, Consultation, Organization, Paper  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.identity import tokens  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.types import table_of  # noqa: E402
from web import create_app  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-passwort"
DEEP = 100
CHUNK = 5000


def _fill(database: Database, count: int) -> None:
    with database.unit_of_work() as s:
        body_id = s.exec(select(Paper.body_id)).first()[0]  # type: ignore[index]
        orgs = [o for (o,) in s.exec(select(Organization.id)
                                     .where(Organization.organization_type == "Gremium"))]
    papers, consultations = table_of(Paper), table_of(Consultation)
    now = datetime.now(UTC)
    with database.engine.begin() as conn:
        start = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM paper")).scalar_one() + 1
        for first in range(0, count, CHUNK):
            ids = range(start + first, start + min(first + CHUNK, count))
            conn.execute(insert(papers), [{
                "id": i, "body_id": body_id, "reference": f"B/{i:07d}", "name": f"Vorlage {i}",
                "paper_type": "Beschlussvorlage", "public": i % 5 != 0, "status": "in Beratung",
                "facts": "", "proposal_heading": "Beschlussvorschlag", "proposal": "", "financial_impact": "",
                "personnel_impact": "", "created": now, "modified": now} for i in ids])
            conn.execute(insert(consultations), [
                {"paper_id": i, "position": p, "organization_id": orgs[(i + p) % len(orgs)],
                 "role": "Vorberatung" if p == 1 else "Entscheidung", "authoritative": p == 2}
                for i in ids for p in (1, 2)])
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('paper_id_seq', (SELECT MAX(id) FROM paper))"))
            conn.execute(text("ANALYZE"))


def _measure(client, url: str, requests: int,  # type: ignore[no-untyped-def]
             headers: dict[str, str] | None = None) -> tuple[float, float, int]:
    times = []
    size = 0
    for i in range(requests + 5):
        started = time.perf_counter()
        response = client.get(url, headers=headers or {})
        took = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:200])
        size = len(response.get_data())
        response.close()
        if i >= 5:
            times.append(took * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], size


def run(name: str, url: str, papers: int, requests: int) -> None:
    instance = Path(tempfile.mkdtemp())
    settings = load_settings(env={}, database_url=url, instance_path=instance, scheduler_in_process=False,
                             secret_key="bench")
    database = Database(settings)
    database.upgrade()
    with database.unit_of_work() as s:
        load_demo(s, PASSWORD)
    started = time.perf_counter()
    _fill(database, papers)
    print(f"\n{name}: {papers} Vorlagen eingefügt in {time.perf_counter() - started:.1f} s")
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "hoffmann")).first()[0]  # type: ignore[index]
        actor = load_actor(s, account.id)
        assert actor is not None
        plain = tokens.create(s, actor, actor.account_id, "bench", list(tokens.SCOPES), None).plain
    app = create_app(settings, upgrade=False)
    bearer = {"Authorization": f"Bearer {plain}"}
    client = app.test_client()
    cursor = ""
    for _ in range(DEEP):
        response = client.get(f"/api/v1/papers?limit=50{cursor}", headers=bearer)
        cursor = f"&cursor={response.get_json()['next']}"
        response.close()
    cookie = app.test_client()
    with cookie.session_transaction() as sess:
        sess["account_id"] = actor.account_id
    rows = [
        ("papers, Seite 1", "/api/v1/papers?limit=50", bearer, client),
        (f"papers, Seite {DEEP + 1}", f"/api/v1/papers?limit=50{cursor}", bearer, client),
        ("meetings, Seite 1", "/api/v1/meetings?limit=50", bearer, client),
        ("tasks (Gremium)", "/api/v1/tasks", bearer, client),
        ("me/reminders, Token", "/api/v1/me/reminders?limit=5", bearer, client),
        ("me/reminders, Cookie", "/api/v1/me/reminders?limit=5", {}, cookie),
    ]
    print(f"{'Anfrage':<24} {'Median ms':>10} {'p95 ms':>8} {'Bytes':>9}")
    for label, path, headers, who in rows:
        median, p95, size = _measure(who, path, requests, headers)
        print(f"{label:<24} {median:>10.1f} {p95:>8.1f} {size:>9}")
    app.extensions["ratsflow.db"].dispose()
    database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if args.only != "postgresql":
        run("SQLite", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite", args.papers, args.requests)
    if args.only != "sqlite":
        name = f"ratsflow_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("PostgreSQL", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", args.papers, args.requests)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
