"""Benchmark: building the Sitzungsmappe (PDF and ZIP) and the sweep's look for a Nachtrag.

On a throwaway SQLite database with the demo: one Sitzung of the committee gets ``--tops`` TOPs
(default 20), each a Vorlage with a page of text and ``--anlagen`` PDF Anlagen (default 3) of
``--pages`` pages (default 10). Measured (median of ``--runs``): reading what a member may see,
writing the combined PDF, writing the ZIP; their sizes and page count; the peak of Python's
memory while writing (tracemalloc). Then ``nachtrag.detect`` over every invited Sitzung ahead
(this one invited): statements and time of a sweep that finds nothing changed.

Run:  .venv/bin/python benchmarks/bench_mappe.py [--tops 20] [--anlagen 3] [--pages 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pypdf import PdfReader, PdfWriter  # noqa: E402
from sqlmodel import select  # noqa: E402

from engine import mappe  # noqa: E402
from engine.accounts import Account, load_actor  # noqa: E402
from engine.calendar import nachtrag  # noqa: E402
from engine.council import AgendaItem, Consultation, File, Meeting, Organization, Paper  # noqa: E402
from engine.db import Database, count_statements  # noqa: E402
from engine.demo import demo_pdf, load_demo  # noqa: E402
from engine.files import FileStore  # noqa: E402
from engine.settings import TIMEZONE, load_settings  # noqa: E402

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TEXT = ("Die Verwaltung berichtet über den Stand der Planung, die Beteiligung der Öffentlichkeit und die "
        "Abstimmung mit den Nachbarkommunen. ") * 12


def _anlage(title: str, pages: int) -> bytes:
    writer = PdfWriter()
    for number in range(pages):
        writer.add_page(PdfReader(io.BytesIO(demo_pdf(f"{title}, Seite {number + 1}", [TEXT]))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _fill(database: Database, files: FileStore, tops: int, anlagen: int, pages: int) -> int:
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        org = s.get(Organization, meeting.organization_id)
        assert org is not None and meeting.id is not None
        for n in range(1, tops + 1):
            paper = Paper(body_id=org.body_id, reference=f"2026/{n:03d}", name=f"Vorlage Nummer {n}",
                          public=n % 4 != 0, released=NOW - timedelta(days=20), status="in Beratung",
                          facts=TEXT, proposal=TEXT[:400])
            s.add(paper)
            s.flush()
            consultation = Consultation(paper_id=paper.id, position=1, organization_id=org.id,
                                        meeting_id=meeting.id)
            s.add(consultation)
            s.flush()
            s.add(AgendaItem(meeting_id=meeting.id, consultation_id=consultation.id, number=str(n),
                             name=paper.name, public=paper.public))
            for a in range(1, anlagen + 1):
                content = _anlage(f"Anlage {a} zu {paper.reference}", pages)
                s.add(File(paper_id=paper.id, position=a, name=f"Anlage {a}", file_name=f"Anlage {a}.pdf",
                           mime_type="application/pdf", size=len(content),
                           sha_512_checksum=files.put(s, content)))
        meeting.invited = NOW
        nachtrag.note_invitation(s, meeting, NOW)
        return meeting.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tops", type=int, default=20)
    parser.add_argument("--anlagen", type=int, default=3)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(env={}, database_url=f"sqlite:///{folder}/bench.db",
                                 instance_path=Path(folder), scheduler_in_process=False, secret_key="bench")
        database = Database(settings)
        database.upgrade()
        files = FileStore(settings.files_path)
        with database.unit_of_work() as s:
            load_demo(s, "bench-passwort", now=NOW, week=False)
        meeting_id = _fill(database, files, args.tops, args.anlagen, args.pages)
        with database.unit_of_work(write=False) as s:
            becker = load_actor(s, s.exec(select(Account).where(Account.username == "becker")).one().id or 0)
        timings: dict[str, list[float]] = {"read": [], "pdf": [], "zip": []}
        peaks: dict[str, int] = {}
        sizes: dict[str, int] = {}
        page_count = 0
        for _ in range(args.runs):
            with database.unit_of_work(write=False) as s:
                started = time.perf_counter()
                found = mappe.read(s, becker, meeting_id, files, NOW.astimezone(TIMEZONE).date(), NOW)
                timings["read"].append(time.perf_counter() - started)
            for kind, write in (("pdf", mappe.write_pdf), ("zip", mappe.write_zip)):
                with tempfile.TemporaryFile() as out:
                    tracemalloc.start()
                    started = time.perf_counter()
                    result = write(found, out)
                    timings[kind].append(time.perf_counter() - started)
                    peaks[kind] = max(peaks.get(kind, 0), tracemalloc.get_traced_memory()[1])
                    tracemalloc.stop()
                    sizes[kind] = out.tell()
                    if kind == "pdf":
                        page_count = int(result)  # type: ignore[arg-type]
        anlagen_bytes = sum(a.file.size for t in found.tops for a in t.anlagen)
        print(f"Sitzungsmappe: {args.tops} TOPs, {args.tops * args.anlagen} PDF-Anlagen à {args.pages} "
              f"Seiten ({anlagen_bytes / 1e6:.1f} MB gespeichert), {args.runs} Läufe, Median")
        for kind, label in (("read", "lesen (was das Mitglied sehen darf)"), ("pdf", "PDF schreiben"),
                            ("zip", "ZIP schreiben")):
            extra = f", {sizes[kind] / 1e6:.1f} MB, Spitze {peaks[kind] / 1e6:.1f} MB Python-Speicher" \
                if kind in sizes else ""
            print(f"  {label}: {statistics.median(timings[kind]) * 1000:.0f} ms{extra}")
        print(f"  PDF: {page_count} Seiten")
        cache = mappe.Cache(settings.mappe_path)
        cache.file(found, "pdf")
        hits = []
        for _ in range(args.runs):
            with database.unit_of_work(write=False) as s:
                started = time.perf_counter()
                again = mappe.read(s, becker, meeting_id, files, NOW.astimezone(TIMEZONE).date(), NOW)
                _path, built = cache.file(again, "pdf")
                hits.append(time.perf_counter() - started)
                assert not built
        print(f"  schon gebaut (lesen, Fingerabdruck, Datei da): {statistics.median(hits) * 1000:.0f} ms")
        with database.unit_of_work() as s, count_statements(database.engine) as seen:
            started = time.perf_counter()
            nachtrag.detect(s, NOW + timedelta(hours=1))
            took = time.perf_counter() - started
        print(f"Nachtrag-Suche im Sweep (nichts geändert): {len(seen)} Anweisungen, {took * 1000:.1f} ms")
        database.dispose()


if __name__ == "__main__":
    main()
