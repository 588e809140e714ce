"""The public Bürgerinformationssystem's German full-text search (``engine.search``) and what is
public at all (issue 20): on SQLite (FTS5 of Snowball stems) and PostgreSQL (tsvector german)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from engine import extract, search
from engine.council import Consultation, File, Meeting, Organization, Paper
from engine.db import alembic_config, upgrade_schema
from engine.demo import demo_pdf
from engine.files import FileStore
from engine.oparl import server as oparl_server
from engine.process import procedures
from engine.search import Filters

from .conftest import NOW, database_at, text_of
from .test_anlagen import _png


@pytest.fixture
def files(settings) -> FileStore:  # type: ignore[no-untyped-def]
    return FileStore(settings.files_path)


@pytest.fixture
def publish(database, demo, files):  # type: ignore[no-untyped-def]
    """Factory: a released, public Vorlage in the seed's first Gremium (or ``gremium``), with
    Anlagen (name, bytes) stored and read as an upload's are; indexed."""
    def make(reference: str, name: str, facts: str = "", anlagen: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
             paper_type: str = "Beschlussvorlage", day: date | None = None, public: bool = True,
             released: bool = True, gremium: int | None = None) -> int:
        with database.unit_of_work() as s:
            seed = s.get(Paper, demo.paper_id)
            paper = Paper(body_id=seed.body_id, reference=reference, name=name, facts=facts, paper_type=paper_type,
                          date=day, public=public, released=NOW if released else None,
                          under_direction_of_id=seed.under_direction_of_id)
            s.add(paper)
            s.flush()
            first = s.exec(select(Consultation).where(Consultation.paper_id == seed.id)
                           .order_by(Consultation.position)).first()
            s.add(Consultation(paper_id=paper.id, position=1, organization_id=gremium or first.organization_id))
            for i, (file_name, content) in enumerate(anlagen, start=1):
                digest = files.put(s, content)
                mime = "application/pdf" if content.startswith(b"%PDF") else None
                s.add(File(paper_id=paper.id, position=i, name=file_name, file_name=file_name, size=len(content),
                           sha_512_checksum=digest, mime_type=mime))
                search.store_text(s, digest, content, mime)
            s.flush()
            search.index_paper(s, paper.id)
            return paper.id  # type: ignore[no-any-return]
    return make


def _find(database, words: str, filters: Filters = search.NO_FILTERS, **kw: Any) -> search.Results:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return search.search(s, words, filters, **kw)


def _refs(results: search.Results) -> list[str]:
    return [h.reference for h in results.hits]


def _marked(fragments: list[tuple[str, bool]]) -> list[str]:
    return [t for t, marked in fragments if marked]


def test_german_stemming_finds_radweg_for_radwege_and_ranks_the_title_first(database, publish):  # type: ignore[no-untyped-def]
    publish("2025/001", "Neuer Radweg an der Hübschstraße", "Der Belag wird erneuert.")
    publish("2025/002", "Haushalt 2026", "Für Radwege sind im Haushalt 2026 Mittel vorgesehen.")
    publish("2025/003", "Friedhofssatzung", "Gebühren.")
    results = _find(database, "Radwege")
    found = _refs(results)
    assert found == ["2025/001", "2025/002"] and results.total == 2
    assert _marked(results.hits[0].name) == ["Radweg"]
    assert _marked(results.hits[1].snippet) == ["Radwege"]
    streets = _refs(_find(database, "Hübschstraße"))
    assert streets == ["2025/001"]
    excluded = _refs(_find(database, "Radweg -Haushalt"))
    assert excluded == ["2025/001"]
    either = _refs(_find(database, "Friedhofssatzung or Belag"))
    assert sorted(either) == ["2025/001", "2025/003"]


def test_a_word_inside_a_pdf_anlage_is_found_with_its_anlage_and_page(database, publish):  # type: ignore[no-untyped-def]
    pdf = demo_pdf("Verkehrsgutachten", ["Die Fahrradstraße am Zoologischen Stadtgarten entlastet die Kriegsstraße."])
    paper_id = publish("2025/010", "Verkehrskonzept Südweststadt", "Siehe Anlage.", [("Gutachten Verkehr", pdf)])
    results = _find(database, "Fahrradstraßen")
    assert _refs(results) == ["2025/010"]
    hit = results.hits[0]
    assert (hit.paper_id, hit.file_name, hit.file_position, hit.page) == (paper_id, "Gutachten Verkehr", 1, 1)
    assert _marked(hit.snippet) == ["Fahrradstraße"]


def test_a_vorlage_matches_by_its_words_anywhere_and_a_phrase_where_it_stands_together(database, publish):  # type: ignore[no-untyped-def]
    pdf = demo_pdf("Gutachten", ["Die Lärmschutzwand an der Bahnlinie wird verlängert."])
    publish("2025/050", "Verkehrsberuhigung Oststadt", "Tempo 30 in allen Wohnstraßen.", [("Gutachten", pdf)])
    publish("2025/051", "Tempo 30 am Bahnhof", "Die Wohnstraßen bleiben, wie sie sind.")
    spread = _refs(_find(database, "Wohnstraßen Lärmschutzwand"))  # one word in the text, one in the Anlage
    assert spread == ["2025/050"]
    hit = _find(database, "Wohnstraßen Lärmschutzwand").hits[0]
    assert _marked(hit.snippet) == ["Wohnstraßen"]  # the Vorlage's own text first
    excluded = _refs(_find(database, "Wohnstraßen -Lärmschutzwand"))  # excluded anywhere, Anlagen included
    assert excluded == ["2025/051"]
    together = sorted(_refs(_find(database, '"Tempo 30"')))
    assert together == ["2025/050", "2025/051"]
    apart = _refs(_find(database, '"Wohnstraßen Tempo"'))  # both words there, not in this order
    assert apart == []
    either = sorted(_refs(_find(database, '"Wohnstraßen Tempo" or Bahnlinie')))
    assert either == ["2025/050"]
    by_reference = _refs(_find(database, "2025/051"))
    assert by_reference == ["2025/051"]
    # A long text is indexed in parts; a phrase across the cut between two stands whole in one.
    facts = "Ab " * 324 + "Feuerwehrwache Nord" + " Ende" * 300
    first = search._pieces("Sachverhalt: " + facts)[0]
    assert first.endswith("Feuerwehrwache")  # the cut falls inside the phrase
    publish("2025/052", "Feuerwehrbedarfsplan", facts)
    across = _refs(_find(database, '"Feuerwehrwache Nord"'))
    assert across == ["2025/052"]


def test_what_is_not_published_never_reaches_the_index(database, demo, actor, draft, publish):  # type: ignore[no-untyped-def]
    publish("2025/020", "Grundstücksverkauf Geheimweg", "Kaufpreis Geheimweg", public=False)
    draft_id = draft("2025/021", "Entwurf Sonnenweg")
    with database.unit_of_work() as s:
        search.index_paper(s, draft_id)  # even asked to, it writes nothing for a draft
        entries = s.exec(select(search.SearchEntry.paper_id)).all()
    assert draft_id not in entries
    nothing = _refs(_find(database, "Geheimweg")) + _refs(_find(database, "Sonnenweg"))
    assert nothing == []
    with database.unit_of_work() as s:  # its start releases it: then the public finds it
        procedures.start_beratungsfolge(s, actor("zierstedt"), draft_id, now=NOW)
    released = _refs(_find(database, "Sonnenweg"))
    assert released == ["2025/021"]
    with database.unit_of_work() as s:  # made non-public: out of the index in the same unit of work
        oparl_server.set_paper_public(s, s.get(Paper, draft_id), False, NOW)
    withdrawn = _refs(_find(database, "Sonnenweg"))
    assert withdrawn == []


def test_filters_by_gremium_type_and_period(database, demo, publish):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        assembly = s.exec(select(Organization).where(Organization.short_name == "VV")).one().id
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one().id
    publish("2025/030", "Schulweg A", paper_type="Antrag", day=date(2025, 1, 10))
    publish("2025/031", "Schulweg B", paper_type="Beschlussvorlage", day=date(2025, 3, 10), gremium=assembly)
    publish("2025/032", "Schulweg C", paper_type="Antrag", day=date(2025, 6, 10), gremium=assembly)
    by_type = sorted(_refs(_find(database, "Schulweg", Filters(paper_type="Antrag"))))
    assert by_type == ["2025/030", "2025/032"]
    by_gremium = sorted(_refs(_find(database, "Schulweg", Filters(organization_id=assembly))))
    assert by_gremium == ["2025/031", "2025/032"]
    by_committee = _refs(_find(database, "Schulweg", Filters(organization_id=committee)))
    assert by_committee == ["2025/030"]
    in_spring = _refs(_find(database, "Schulweg", Filters(since=date(2025, 2, 1), until=date(2025, 5, 31))))
    assert in_spring == ["2025/031"]


def test_results_page_by_keyset_and_say_how_many(database, publish):  # type: ignore[no-untyped-def]
    for n in range(7):
        publish(f"2025/{100 + n}", f"Spielplatz {n}", "Spielplatz " * (n + 1))
    seen: list[str] = []
    cursor = None
    totals = set()
    while True:
        results = _find(database, "Spielplätze", limit=3, cursor=cursor)
        totals.add(results.total)
        seen += _refs(results)
        cursor = results.next
        if cursor is None:
            break
    assert totals == {7} and len(seen) == 7 and len(set(seen)) == 7
    assert seen[0] == "2025/106"  # the most mentions first


def test_hostile_queries_are_words(database, publish):  # type: ignore[no-untyped-def]
    publish("2025/040", "Bahnhofsvorplatz", "Der Vorplatz wird neu gestaltet.")
    for query in ['"', 'NEAR(a b)', 'title:x', '*', 'a AND', '-', '^x', '"Bahnhofsvorplatz', 'der die das',
                  "x' OR 1=1 --", "\x00Vorplatz"]:
        _find(database, query)  # no error from FTS5 or tsquery syntax
    quoted = _refs(_find(database, '"neu gestaltet"'))
    assert quoted == ["2025/040"]
    with pytest.raises(Exception, match="Eingaben"):
        _find(database, "Vorplatz", cursor="kaputt")


def _zip(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


DOCX = _zip({"[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
             'wordprocessingml.document.main+xml"/></Types>',
             "word/document.xml": '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
             '<w:body><w:p><w:r><w:t>Lärmaktionsplan</w:t></w:r><w:r><w:t xml:space="preserve"> der Stadt</w:t>'
             '</w:r></w:p><w:p><w:r><w:t>Tempo 30</w:t></w:r></w:p></w:body></w:document>'})
ODT = _zip({"mimetype": "application/vnd.oasis.opendocument.text", "META-INF/manifest.xml": "<manifest/>",
            "content.xml": '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
            '<text:h>Baumschutzsatzung</text:h><text:p>Ersatzpflanzungen <text:span>je Baum</text:span></text:p>'
            '</office:text></office:body></office:document-content>'})
XLSX = _zip({"[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
             'spreadsheetml.sheet.main+xml"/></Types>',
             "xl/workbook.xml": "<workbook/>",
             "xl/sharedStrings.xml": '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<si><t>Kostenschätzung</t></si></sst>',
             "xl/worksheets/sheet1.xml": '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetData><row><c t="s"><v>0</v></c><c><v>125000</v></c></row></sheetData></worksheet>'})


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("content", "words"), [
    (DOCX, ["Lärmaktionsplan der Stadt", "Tempo 30"]),
    (ODT, ["Baumschutzsatzung", "Ersatzpflanzungen je Baum"]),
    (XLSX, ["Kostenschätzung", "125000"]),
    (demo_pdf("Seite eins", ["Bebauungsplan Nordstadt"]), ["Seite eins", "Bebauungsplan Nordstadt"]),
    ("Klimaschutz\r\nkonzept".encode("cp1252"), ["Klimaschutz", "konzept"]),
])
def test_text_is_read_from_pdf_and_office_documents(content: bytes, words: list[str]) -> None:
    read = extract.extract(content).text
    lines = [line.strip() for line in read.splitlines() if line.strip()]
    assert lines == words


@pytest.mark.sqlite_only
def test_a_broken_or_hostile_document_is_unreadable_never_a_crash() -> None:
    with pytest.raises(extract.Unreadable):
        extract.extract(b"%PDF-1.4\n% nur ein Kopf\n%%EOF\n")
    entity = _zip({"mimetype": "application/vnd.oasis.opendocument.text", "META-INF/manifest.xml": "<m/>",
                   "content.xml": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x><p>&e;</p></x>'})
    read = extract.extract(entity).text
    assert "root" not in read  # no entity resolved, no file read
    assert extract.extract(_png()).text == ""  # images: no text here (no OCR)


def test_imported_and_large_documents_are_read_by_the_background_job(database, demo, files):  # type: ignore[no-untyped-def]
    """A document whose text was not read at upload (large, or imported) is read by catch_up,
    and its published Vorlage indexed then; a missing blob is noted, not retried forever."""
    pdf = demo_pdf("Großes Gutachten", ["Regenrückhaltebecken am Stadtrand"])
    with database.unit_of_work() as s:
        seed = s.get(Paper, demo.paper_id)
        paper = Paper(body_id=seed.body_id, reference="2025/050", name="Hochwasserschutz", released=NOW)
        s.add(paper)
        s.flush()
        s.add(File(paper_id=paper.id, position=1, name="Gutachten", size=len(pdf), mime_type="application/pdf",
                   sha_512_checksum=files.put(s, pdf)))
        s.add(File(paper_id=paper.id, position=2, name="Fehlt", size=1, sha_512_checksum="ab" * 64))
    before = _refs(_find(database, "Regenrückhaltebecken"))
    assert before == []
    done = search.catch_up(database, files)
    assert (done.read, done.more) == (2, False)
    after = _refs(_find(database, "Regenrückhaltebecken"))
    assert after == ["2025/050"]
    with database.unit_of_work(write=False) as s:
        missing = s.get(search.FileText, "ab" * 64)
        assert missing is not None and missing.status == search.TEXT_MISSING
    again = search.catch_up(database, files)
    assert (again.read, again.indexed) == (0, 0)


# ----------------------------------------------------------------------------- pages

def test_the_search_page_shows_ranked_hits_with_highlighted_snippets(database, publish, browser):  # type: ignore[no-untyped-def]
    pdf = demo_pdf("Anlage", ["Im Gutachten: Lärmschutzwände entlang der Südtangente."])
    publish("2025/060", "Lärmschutz Südtangente", "Siehe Anlage.", [("Lärmgutachten", pdf)])
    page = browser().get("/?q=Lärmschutzwand").get_data(as_text=True)
    assert "1 Vorlage gefunden" in text_of(page)
    assert "<mark>Lärmschutzwände</mark>" in page and "Treffer in Anlage 1" in page and "Seite 1" in page
    bad = browser().get("/?q=Lärm&von=31.02.2025")
    assert bad.status_code == 422 and "Datum bitte als TT.MM.JJJJ." in text_of(bad.get_data(as_text=True))
    assert 'value="Lärm"' in bad.get_data(as_text=True)  # nothing typed is lost


def test_the_public_list_pages_and_says_how_many(database, publish, browser, draft):  # type: ignore[no-untyped-def]
    for n in range(55):
        publish(f"2026/{n:03d}", f"Vorlage {n}")
    draft("2026/900", "Nie gestartet")
    first = text_of(browser().get("/").get_data(as_text=True))
    assert "56 Vorlagen" in first  # 55 and the seed; never the draft
    assert "2026/900" not in first and "Weitere Vorlagen" in first
    html = browser().get("/").get_data(as_text=True)
    following = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = text_of(browser().get(following).get_data(as_text=True))
    assert "2026/004" in second and "2026/054" not in second and "Weitere Vorlagen" not in second


def test_a_draft_is_public_nowhere(database, demo, draft, browser, app):  # type: ignore[no-untyped-def]
    paper_id = draft("2024/075", "Antrag im Entwurf")
    client = browser()
    assert client.get(f"/vorlagen/{paper_id}").status_code == 404
    assert "2024/075" not in client.get("/").get_data(as_text=True)
    oparl = client.get("/oparl/v1/paper").get_data(as_text=True) if "oparl.paper_list" in app.view_functions \
        else ""
    assert "2024/075" not in oparl
    with database.unit_of_work(write=False) as s:
        listed = [p.reference for p in s.exec(oparl_server._papers(None))]
    assert "2024/075" not in listed and "2024/063" in listed


def test_anonymous_visitors_get_the_calendar_members_their_gremien(demo, browser):  # type: ignore[no-untyped-def]
    public = text_of(browser().get("/sitzungen").get_data(as_text=True))
    assert "Sitzungskalender" in public and "3 kommende Sitzungen" in public and "Neue Sitzung" not in public
    assert "SI/2024/128" in public
    past = text_of(browser().get("/sitzungen?zeit=vergangen").get_data(as_text=True))
    assert "1 vergangene Sitzung" in past and "SI/2024/131" in past
    month = text_of(browser().get("/sitzungen?ansicht=monat&monat=2026-12").get_data(as_text=True))
    assert "Dezember 2026: 2 Sitzungen" in month
    member = text_of(browser().login("becker").get("/sitzungen").get_data(as_text=True))
    assert "meine Gremien" in member and "Neue Sitzung" not in member and "Keine Sitzungen" not in member
    secretary = text_of(browser().login("hoffmann").get("/sitzungen").get_data(as_text=True))
    assert "Neue Sitzung" in secretary and "Ladungsfrist" in secretary


def test_the_calendar_pages_by_keyset(database, demo, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        gremium = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one().id
        for n in range(30):
            s.add(Meeting(organization_id=gremium, name=f"Sondersitzung {n}", reference=f"SI/2027/{n:03d}",
                          start=datetime(2027, 2, 1, 16, 0, tzinfo=UTC) + timedelta(days=n)))
    html = browser().get(f"/sitzungen?gremium={gremium}").get_data(as_text=True)
    assert "31 kommende Sitzungen" in text_of(html)  # 30 and SI/2024/140
    following = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    rest = text_of(browser().get(following).get_data(as_text=True))
    assert "SI/2027/029" in rest and "SI/2027/020" not in rest


def test_the_public_session_page_shows_no_internals(database, demo, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        meeting.invitation_overdue = True
        meeting.minutes_released = None
        s.add(meeting)
        held = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
        held.minutes_released = NOW
        s.add(held)
        ids = meeting.id, held.id
    public = text_of(browser().get(f"/sitzungen/{ids[0]}").get_data(as_text=True))
    assert "Ladungsfrist" not in public and "Tagesordnungsschluss" not in public and "Ablauf" not in public
    assert "iCalendar" in public and "noch nicht freigegeben" in public
    member = text_of(browser().login("becker").get(f"/sitzungen/{ids[0]}").get_data(as_text=True))
    assert "Ladungsfrist versäumt" in member
    minutes = text_of(browser().get(f"/sitzungen/{ids[1]}").get_data(as_text=True))
    assert "Niederschrift freigegeben am 24.11.2026" in minutes and "2024/063" in minutes


# ----------------------------------------------------------------------------- migration

def test_migration_0017_releases_what_was_started_and_tombstones_public_drafts(tmp_path, database_url):  # type: ignore[no-untyped-def]
    with database_at(database_url, tmp_path, "0016") as engine:
        at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) VALUES (1, 'Stadt', :t, :t)"),
                         {"t": at})
            for pid, ref, status, public in [(1, "2024/063", "in Beratung", True), (2, "2024/075", "Entwurf", True),
                                             (3, "OParl 1", "Entwurf", True), (4, "2024/099", "Entwurf", False)]:
                conn.execute(text(
                    "INSERT INTO paper (id, body_id, reference, name, paper_type, public, status, facts, "
                    "proposal_heading, proposal, financial_impact, personnel_impact, created, modified) "
                    "VALUES (:id, 1, :ref, 'x', 'Antrag', :public, :status, '', 'B', '', '', '', :t, :t)"),
                    {"id": pid, "ref": ref, "status": status, "public": public, "t": at})
            conn.execute(text("INSERT INTO oparl_source (id, url, filters_ignored, resume, retry) "
                              "VALUES (1, 'https://ris.example.org/oparl', false, '{}', '[]')"))
            conn.execute(text("INSERT INTO oparl_origin (source_id, object_type, object_id, origin_url, original) "
                              "VALUES (1, 'paper', 3, 'https://ris.example.org/oparl/paper/3', '{}')"))
        upgrade_schema(engine, "head")
        with Session(engine) as s:
            released = {p.reference: p.released is not None for p in s.exec(select(Paper))}
            stones = sorted(tuple(r) for r in s.execute(text(
                "SELECT object_type, object_id FROM oparl_tombstone")).all())
        # Started, and imported (its source published it), are released; a public draft that
        # OParl served gets a tombstone, a non-public one never was served.
        assert released == {"2024/063": True, "2024/075": False, "OParl 1": True, "2024/099": False}
        assert stones == [("paper", 2)]
        command.downgrade(alembic_config(engine), "0016")
        with engine.connect() as conn:
            columns = [r[1] for r in conn.execute(text("PRAGMA table_info(paper)"))] if engine.dialect.name == "sqlite" else \
                [r[0] for r in conn.execute(text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'paper'"))]
        assert "released" not in columns


def test_migration_0020_fills_the_vorlagen_index_from_the_parts_so_the_search_works_at_once(tmp_path, database_url):  # type: ignore[no-untyped-def]
    with database_at(database_url, tmp_path, "0019") as engine:
        at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        postgresql = engine.dialect.name == "postgresql"
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) VALUES (1, 'Stadt', :t, :t)"),
                         {"t": at})
            conn.execute(text(
                "INSERT INTO paper (id, body_id, reference, name, paper_type, public, status, released, facts, "
                "proposal_heading, proposal, financial_impact, personnel_impact, created, modified) "
                "VALUES (1, 1, '2024/063', 'Radweg Nordstadt', 'Antrag', true, 'in Beratung', :t, "
                "'Der Belag wird erneuert.', 'B', '', '', '', :t, :t)"), {"t": at})
            conn.execute(text("INSERT INTO file (id, paper_id, position, name, size, created) "
                              "VALUES (1, 1, 1, 'Lageplan', 10, :t)"), {"t": at})
            # The parts as the index of 0017–0019 wrote them: the Vorlage's own, one of an Anlage.
            for pid, file_id, title, content in [(1, None, "2024/063 Radweg Nordstadt", "Sachverhalt: Der Belag "
                                                  "wird erneuert."), (2, 1, "Lageplan", "Die Baumreihe bleibt.")]:
                conn.execute(text(
                    "INSERT INTO search_entry (id, paper_id, file_id, part, body_id, paper_type, title, content, "
                    "source_modified" + (", document, rank_vector" if postgresql else "") + ") VALUES (:id, 1, "
                    ":file_id, :part, 1, 'Antrag', :title, :content, :t" +
                    (", to_tsvector('german', :title) || to_tsvector('german', :content), "
                     "to_tsvector('german', :title)" if postgresql else "") + ")"),
                    {"id": pid, "file_id": file_id, "part": 0 if file_id is None else 1, "title": title,
                     "content": content, "t": at})
                if not postgresql:
                    conn.execute(text("INSERT INTO fts_search (rowid, title, content) VALUES (:id, :title, :content)"),
                                 {"id": pid, "title": search.terms(title), "content": search.terms(content)})
        upgrade_schema(engine, "head")
        with Session(engine) as s:
            spread = search.search(s, "Radwege Baumreihe")  # the title's word and the Anlage's
            stale = search.stale_papers(s, 10)
        found = [h.reference for h in spread.hits]
        assert found == ["2024/063"] and spread.total == 1
        assert stale == []  # nothing to index again: the search works at once
        command.downgrade(alembic_config(engine), "0019")
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        assert "search_paper" not in tables
