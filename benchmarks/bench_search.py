"""Benchmark: the public German full-text search over a city's Vorlagen and their Anlagen, on
PostgreSQL (``engine.search``: tsvector ``german``, GIN, ts_rank, ts_headline).

In a throwaway database: ``--papers`` Vorlagen (default 14,000, a city of Karlsruhe's size) in
20 Gremien, each with a Sachverhalt and Beschlussvorschlag (~1,500 characters) and 0–5 Anlagen
(2.4 on average, as in the Karlsruhe sample) of 1–6 pages of ~2,500 characters each; the text
is drawn from a German council vocabulary (Zipf-distributed, so some words are everywhere and
some in a handful of Vorlagen). The Anlagen's text goes into ``file_text`` as extraction would
leave it, then ``search.rebuild`` indexes everything (its time is reported).

Measured for typical queries, ``--requests`` times each (median, p95, ms), side by side:

* **ours**: ``search.search`` – matches, ranks, groups per Vorlage, counts, a keyset page of 20
  with the snippets (one read unit of work, as the page runs it);
* **page**: the whole HTML page ``/?q=…`` through Flask's test client (server time);
* **ts_rank(doc)**: the textbook statement – ``ts_rank`` over each match's whole ``document``,
  grouped per Vorlage, counted, a page of 20 – straight on psycopg, no snippets (what ``ours``
  did first; it unpacks every matching toasted vector);
* **floor**: the bare tsquery on the same table – ``document @@ websearch_to_tsquery`` with
  ``LIMIT 20``, no ranking, no count.

Run:  .venv/bin/python benchmarks/bench_search.py [--papers 14000] [--requests 50] [--quick] [--json]
      (``--quick``: 2,000 Vorlagen, 20 requests)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from engine import search  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.files import FileStore  # noqa: E402
from engine.settings import load_settings  # noqa: E402

ADMIN = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

COMMON = ("Stadt Verwaltung Gemeinderat Ausschuss Beschluss Vorlage Haushalt Mittel Kosten Jahr Planung "
          "Maßnahme Bürgerinnen Bürger Antrag Verkehr Straße Straßen Schule Schulen Kita Kindertagesstätte "
          "Förderung Zuschuss Gebühren Satzung Bebauungsplan Gewerbe Wohnungen Wohnen Klimaschutz Energie "
          "Radweg Radwege Fahrrad Straßenbahn Haltestelle Haltestellen Bushaltestelle Baum Bäume Grünfläche "
          "Spielplatz Spielplätze Sanierung Neubau Umbau Gebäude Feuerwehr Friedhof Sport Sporthalle Bad "
          "Kultur Museum Bibliothek Personal Stellen Ausschreibung Vergabe Auftrag Vertrag Grundstück "
          "Erschließung Kanal Abwasser Wasser Lärmschutz Parkplätze Parken Tiefgarage Innenstadt Stadtteil "
          "Quartier Nordstadt Südweststadt Oststadt Durlach Mühlburg Knielingen Rheinhafen Bahnhof Tempo "
          "Sicherheit Beleuchtung Barrierefreiheit Digitalisierung Breitband Gutachten Studie "
          "Konzept").split()
FILLER = ("der die das und in zu den mit von für auf ist im dem nicht ein eine als auch es an werden aus "
          "er hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur "
          "oder aber vor zur bis mehr durch man sein wurde sei").split()
#: A word that stands in exactly a few Anlagen (the rare query).
RARE = "Regenrückhaltebecken"

QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    ("one common word", "Haushalt", {}),
    ("stemmed word", "Radwege", {}),
    ("two words", "Straßenbahn Haltestelle", {}),
    ("phrase", '"Bebauungsplan Nordstadt"', {}),
    ("rare word (only in a few PDFs)", RARE, {}),
    ("word, one Gremium", "Radwege", {"gremium": True}),
    ("word, type and period", "Schule", {"paper_type": "Antrag", "since": date(2024, 1, 1),
                                          "until": date(2024, 12, 31)}),
    ("common word, page 2", "Haushalt", {"page": 2}),
]


def _syllable_words(rng: random.Random, count: int) -> list[str]:
    parts = ["ver", "ge", "be", "an", "ab", "stadt", "bau", "plan", "ung", "keit", "weg", "rat", "haus",
             "werk", "land", "feld", "markt", "hof", "berg", "bach", "ord", "nung", "schaft", "heit", "lich"]
    return ["".join(rng.choice(parts) for _ in range(rng.randint(2, 4))).capitalize() for _ in range(count)]


class Text:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rare_words = _syllable_words(self.rng, 3000)
        self.words = COMMON + rare_words
        # Zipf weights: the first words everywhere, the tail in a few documents.
        self.weights = [1 / (rank + 1) ** 1.05 for rank in range(len(self.words))]

    def __call__(self, chars: int) -> str:
        out: list[str] = []
        size = 0
        while size < chars:
            words = self.rng.choices(self.words, self.weights, k=12)
            words += self.rng.choices(FILLER, k=8)
            self.rng.shuffle(words)
            sentence = " ".join(words).capitalize() + ". "
            out.append(sentence)
            size += len(sentence)
        return "".join(out)


def _fill(url: str, papers: int, seed: int = 20) -> dict[str, Any]:
    rng = random.Random(seed)
    words = Text(seed)
    engine = create_engine(url)
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    types = ["Beschlussvorlage", "Antrag", "Anfrage", "Mitteilungsvorlage", "Standardvorlage"]
    files = anlagen_chars = 0
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO body (id, name, created, modified) "
                          "VALUES (1, 'Stadt Karlsruhe', :t, :t)"), {"t": now})
        conn.execute(text("INSERT INTO organization (id, body_id, name, short_name, organization_type, "
                          "created, modified) VALUES (:id, 1, :name, :short, 'Gremium', :t, :t)"),
                     [{"id": i, "name": f"Ausschuss {i}", "short": f"A{i}", "t": now} for i in range(1, 21)])
    rare_left = 5
    batch = 500
    for start in range(0, papers, batch):
        paper_rows, consultation_rows, file_rows, text_rows = [], [], [], []
        for n in range(start, min(start + batch, papers)):
            pid = n + 1
            day = date(2020, 1, 1) + timedelta(days=rng.randrange(6 * 365))
            paper_rows.append({"id": pid, "ref": f"{day.year}/{pid:05d}",
                               "name": words(rng.randint(40, 120))[:200],
                               "type": rng.choice(types), "date": day, "facts": words(1000),
                               "proposal": words(500), "t": now})
            for position, org in enumerate(rng.sample(range(1, 21), rng.randint(1, 3)), start=1):
                consultation_rows.append({"paper": pid, "pos": position, "org": org, "t": now})
            for position in range(1, rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 3]) + 1):
                pages = [words(2500) for _ in range(rng.randint(1, 6))]
                if rare_left and rng.random() < 0.002:
                    pages[-1] += f" Das {RARE} am Stadtrand wird erweitert."
                    rare_left -= 1
                body = "\f".join(pages)
                files += 1
                anlagen_chars += len(body)
                sha = hashlib.sha512(f"{pid}-{position}".encode()).hexdigest()
                file_rows.append({"paper": pid, "pos": position, "name": f"Anlage {position} zu {pid}",
                                  "sha": sha, "size": len(body)})
                text_rows.append({"sha": sha, "text": body, "t": now})
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO paper (id, body_id, reference, name, paper_type, date, public, status, "
                "released, facts, proposal_heading, proposal, financial_impact, personnel_impact, created, "
                "modified) "
                "VALUES (:id, 1, :ref, :name, :type, :date, true, 'abgeschlossen', :t, :facts, "
                "'Beschlussvorschlag', :proposal, '', '', :t, :t)"), paper_rows)
            conn.execute(text("INSERT INTO consultation (paper_id, position, organization_id, role, "
                              "authoritative, created, modified) "
                              "VALUES (:paper, :pos, :org, 'Vorberatung', false, :t, :t)"),
                         consultation_rows)
            if file_rows:
                conn.execute(text("INSERT INTO file (paper_id, position, name, mime_type, size, "
                                  "sha_512_checksum, created) "
                                  "VALUES (:paper, :pos, :name, 'application/pdf', :size, :sha, now())"),
                             file_rows)
                conn.execute(text("INSERT INTO file_text (sha_512_checksum, status, text, extracted) "
                                  "VALUES (:sha, 'gelesen', :text, :t)"), text_rows)
    with engine.begin() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('paper', 'id'), :v)"), {"v": papers})
    engine.dispose()
    return {"files": files, "anlagen_mb": round(anlagen_chars / 1e6, 1)}


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"median": round(statistics.median(ordered), 2), "p95": round(p95, 2)}


def _filters(database: Database, options: dict[str, Any]) -> search.Filters:
    organization_id = None
    if options.get("gremium"):
        organization_id = 3
    return search.Filters(organization_id=organization_id, paper_type=options.get("paper_type"),
                          since=options.get("since"), until=options.get("until"))


_RANKED = ("SELECT e.paper_id, max(ts_rank(e.document, q)) AS score, count(*) OVER () "
           "FROM search_entry e, websearch_to_tsquery('german', %(q)s) q WHERE e.document @@ q "
           "GROUP BY e.paper_id ORDER BY score DESC, e.paper_id DESC LIMIT 21")
_FLOOR = ("SELECT e.paper_id FROM search_entry e WHERE e.document @@ websearch_to_tsquery('german', %(q)s) "
          "LIMIT 20")


def _measure(database: Database, app: Any, raw: Any, requests: int) -> list[dict[str, Any]]:
    client = app.test_client()
    rows = []
    for label, words, options in QUERIES:
        filters = _filters(database, options)
        cursor = None
        if options.get("page") == 2:
            with database.unit_of_work(write=False) as s:
                cursor = search.search(s, words, filters).next
        ours, page, ranked, floor = [], [], [], []
        total = 0
        args = {"q": words, **({"gremium": "3"} if options.get("gremium") else {}),
                **({"art": options["paper_type"]} if options.get("paper_type") else {}),
                **({"von": options["since"].strftime("%d.%m.%Y"),
                    "bis": options["until"].strftime("%d.%m.%Y")} if options.get("since") else {}),
                **({"cursor": cursor} if cursor else {})}
        for _ in range(requests):
            started = time.perf_counter()
            with database.unit_of_work(write=False) as s:
                results = search.search(s, words, filters, cursor=cursor)
            ours.append((time.perf_counter() - started) * 1000)
            total = results.total
            started = time.perf_counter()
            response = client.get("/", query_string=args)
            page.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            with raw.cursor() as c:
                started = time.perf_counter()
                c.execute(_RANKED, {"q": words})
                c.fetchall()
                ranked.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                c.execute(_FLOOR, {"q": words})
                c.fetchall()
                floor.append((time.perf_counter() - started) * 1000)
        rows.append({"query": label, "words": words, "matches": total, "ours": _stats(ours),
                     "page": _stats(page), "ranked_sql": _stats(ranked), "floor": _stats(floor)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=14_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2,000 Vorlagen, 20 requests")
    parser.add_argument("--json", action="store_true", help="last line: the figures as one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    parser.add_argument("--reuse", metavar="URL", help="measure a database kept by --keep again (brought "
                        "to the schema's head and indexed where the index lacks rows; not dropped)")
    args = parser.parse_args()
    if args.quick:
        args.papers, args.requests = 2_000, 20
    figures: dict[str, Any] = {"quick": args.quick, "papers": args.papers,
                               "load_before": round(os.getloadavg()[0], 2)}
    name = f"ratsflow_bench_search_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    if args.reuse:
        url, args.keep = args.reuse, True
    else:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
            settings = load_settings(env={}, database_url=url, instance_path=Path(folder),
                                     scheduler_in_process=False, secret_key="bench")
            database = Database(settings)
            database.upgrade()
            started = time.perf_counter()
            if args.reuse:
                with database.engine.connect() as conn:
                    figures["papers"] = conn.execute(text("SELECT count(*) FROM paper")).scalar()
                    figures["files"] = conn.execute(text("SELECT count(*) FROM file")).scalar()
                    figures["anlagen_mb"] = round((conn.execute(text(
                        "SELECT sum(length(text)) FROM file_text")).scalar() or 0) / 1e6, 1)
                figures["fill_s"] = 0.0
                started = time.perf_counter()
                indexed = search.catch_up(database, FileStore(Path(folder)), seconds=3600, batch=500)
                figures["indexed"] = indexed.indexed
            else:
                figures.update(_fill(url, args.papers))
                figures["fill_s"] = round(time.perf_counter() - started, 1)
                started = time.perf_counter()
                figures["indexed"] = search.rebuild(database)
            figures["index_s"] = round(time.perf_counter() - started, 1)
            with database.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
                figures["entries"] = conn.execute(text("SELECT count(*) FROM search_entry")).scalar()
                figures["index_mb"] = round(conn.execute(text(
                    "SELECT pg_total_relation_size('search_entry') + pg_total_relation_size('search_paper')"))
                    .scalar() / 1e6, 1)
            from web import create_app

            app = create_app(settings, upgrade=False)
            import psycopg

            raw = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
            try:
                figures["queries"] = _measure(database, app, raw, args.requests)
            finally:
                raw.close()
                app.extensions["ratsflow.db"].dispose()
                database.dispose()
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    figures["load_after"] = round(os.getloadavg()[0], 2)
    print(f"{figures['papers']} Vorlagen, {figures['files']} Anlagen ({figures['anlagen_mb']} MB text), "
          f"{figures['entries']} index rows ({figures['index_mb']} MB); filled in {figures['fill_s']} s, "
          f"indexed in {figures['index_s']} s; load {figures['load_before']} → {figures['load_after']}")
    print(f"{'query':34} {'matches':>7} {'ours p50/p95':>14} {'page p50/p95':>14} {'ts_rank(doc)':>14} "
          f"{'floor':>12}")
    for row in figures["queries"]:
        print(f"{row['query']:34} {row['matches']:>7} "
              f"{row['ours']['median']:>6.1f}/{row['ours']['p95']:>6.1f} "
              f"{row['page']['median']:>6.1f}/{row['page']['p95']:>6.1f} "
              f"{row['ranked_sql']['median']:>6.1f}/{row['ranked_sql']['p95']:>6.1f} "
              f"{row['floor']['median']:>5.1f}/{row['floor']['p95']:>5.1f}")
    worst = max(row["ours"]["p95"] for row in figures["queries"])
    figures["worst_p95_ms"] = worst
    print(f"worst p95 (ours): {worst:.1f} ms (goal < 100 ms)")
    if args.json:
        print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
