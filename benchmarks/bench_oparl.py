"""OParl import at scale: 10,000 papers (the Karlsruhe sample varied) from a local OParl
server on loopback, into SQLite and PostgreSQL side by side.

Prints objects per second of the first import, peak memory (growth of the process's
ru_maxrss: importer and the server's copy of the data together), and the re-import with nothing changed
(time, rows written). Run: .venv/bin/python benchmarks/bench_oparl.py [--papers 10000]
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.db import Database, count_statements  # noqa: E402
from engine.oparl.fetch import Fetcher  # noqa: E402
from engine.oparl.importer import Importer  # noqa: E402
from engine.oparl.sample import KARLSRUHE, OparlStore, SampleServer, load_sample  # noqa: E402
from engine.settings import PROJECT_ROOT, load_settings  # noqa: E402

SAMPLE = PROJECT_ROOT.parent / "shared" / "oparl" / "karlsruhe-sample"
PG_ADMIN = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def varied(data: dict[str, list[dict[str, Any]]], papers: int) -> dict[str, list[dict[str, Any]]]:
    """``papers`` Vorlagen made from the sample's: new ids and Aktenzeichen, same Gremien and Sitzungen."""
    originals = [p for p in data["paper"] if not p.get("deleted")]
    out = []
    for n in range(papers):
        paper = copy.deepcopy(originals[n % len(originals)])
        copy_no = n // len(originals)
        if copy_no:
            suffix = f"-v{copy_no}"
            paper["id"] += suffix
            paper["reference"] = (paper.get("reference") or "ohne") + suffix
            for c in paper.get("consultation", []):
                c["id"] += suffix
                c["paper"] = paper["id"]
                c.pop("agendaItem", None)  # the TOPs belong to the original
            for f in paper.get("auxiliaryFile", []):
                f["id"] += suffix
        out.append(paper)
    return {**data, "paper": out}


def database(kind: str, folder: Path) -> tuple[Database, str | None]:
    if kind == "sqlite":
        url, name = f"sqlite:///{folder / 'bench.sqlite'}", None
    else:
        name = f"ratsflow_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    db = Database(load_settings(env={}, database_url=url, instance_path=folder, scheduler_in_process=False,
                                secret_key="bench"))
    db.upgrade()
    return db, name


def drop(name: str | None) -> None:
    if name is None:
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def bench(kind: str, data: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db, name = database(kind, Path(tmp))
        try:
            store = OparlStore(copy.deepcopy(data))
            with SampleServer(store) as server, \
                    Fetcher(rewrite=server.rewrite, allow_private=True) as fetcher:  # on loopback
                before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                started = time.perf_counter()
                first = Importer(db, fetcher).run(KARLSRUHE + "/system")
                took = time.perf_counter() - started
                peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
                rows = sum(c["neu"] for c in first.counts.values())
            with SampleServer(store) as server, \
                    Fetcher(rewrite=server.rewrite, allow_private=True) as fetcher:  # on loopback
                server.ignore_filters = True  # the worst case: everything comes again, compared
                with count_statements(db.engine) as statements:
                    started = time.perf_counter()
                    Importer(db, fetcher).run(KARLSRUHE + "/system")
                    again = time.perf_counter() - started
                written = [s for s in statements if s.split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"}
                           and "oparl_source" not in s]
            papers = first.counts["paper"]["neu"]
            return {"seconds": took, "rows": rows, "rate": rows / took, "papers_rate": papers / took,
                    "peak_mb": peak / 2**20, "again": again, "again_writes": len(written),
                    "requests": first.requests}
        finally:
            db.dispose()
            drop(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=10_000)
    args = parser.parse_args()
    data = varied(load_sample(SAMPLE), args.papers)
    results = {kind: bench(kind, data) for kind in ("sqlite", "postgresql")}
    print(f"OParl-Import: {args.papers} Vorlagen (+ {len(data['meeting'])} Sitzungen, "
          f"{len(data['organization'])} Gremien) von einem OParl-Server auf 127.0.0.1, Seiten zu 100")
    print(f"{'':38}{'SQLite':>14}{'PostgreSQL':>14}")
    rows = [("Erstimport (s)", "seconds", "{:.1f}"), ("  Zeilen angelegt", "rows", "{:.0f}"),
            ("  Objekte/s (alle Zeilen)", "rate", "{:.0f}"), ("  Vorlagen/s", "papers_rate", "{:.0f}"),
            ("  Abrufe", "requests", "{:.0f}"), ("  Zuwachs ru_maxrss (MB)", "peak_mb", "{:.0f}"),
            ("Zweiter Lauf, alles unverändert (s)", "again", "{:.1f}"),
            ("  Schreibende Anweisungen", "again_writes", "{:.0f}")]
    for label, key, fmt in rows:
        print(f"{label:38}" + "".join(f"{fmt.format(results[k][key]):>14}" for k in results))
    print(f"Prozess ru_maxrss: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
