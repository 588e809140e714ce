"""The OParl importer against a real OParl server on loopback serving the Karlsruhe sample
(paging, modified_since, a deleted paper), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from engine import search
from engine.council import (
    PAPER_DONE,
    PAPER_DRAFT,
    ROLE_CLERK,
    Account,
    AgendaItem,
    Consultation,
    File,
    Grant,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
)
from engine.db import count_statements
from engine.files import FileStore
from engine.oparl.fetch import Fetcher
from engine.oparl.importer import Importer, OparlOrigin, Summary
from engine.oparl.mapping import canonical, normalise_result, normalise_role, parse_votes, split
from engine.oparl.sample import KARLSRUHE, OparlStore, SampleServer, file_content, load_sample
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask

from .conftest import NOW, PROJECT

SAMPLE = PROJECT.parent / "shared" / "oparl" / "karlsruhe-sample"
SYSTEM = KARLSRUHE + "/system"
BODY = KARLSRUHE + "/bodies/0001"
PAPER = BODY + "/papers/vo/48491"  # 2023/0425, two Beratungen, two Anlagen
OTHER = BODY + "/papers/vo/49898"  # a Beratung without a Sitzung

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/oparl/karlsruhe-sample missing")


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with SampleServer(OparlStore(load_sample(SAMPLE))) as running:
        yield running


def run(database, server, **options) -> Summary:  # type: ignore[no-untyped-def]
    with Fetcher(rewrite=server.rewrite, sleep=lambda _s: None, timeout=options.pop("timeout", 10),
                 allow_private=True) as fetcher:
        return Importer(database, fetcher, now=NOW, page_size=50, **options).run(SYSTEM)


def counts(database) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return {m.__name__: s.exec(select(func.count()).select_from(m)).one()
                for m in (Paper, Meeting, Organization, Consultation, AgendaItem, File, Person, Membership)}


def writes(statements: list[str]) -> list[str]:
    """Statements that change a table (the source's own bookkeeping row aside)."""
    return [s for s in statements if s.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}
            and "oparl_source" not in s]


FULL = {"Paper": 222, "Meeting": 132, "Organization": 97, "Consultation": 461, "AgendaItem": 1756,
        "File": 787, "Person": 3, "Membership": 6}


def test_import_counts_originals_and_a_second_run_writes_nothing(database, server) -> None:  # type: ignore[no-untyped-def]
    summary = run(database, server)
    assert summary.complete, summary.lines()
    assert counts(database) == FULL  # 227 papers, 5 of them deleted (not listed without modified_since)
    with database.unit_of_work(write=False) as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2023/0425")).one()
        assert paper.paper_type == "Beschlussvorlage" and paper.status == PAPER_DONE
        lead = s.get(Organization, paper.under_direction_of_id)
        assert lead is not None and lead.organization_type == "Verwaltungsbereich"
        folge = list(s.exec(select(Consultation).where(Consultation.paper_id == paper.id)
                            .order_by(col(Consultation.position))))
        beratungen = [(c.position, c.role, c.authoritative) for c in folge]
        assert beratungen == [(1, "Entscheidung", False), (2, "Vorberatung", True)]
        gremium = s.get(Organization, folge[0].organization_id)
        assert gremium is not None and gremium.organization_type == "Gremium"
        origin = s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == PAPER)).one()
        original = json.loads(origin.original)
        assert original["reference"] == "2023/0425" and original["consultation"] == [
            BODY + "/consultations/29507", BODY + "/consultations/30462"]  # embedded ones: own rows
        assert s.exec(select(func.count()).select_from(AgendaItem)
                      .where(col(AgendaItem.consultation_id).is_not(None))).one() == 451
        item = s.exec(select(AgendaItem).where(AgendaItem.result_text == "einstimmig zugestimmt")).first()
        assert item is not None and item.result == "beschlossen"
        unmapped = s.exec(select(AgendaItem).where(AgendaItem.result_text == "erledigt")).first()
        assert unmapped is not None and unmapped.result is None
        # Wahlperioden have no table: kept as JSON
        assert s.exec(select(func.count()).select_from(OparlOrigin)
                      .where(OparlOrigin.object_type == "legislative_term")).one() == 2
        meeting = s.exec(select(Meeting).where(Meeting.name == "Gemeinderat (öffentlich/nicht öffentlich)")).first()
        assert meeting is not None and meeting.meeting_state == "durchgeführt"
    text = "\n".join(summary.lines())
    assert "Mitgliedschaft wird vom Server nicht mehr ausgeliefert (404)" in text
    assert "Ergebnis 'erledigt' keinem Ergebnis zuzuordnen: als Text übernommen" in text
    assert "'authoritative' bei Kenntnisnahme: so übernommen" in text
    assert "10 × Beratung ohne Sitzung" in text
    assert "doppelt in der Liste (consultation)" in text
    assert "2 Wahlperioden: nur im Original-JSON" in text

    server.requests.clear()
    with count_statements(database.engine) as statements:
        again = run(database, server)
    assert again.complete and writes(statements) == []
    assert counts(database) == FULL
    lists = [r for r in server.requests if "modified_since=" in r]
    assert len(lists) == 4 and len(server.requests) < 10  # only the lists, asked for what changed


def test_progress_goes_to_the_callers_callback(database, server) -> None:  # type: ignore[no-untyped-def]
    reports: list[tuple[int, int, str]] = []
    summary = run(database, server, progress=lambda *report: reports.append(report))
    assert summary.complete, summary.lines()
    announced = sum(a for a, _w, _n in reports)
    written = sum(w for _a, w, _n in reports)
    assert written >= FULL["Paper"] and announced >= FULL["Paper"]
    assert any("Seiten" in note for _a, w, note in reports if w)


def test_a_change_and_a_deletion_reach_the_copy_and_nothing_else(database, server) -> None:  # type: ignore[no-untyped-def]
    run(database, server)
    beratungen = len({c["id"] for c in server.store.by_id[OTHER]["consultation"]})
    server.store.change(PAPER, name="Konzeptbeschluss (geändert)")
    server.store.delete(OTHER)
    with count_statements(database.engine) as statements:
        summary = run(database, server)
    assert summary.complete, summary.lines()
    assert summary.counts["paper"]["geändert"] == 1 and summary.counts["paper"]["gelöscht"] == 1
    with database.unit_of_work(write=False) as s:
        assert s.exec(select(Paper).where(Paper.name == "Konzeptbeschluss (geändert)")).one()
        gone = s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == OTHER)).one()
        assert gone.object_id is None
    tables = {w.split()[2 if w.upper().startswith(("INSERT", "DELETE")) else 1] for w in writes(statements)}
    tables = {t for t in tables if not t.startswith(("search_", "fts_"))}  # the deleted one's index rows
    # Tombstones for what our OParl server showed of it; its TOPs stay without their Vorlage, so
    # they and their Sitzungen are modified.
    assert tables <= {"paper", "consultation", "file", "oparl_origin", "agenda_item", "audit_event", "audit_head",
                      "oparl_tombstone", "meeting"}
    c = counts(database)
    assert c["Paper"] == 221 and c["Consultation"] == FULL["Consultation"] - beratungen
    with count_statements(database.engine) as statements:
        run(database, server)  # the tombstone again: already applied
    assert writes(statements) == []


def test_a_server_that_ignores_the_filters_is_noticed(database, server) -> None:  # type: ignore[no-untyped-def]
    server.ignore_filters = True
    run(database, server)
    server.store.change(PAPER, name="Konzeptbeschluss (geändert)")
    server.store.delete(OTHER)  # this server lists no tombstones: the paper just is not listed any more
    summary = run(database, server)
    assert summary.filters_ignored and summary.complete
    lines = "\n".join(summary.lines())
    assert "ignoriert modified_since" in lines
    # Missing from a list is not deleted (real sources page unreliably): kept, and named.
    assert summary.counts["paper"] == {"geändert": 1, "unverändert": 220}
    assert "1 Objekte der Liste paper fehlen in der vollständigen Auflistung: behalten" in lines
    assert counts(database)["Paper"] == 222
    with count_statements(database.engine) as statements:
        run(database, server)
    assert writes(statements) == []


def test_malformed_object_500_and_timeout_are_skipped_and_picked_up_next_time(database, server) -> None:  # type: ignore[no-untyped-def]
    server.store.by_id[PAPER]["date"] = "15.01.2024"  # not ISO: this object cannot be read
    server.fail["/bodies/0001/meetings?limit=50&page=2"] = 4  # a 500 beyond the retries
    server.fail["/bodies/0001/organizations?limit=50&page=2"] = 2  # a 500 the retries get past
    import threading

    held = threading.Event()
    server.hold["/bodies/0001/papers?limit=50&page=3"] = held  # answers too late: timeouts
    summary = run(database, server, timeout=0.3)
    held.set()
    text = "\n".join(summary.lines())
    assert not summary.complete
    assert ("https://web1.karlsruhe.de/oparl/bodies/0001/meetings?limit=50&page=2",
            "HTTP 500 nach 4 Versuchen") in summary.failed_pages
    assert ("https://web1.karlsruhe.de/oparl/bodies/0001/papers?limit=50&page=3",
            "Zeitüberschreitung nach 4 Versuchen") in summary.failed_pages
    assert PAPER in summary.skipped and "fehlerhaftes Objekt" in text
    assert summary.retries >= 2 + 3 + 3
    partial = counts(database)
    assert partial["Organization"] == 97 and 0 < partial["Paper"] < 222 and partial["Meeting"] < 132

    del server.hold["/bodies/0001/papers?limit=50&page=3"]
    server.store.by_id[PAPER]["date"] = "2024-01-15"  # fixed at the source (without a new stamp)
    again = run(database, server)
    assert again.complete, again.lines()
    assert counts(database) == FULL
    with database.unit_of_work(write=False) as s:
        assert s.exec(select(Paper).where(Paper.reference == "2023/0425")).one().date is not None


def test_an_interrupted_run_resumes_without_duplicates(database, server) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def stop_after_three(url: str) -> None:
        seen.append(url)
        if "papers" in url:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(database, server, on_page=stop_after_three)
    first = counts(database)
    assert 0 < first["Paper"] < 222
    server.requests.clear()
    summary = run(database, server)
    assert summary.complete
    assert counts(database) == FULL
    assert "/bodies/0001/papers?limit=50" not in server.requests  # went on at page 2
    with database.unit_of_work(write=False) as s:
        urls = s.exec(select(OparlOrigin.origin_url)).all()
        assert len(urls) == len(set(urls))


def test_with_files_downloads_and_verifies(database, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = server.store.by_id[PAPER]["auxiliaryFile"]
    good, bad = files[0], files[1]
    good["size"] = len(file_content(good["downloadUrl"]))
    good["sha512Checksum"] = hashlib.sha512(file_content(good["downloadUrl"])).hexdigest()
    bad["sha512Checksum"] = "0" * 128
    store = FileStore(tmp_path / "files")
    summary = run(database, server, files=store, with_files=True)
    assert "Datei: sha512Checksum stimmt nicht: verworfen" in "\n".join(summary.lines())
    with database.unit_of_work(write=False) as s:
        row = s.exec(select(File).where(File.name == good["name"])).one()
        assert row.sha_512_checksum == good["sha512Checksum"] and store.exists(row.sha_512_checksum)
        assert s.exec(select(File).where(File.name == bad["name"])).one().sha_512_checksum is None
        stored = s.exec(select(func.count()).select_from(File).where(col(File.sha_512_checksum).is_not(None))).one()
    assert stored == 786
    server.requests.clear()
    bad.pop("sha512Checksum")
    server.store.change(PAPER)
    run(database, server, files=store, with_files=True)
    downloads = [r for r in server.requests if "downloadfiles" in r]
    assert downloads == ["/bodies/0001/downloadfiles/00650849.pdf"]  # only the one that was missing


def test_oparl_1_0_shapes_are_read(database, server) -> None:  # type: ignore[no-untyped-def]
    paper = server.store.by_id[PAPER]
    paper["type"] = "https://schema.oparl.org/1.0/Paper"
    paper["underDirectionOf"] = paper["underDirectionOf"][0]  # a string, not a list
    for c in paper["consultation"]:
        c["type"] = "https://schema.oparl.org/1.0/Consultation"
        c["organization"] = c["organization"][0]
        c["authoritative"] = "true"
        c["role"] = "unbekannt"
    paper["auxiliaryFile"][0]["sha1Checksum"] = "abc"
    summary = run(database, server)
    assert summary.complete
    with database.unit_of_work(write=False) as s:
        row = s.exec(select(Paper).where(Paper.reference == "2023/0425")).one()
        assert row.under_direction_of_id is not None
        folge = list(s.exec(select(Consultation).where(Consultation.paper_id == row.id)))
        assert {(c.role, c.role_text, c.authoritative) for c in folge} == {("unbekannt", "unbekannt", True)}
    assert "Rolle 'unbekannt' keiner Rolle zuzuordnen: als Text übernommen" in "\n".join(summary.lines())


def test_an_imported_vorlage_with_a_beratung_ahead_can_be_started(database, demo, actor, server) -> None:  # type: ignore[no-untyped-def]
    consultation = server.store.by_id[PAPER]["consultation"][0]
    meeting = server.store.by_id[consultation["meeting"]]
    meeting["start"] = (NOW + timedelta(days=20)).isoformat()
    meeting["end"] = (NOW + timedelta(days=20, hours=3)).isoformat()
    run(database, server)
    with database.unit_of_work(write=False) as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2023/0425")).one()
        assert paper.status == PAPER_DRAFT
        other = s.exec(select(Paper).where(Paper.reference != "2023/0425", Paper.reference != "2024/063")).first()
        assert other is not None and other.status == PAPER_DONE
    # The lead department came with the import: its clerks are granted here (as the admin would).
    assert paper.under_direction_of_id is not None
    with database.unit_of_work() as s:
        clerk = s.exec(select(Account).where(Account.username == "zierstedt")).one()
        s.add(Grant(account_id=clerk.id, role=ROLE_CLERK, organization_id=paper.under_direction_of_id))
    clerk_actor = actor("zierstedt")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, clerk_actor, paper.id, now=NOW)
    with database.unit_of_work(write=False) as s:
        tasks = s.exec(select(HumanTask).where(HumanTask.paper_id == paper.id,
                                               HumanTask.status == TASK_READY)).all()
        assert len(tasks) == 1
    with count_statements(database.engine) as statements:
        server.store.change(PAPER, name="geändert an der Quelle")
        run(database, server)
    with database.unit_of_work(write=False) as s:
        assert s.get(Paper, paper.id).status == "in Beratung"  # the running Beratungsfolge stays
    assert writes(statements)


def test_imported_vorlage_on_the_public_page(database, server, browser) -> None:  # type: ignore[no-untyped-def]
    run(database, server)
    with database.unit_of_work(write=False) as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2023/0425")).one()
    page = browser().get(f"/vorlagen/{paper.id}").get_data(as_text=True)
    assert "Konzeptbeschluss: Variantenentscheidung" in page and "Anlage_Variante-A" in page
    # The search index is filled by the scheduler's search job after an import.
    search.catch_up(database, FileStore(database.settings.files_path))
    found = browser().get("/?q=Hübschstraße").get_data(as_text=True)
    assert "2023/0425" in found and "2024/0262" not in found


def test_free_text_is_mapped() -> None:
    assert normalise_role("unbekannt", True) is None
    assert normalise_role("Beratung", True) == "Entscheidung"
    assert normalise_role("Beratung", False) == "Vorberatung"
    assert normalise_role("zur Kenntnisnahme", True) == "Kenntnisnahme"
    assert normalise_result("mehrheitlich zugestimmt zu geändertem Beschlusstext") == "geaendert_beschlossen"
    assert normalise_result("vorberaten ohne Änderungen") == "empfohlen"
    assert normalise_result("verwiesen in den Gemeinderat") == "verwiesen"
    assert normalise_result("Beratung im Fachgremium/Arbeitskreis") is None
    assert parse_votes("beschlossen (Ja: 12, Nein: 3, Enthaltungen: 1)") == (12, 3, 1)
    assert parse_votes("einstimmig beschlossen") == (None, None, None)


def test_the_original_is_written_as_the_standard_library_wrote_it() -> None:
    """``canonical`` (orjson) gives the text ``json`` gave before for every object of the
    sample, split as it is stored: a re-import after the change finds nothing changed. Integers
    orjson cannot write go to the standard library."""
    before = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    objects: list[dict[str, object]] = []

    def walk(kind: str, raw: dict[str, object]) -> None:
        own, children = split(kind, raw)
        objects.append(own)
        for _, child_kind, child in children:
            if isinstance(child, dict):
                walk(child_kind, child)

    for kind, items in load_sample(SAMPLE).items():
        for raw in items:
            walk(kind, raw)
    assert len(objects) > 3_000
    differing = [o["id"] for o in objects if canonical(o) != before.encode(o)]
    assert differing == []
    odd = {"z": "ä\x01\u2028\"\\", "a": [1.5, None, True, {"y": 1, "x": -0.0}], "big": 2**70}
    assert canonical(odd) == before.encode(odd)
