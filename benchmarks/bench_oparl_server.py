"""Benchmark: a client crawling the OParl server's Vorlagen list at 10,000 Vorlagen, SQLite and
PostgreSQL side by side.

What is built, per database (a throwaway SQLite file or PostgreSQL database, dropped at the end):
the schema by the migrations, the demo (``engine.demo.load_demo``, its Anlagen stored as files),
then ``--papers`` Vorlagen (default 10,600: 10,071 public ones fill 504 pages of 20)
bulk inserted as variations of the seed Vorlage
2024/063 (own reference, Betreff, Vorlage-Art, date, created/modified spread over two years;
one in 20 non-public), each with the seed's two Beratungen and its two Anlagen (the same stored
content), then ANALYZE.

What is measured, through the whole Flask stack (``app.test_client()``, no network): the crawl
of ``/oparl/v1.1/body/1/paper?limit=20`` following every ``next`` link to the end (every page
holds 20 Vorlagen with their Beratungen and Anlagen embedded): pages per second, median and p95
per page, objects per second; then page 1 and page 500 (its keyset cursor as the crawl found
it) requested ``--repeat`` times each (median), which shows whether a deep page costs more; and
a ``modified_since`` crawl of the newest tenth.

Run:  .venv/bin/python benchmarks/bench_oparl_server.py [--papers 10000] [--repeat 50] [--only sqlite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.council import Consultation, File, Paper  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.files import FileStore  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.types import table_of  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TYPES = ["Standardvorlage", "Beschlussvorlage", "Mitteilungsvorlage", "Antrag", "Anfrage"]


def _bulk(app: Any, papers: int) -> int:
    db = app.extensions["ratsflow.db"]
    with db.unit_of_work() as s:
        store = FileStore(app.extensions["ratsflow.settings"].files_path)
        load_demo(s, "benchmark-passwort", now=NOW, files=store, week=False)
        seed = s.exec(select(Paper).where(Paper.reference == "2024/063")).one()
        consultations = s.exec(select(Consultation).where(Consultation.paper_id == seed.id)).all()
        files = s.exec(select(File).where(File.paper_id == seed.id)).all()
        start = datetime(2024, 1, 1, tzinfo=UTC)
        rows = []
        for n in range(papers):
            at = start + timedelta(minutes=105 * n)
            rows.append({"body_id": seed.body_id, "reference": f"B{2024 + n // 5000}/{n:05d}",
                         "name": f"{seed.name} ({n})", "paper_type": TYPES[n % 5], "date": at.date(),
                         "public": n % 20 != 7, "status": seed.status,
                         "under_direction_of_id": seed.under_direction_of_id, "clerk_id": seed.clerk_id,
                         "facts": seed.facts, "proposal_heading": seed.proposal_heading,
                         "proposal": seed.proposal, "financial_impact": seed.financial_impact,
                         "personnel_impact": seed.personnel_impact, "created": at, "modified": at})
        s.execute(insert(table_of(Paper)), rows)
        ids = [i for i in s.exec(select(Paper.id).where(Paper.id != seed.id).order_by(Paper.id)) if i]
        at_of = {i: r["created"] for i, r in zip(ids, rows, strict=True)}
        s.execute(insert(table_of(Consultation)), [
            {"paper_id": i, "position": c.position, "organization_id": c.organization_id,
             "meeting_id": c.meeting_id, "role": c.role, "authoritative": c.authoritative,
             "created": at_of[i], "modified": at_of[i]} for i in ids for c in consultations])
        s.execute(insert(table_of(File)), [
            {"paper_id": i, "position": f.position, "name": f.name, "file_name": f.file_name,
             "mime_type": f.mime_type, "size": f.size, "sha_512_checksum": f.sha_512_checksum,
             "created": at_of[i]} for i in ids for f in files])
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return len(ids)


def _get(client: Any, url: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    response = client.get(url.removeprefix("http://localhost"))
    payload = response.get_json()
    elapsed = time.perf_counter() - t0
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return elapsed, payload


def _crawl(client: Any, url: str) -> tuple[list[float], list[str], int, float]:
    times, urls, objects = [], [], 0
    t0 = time.perf_counter()
    next_url: str | None = url
    while next_url:
        urls.append(next_url)
        elapsed, page = _get(client, next_url)
        times.append(elapsed)
        objects += len(page["data"])
        next_url = page["links"].get("next")
    return times, urls, objects, time.perf_counter() - t0


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def measure(database_url: str, papers: int, repeat: int, instance: Path) -> dict[str, Any]:
    from web import create_app

    # The test client asks as http://localhost: that is the canonical address here (ids, no 301).
    settings = load_settings(env={"RATSFLOW_BASE_URL": "http://localhost"}, database_url=database_url,
                             instance_path=instance, scheduler_in_process=False, secret_key="benchmark")
    app = create_app(settings, upgrade=True)  # a fresh database: migrate it here
    try:
        t0 = time.perf_counter()
        total = _bulk(app, papers)
        load_s = time.perf_counter() - t0
        client = app.test_client()
        list_url = "/oparl/v1.1/body/1/paper?limit=20"
        _crawl(client, list_url)  # warm-up: caches, statement cache, page cache
        times, urls, objects, wall = _crawl(client, list_url)
        deep = min(500, len(urls)) - 1
        first = [_get(client, urls[0])[0] for _ in range(repeat)]
        page500 = [_get(client, urls[deep])[0] for _ in range(repeat)]
        since = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=105 * int(papers * 0.9))).isoformat()
        recent_times, _, recent, recent_wall = _crawl(
            client, f"/oparl/v1.1/body/1/paper?limit=20&modified_since={since.replace('+', '%2B')}")
        return {"papers": total + 1, "load_s": load_s, "pages": len(times), "objects": objects, "wall": wall,
                "median": statistics.median(times), "p95": _p95(times), "max": max(times),
                "first": statistics.median(first), "deep": statistics.median(page500), "deep_n": deep + 1,
                "recent_pages": len(recent_times), "recent": recent, "recent_wall": recent_wall}
    finally:
        app.extensions["ratsflow.db"].dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=10_600)  # 10,071 public: 504 pages of 20
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            results["SQLite"] = measure(f"sqlite:///{tmp}/bench.sqlite", args.papers, args.repeat,
                                        Path(tmp) / "instance-sqlite")
        if args.only in (None, "postgresql"):
            name = f"ratsflow_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                results["PostgreSQL"] = measure(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", args.papers,
                                                args.repeat, Path(tmp) / "instance-pg")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    rows = [
        ("Vorlagen in the database (1 in 20 non-public)", lambda r: f"{r['papers']:,}"),
        ("bulk load (s)", lambda r: f"{r['load_s']:.1f}"),
        ("crawl: pages (limit 20) / public Vorlagen", lambda r: f"{r['pages']} / {r['objects']:,}"),
        ("crawl: wall time (s)", lambda r: f"{r['wall']:.2f}"),
        ("crawl: pages per second", lambda r: f"{r['pages'] / r['wall']:.0f}"),
        ("crawl: Vorlagen per second", lambda r: f"{r['objects'] / r['wall']:.0f}"),
        ("per page: median (ms)", lambda r: f"{r['median'] * 1000:.1f}"),
        ("per page: p95 (ms)", lambda r: f"{r['p95'] * 1000:.1f}"),
        ("per page: max (ms)", lambda r: f"{r['max'] * 1000:.1f}"),
        ("page 1, median (ms)", lambda r: f"{r['first'] * 1000:.1f}"),
        ("page N (keyset cursor), median (ms)", lambda r: f"{r['deep'] * 1000:.1f} (N={r['deep_n']})"),
        ("page N / page 1", lambda r: f"{r['deep'] / r['first']:.2f}"),
        ("modified_since newest tenth: pages / s", lambda r: f"{r['recent_pages']} / {r['recent_wall']:.2f}"),
    ]
    names = list(results)
    print(f"{'':48}" + "".join(f"{n:>18}" for n in names))
    for label, fmt in rows:
        print(f"{label:48}" + "".join(f"{fmt(results[n]):>18}" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
