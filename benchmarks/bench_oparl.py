"""OParl import at the speed of the wire: a city-sized body (the Karlsruhe sample varied to
14,000 Vorlagen with Sitzungen, TOPs, Beratungen and Dateien in a real city's proportions),
imported into SQLite and PostgreSQL, side by side with the floor beneath it: a bare crawl of
the same endpoint (the same Fetcher and list threads, every page fetched and parsed, nothing
stored), in the same run.

The server runs in its own process and answers from pages rendered before the clock starts
(keep-alive, HTTP/1.1), so what is measured is the importer, not the server: a real city's
server is not on this machine either. It ignores ``modified_since`` (the worst case: the
re-import gets every object again and compares it).

Figures per database: bare crawl, first import (and its ratio to the crawl), re-import with
nothing changed (ratio, rows written: should be 0), statements per page of each run (on
PostgreSQL a page's INSERTs, links and resume mark are counted one each, though they go to the
server in one pipeline, one round trip).
Run: .venv/bin/python benchmarks/bench_oparl.py [--papers 14000] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.db import Database, count_statements  # noqa: E402
from engine.oparl.crawl import _Chain, _crawl  # noqa: E402
from engine.oparl.fetch import MAX_PAGES, Fetcher  # noqa: E402
from engine.oparl.importer import LISTS, Importer  # noqa: E402
from engine.oparl.sample import BODY_PATH, KARLSRUHE, OparlStore, load_sample  # noqa: E402
from engine.oparl.sample import LISTS as PATHS
from engine.settings import PROJECT_ROOT, load_settings  # noqa: E402

SAMPLE = PROJECT_ROOT.parent / "shared" / "oparl" / "karlsruhe-sample"
PG_ADMIN = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SYSTEM = KARLSRUHE + "/system"
PAGE = 100

#: A real city (issue 16): 13,735 Vorlagen, 2,551 Sitzungen, 18,664 TOPs, 14,690 Beratungen,
#: 38,418 Dateien.
MEETINGS_PER_PAPER = 2551 / 13735
ITEMS_PER_MEETING = 18664 / 2551
CONSULTATIONS_PER_PAPER = 14690 / 13735
FILES_PER_PAPER = 38418 / 13735


# ----------------------------------------------------------------------------- the data


def _spread(n: int, mean: float) -> int:
    """How many to keep of item ``n`` so that the average over many is ``mean``."""
    return int((n + 1) * mean) - int(n * mean)


def city(data: dict[str, list[dict[str, Any]]], papers: int) -> dict[str, list[dict[str, Any]]]:
    """``papers`` Vorlagen and their Sitzungen made from the sample's (new ids and Aktenzeichen),
    trimmed to a real city's proportions."""
    live = [m for m in data["meeting"] if not m.get("deleted")]
    wanted_meetings = max(1, round(papers * MEETINGS_PER_PAPER))
    meetings = []
    for n in range(wanted_meetings):
        meeting = copy.deepcopy(live[n % len(live)])
        copy_no = n // len(live)
        items = meeting.get("agendaItem") or []
        meeting["agendaItem"] = items[:_spread(n, ITEMS_PER_MEETING)]
        if copy_no:
            suffix = f"-v{copy_no}"
            meeting["id"] += suffix
            for item in meeting["agendaItem"]:
                item["id"] += suffix
                item["meeting"] = meeting["id"]
                item.pop("consultation", None)  # the Beratungen belong to the original
                for f in item.get("auxiliaryFile") or []:
                    f["id"] += suffix
        meetings.append(meeting)
    position = {m["id"]: i for i, m in enumerate(live)}
    originals = [p for p in data["paper"] if not p.get("deleted")]
    out = []
    for n in range(papers):
        paper = copy.deepcopy(originals[n % len(originals)])
        consultations = paper.get("consultation") or []
        paper["consultation"] = consultations[:_spread(n, CONSULTATIONS_PER_PAPER)]
        files = paper.get("auxiliaryFile") or []
        main = 1 if paper.get("mainFile") else 0
        paper["auxiliaryFile"] = files[:max(0, _spread(n, FILES_PER_PAPER) - main)]
        copy_no = n // len(originals)
        if copy_no:
            suffix = f"-v{copy_no}"
            paper["id"] += suffix
            paper["reference"] = (paper.get("reference") or "ohne") + suffix
            for c in paper["consultation"]:
                c["id"] += suffix
                c["paper"] = paper["id"]
                c.pop("agendaItem", None)  # the TOPs belong to the original
            for f in [paper.get("mainFile"), *paper["auxiliaryFile"]]:
                if isinstance(f, dict):
                    f["id"] += suffix
        for c in paper["consultation"]:  # a Sitzung of this city (the sample's go beyond it)
            meeting = c.get("meeting")
            if isinstance(meeting, str) and meeting in position:
                c["meeting"] = meetings[(position[meeting] + copy_no * len(live)) % len(meetings)]["id"]
        out.append(paper)
    # The sample's Gremien list memberships it does not contain: only those the persons embed.
    served = {m["id"] for p in data["person"] for m in p.get("membership") or [] if isinstance(m, dict)}
    organizations = copy.deepcopy(data["organization"])
    for o in organizations:
        if isinstance(o.get("membership"), list):
            o["membership"] = [m for m in o["membership"] if m in served]
    return {**data, "paper": out, "meeting": meetings, "organization": organizations}


def sizes(data: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    papers, meetings = data["paper"], data["meeting"]
    return {"papers": len(papers), "meetings": len(meetings),
            "agenda_items": sum(len(m.get("agendaItem") or []) for m in meetings),
            "consultations": sum(len(p.get("consultation") or []) for p in papers),
            "files": sum(len(p.get("auxiliaryFile") or []) + (1 if p.get("mainFile") else 0) for p in papers),
            "organizations": len(data["organization"])}


# ----------------------------------------------------------------------------- the server (own process)


def serve(path: Path) -> None:
    """Serve the data in ``path`` on a free port (printed), every answer rendered beforehand."""
    store = OparlStore(json.loads(path.read_text(encoding="utf-8")))
    pages: dict[tuple[str, int], bytes] = {}
    for name in store.lists:
        objects = [o for o in store.lists[name] if not o.get("deleted")]
        for number in range(1, max(1, -(-len(objects) // PAGE)) + 1):
            pages[(name, number)] = json.dumps(objects[(number - 1) * PAGE:number * PAGE],
                                               ensure_ascii=False).encode()
    totals = {name: sum(1 for o in store.lists[name] if not o.get("deleted")) for name in store.lists}
    single = {url: json.dumps(obj, ensure_ascii=False).encode() for url, obj in store.by_id.items()}
    bodies = json.dumps({"data": [store.body], "pagination": {"totalElements": 1}, "links": {}}).encode()
    by_path = {f"{BODY_PATH}/{p}": name for name, p in PATHS.items() if name in store.lists}

    def answer(raw_path: str) -> tuple[int, bytes]:
        parts = urlsplit(raw_path)
        path = parts.path.removeprefix("/oparl")
        if path == "/bodies":
            return 200, bodies
        name = by_path.get(path)
        if name is None:
            body = single.get(store.base + path)
            return (200, body) if body is not None else (404, b'{"error": "nicht gefunden"}')
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if int(query.get("limit", PAGE)) != PAGE:
            return 400, b'{"error": "nur Seiten zu 100"}'
        number = max(1, int(query.get("page", "1")))
        count = max(1, -(-totals[name] // PAGE))
        carried = {k: v for k, v in query.items() if k != "page"}
        link = f"{store.base}{path}?"
        links = {"first": link + urlencode({**carried, "page": 1}),
                 "last": link + urlencode({**carried, "page": count})}
        if number < count:
            links["next"] = link + urlencode({**carried, "page": number + 1})
        meta = json.dumps({"pagination": {"totalElements": totals[name], "elementsPerPage": PAGE,
                                          "currentPage": number, "totalPages": count}, "links": links})
        return 200, b'{"data": ' + pages.get((name, number), b"[]") + b", " + meta[1:].encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            status, body = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Quiet(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
                super().handle_error(request, client_address)

    httpd = Quiet(("127.0.0.1", 0), Handler)
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


class Server:
    """The serving process; ``rewrite`` for the Fetcher."""

    def __init__(self, data: dict[str, list[dict[str, Any]]], folder: Path) -> None:
        path = folder / "data.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        self.process = subprocess.Popen([sys.executable, __file__, "--serve", str(path)],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("der OParl-Server ist nicht gestartet")
        self.rewrite = {KARLSRUHE: f"http://127.0.0.1:{port}/oparl"}

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# ----------------------------------------------------------------------------- the floor: a bare crawl


def crawl(server: Server) -> tuple[float, int, int, float]:
    """Every list of every Body, page by page, as the importer reads them (its Fetcher, its list
    threads, its order), JSON parsed, nothing stored: seconds, objects, pages, CPU seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    objects = pages = 0
    stop = threading.Event()
    with Fetcher(rewrite=server.rewrite, allow_private=True) as fetcher:  # on loopback
        fetcher.add_source(SYSTEM)
        root = fetcher.json(SYSTEM)
        chains = []
        for body in fetcher.json(root["body"])["data"]:
            for kind in LISTS:
                if isinstance(body.get(kind), str):
                    chains.append(_Chain(kind, body[kind], {"limit": str(PAGE)}, body[kind]))
        for chain in chains:
            chain.thread = threading.Thread(target=_crawl, args=(fetcher, chain, stop, MAX_PAGES),
                                            daemon=True)
            chain.thread.start()
        for chain in chains:  # in the importer's order
            while True:
                try:
                    item = chain.pages.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is None:
                    break
                pages += 1
                objects += len(item[1]["data"])
            if chain.error is not None:
                raise RuntimeError(f"Crawl: {chain.error}")
        for chain in chains:
            assert chain.thread is not None
            chain.thread.join()
    return time.perf_counter() - started, objects, pages, time.process_time() - cpu


# ----------------------------------------------------------------------------- the import


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


def import_once(db: Database, server: Server) -> tuple[float, Any, list[str], float, float]:
    """Seconds, summary, statements, CPU of the process and CPU of the importing thread alone
    (the list threads' parsing left out: the steadiest figure on a loaded machine)."""
    with Fetcher(rewrite=server.rewrite, allow_private=True) as fetcher, \
            count_statements(db.engine) as statements:  # on loopback
        started, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
        summary = Importer(db, fetcher, page_size=PAGE).run(SYSTEM)
        took, cpu, own = time.perf_counter() - started, time.process_time() - cpu, time.thread_time() - own
    if not summary.complete:
        raise RuntimeError("\n".join(summary.lines()))
    return took, summary, list(statements), cpu, own


def writes(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}
               and "oparl_source" not in s and "audit" not in s)


def bench(kind: str, server: Server) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db, name = database(kind, Path(tmp))
        try:
            crawls = [crawl(server)]
            first_s, first, first_statements, first_cpu, first_own = import_once(db, server)
            crawls += [crawl(server), crawl(server)]
            again_s, again, again_statements, again_cpu, again_own = import_once(db, server)
            floor = min(c[0] for c in crawls)
            floor_cpu = min(c[3] for c in crawls)
            objects, pages = crawls[0][1], crawls[0][2]
            rows = sum(c["neu"] for c in first.counts.values())
            return {"crawl_s": floor, "import_s": first_s, "import_ratio": first_s / floor,
                    "reimport_s": again_s, "reimport_ratio": again_s / floor,
                    "rows": rows, "objects_per_s": rows / first_s, "pages": first.pages,
                    "reimport_writes": writes(again_statements),
                    "import_statements_per_page": len(first_statements) / max(1, first.pages),
                    "reimport_statements_per_page": len(again_statements) / max(1, again.pages),
                    "crawl_pages": pages, "crawl_objects": objects,
                    # CPU of this process (not the server's, not the database's): steadier under load
                    "crawl_cpu_s": floor_cpu, "import_cpu_ratio": first_cpu / floor_cpu,
                    "reimport_cpu_ratio": again_cpu / floor_cpu,
                    "import_thread_cpu_s": first_own, "reimport_thread_cpu_s": again_own}
        finally:
            db.dispose()
            drop(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="2,000 Vorlagen (under 3 minutes)")
    parser.add_argument("--json", action="store_true", help="the figures as JSON on the last line")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), action="append")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    papers = args.papers or (2_000 if args.quick else 14_000)
    data = city(load_sample(SAMPLE), papers)
    shape = sizes(data)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(data, Path(tmp))
        try:
            results = {kind: bench(kind, server) for kind in (args.db or ("sqlite", "postgresql"))}
        finally:
            server.close()
    print(f"OParl-Import: {shape['papers']} Vorlagen, {shape['meetings']} Sitzungen, "
          f"{shape['agenda_items']} TOPs, "
          f"{shape['consultations']} Beratungen, {shape['files']} Dateien, {shape['organizations']} Gremien; "
          f"Server im eigenen Prozess auf 127.0.0.1 (Seiten vorab gerendert, zu {PAGE})")
    print(f"Last (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'':44}" + "".join(f"{k:>14}" for k in results))
    rows = [("Crawl ohne Speichern (s)", "crawl_s", "{:.2f}"),
            ("Erstimport (s)", "import_s", "{:.2f}"), ("  × Crawl (Ziel ≤ 4)", "import_ratio", "{:.2f}"),
            ("  Zeilen angelegt", "rows", "{:.0f}"), ("  Objekte/s", "objects_per_s", "{:.0f}"),
            ("  Anweisungen je Seite", "import_statements_per_page", "{:.1f}"),
            ("Zweiter Lauf, alles unverändert (s)", "reimport_s", "{:.2f}"),
            ("  × Crawl (Ziel ≤ 2)", "reimport_ratio", "{:.2f}"),
            ("  Schreibende Anweisungen (Ziel 0)", "reimport_writes", "{:.0f}"),
            ("  Anweisungen je Seite", "reimport_statements_per_page", "{:.1f}"),
            ("CPU dieses Prozesses: Erstimport × Crawl", "import_cpu_ratio", "{:.2f}"),
            ("  Re-Import × Crawl", "reimport_cpu_ratio", "{:.2f}"),
            ("CPU des importierenden Threads: Erst (s)", "import_thread_cpu_s", "{:.2f}"),
            ("  Re-Import (s)", "reimport_thread_cpu_s", "{:.2f}")]
    for label, key, fmt in rows:
        print(f"{label:44}" + "".join(f"{fmt.format(results[k][key]):>14}" for k in results))
    if args.json:
        goals = []
        for kind, r in results.items():
            goals.append({"name": f"oparl_import_{kind}", "goal": "Erstimport ≤ 4× Crawl",
                          "measured": r["import_ratio"], "p95": None, "unit": "×", "limit": 4.0,
                          "ratio_to_goal": r["import_ratio"] / 4.0})
            goals.append({"name": f"oparl_reimport_{kind}", "goal": "Re-Import unverändert ≤ 2× Crawl",
                          "measured": r["reimport_ratio"], "p95": None, "unit": "×", "limit": 2.0,
                          "ratio_to_goal": r["reimport_ratio"] / 2.0})
        print(json.dumps({**results, "sizes": shape, "load": load[0], "goals": goals}))


if __name__ == "__main__":
    main()
