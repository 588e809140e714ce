"""The members' Sitzungsmappe (issue 19 point 5): a Sitzung's agenda with every Vorlage and
Anlage the reader may see, as a ZIP and as one PDF with a bookmark per TOP; the non-public
part only for the Gremium's members (and its Sekretariat, Revision, the administration)."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import select

from engine import mappe
from engine.accounts import Account, create_account, load_actor
from engine.council import AgendaItem, Consultation, File, Meeting, Membership, Organization, Paper, Person
from engine.demo import demo_pdf
from engine.errors import Conflict, NotFound
from engine.files import FileStore
from engine.settings import TIMEZONE

from .conftest import NOW, PASSWORD

#: A PNG of one pixel (an Anlage that is no PDF: in the ZIP only).
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082")
SECRET = "Grundstücksankauf Gewerbegebiet Nord"


def stock_meeting(database: Any, reference: str = "SI/2024/140") -> int:
    """The agenda of an upcoming committee Sitzung, as a Mappe must take it: TOP 1 a public
    Vorlage with a PDF Anlage, a picture and a damaged PDF; TOP 2 without papers; TOP 3 (non-public)
    a non-public Vorlage with its PDF Anlage. Returns the Sitzung's id."""
    files = FileStore(database.settings.files_path)
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == reference)).one()
        org = s.get(Organization, meeting.organization_id)
        lead = s.exec(select(Organization).where(Organization.name == "Wirtschaft und Raum")).one()

        def paper(ref: str, name: str, public: bool, number: str, anlagen: list[tuple[str, str, bytes, str]]) -> None:
            p = Paper(body_id=org.body_id, reference=ref, name=name, public=public, released=NOW - timedelta(days=20),
                      under_direction_of_id=lead.id, status="in Beratung",
                      facts=f"Sachverhalt zu {name}.", proposal=f"Der Ausschuss beschließt {name}.")
            s.add(p)
            s.flush()
            c = Consultation(paper_id=p.id, position=1, organization_id=org.id, meeting_id=meeting.id)
            s.add(c)
            s.flush()
            s.add(AgendaItem(meeting_id=meeting.id, consultation_id=c.id, number=number, name=name, public=public))
            for position, (title, file_name, content, mime) in enumerate(anlagen, start=1):
                s.add(File(paper_id=p.id, position=position, name=title, file_name=file_name, mime_type=mime,
                           size=len(content), sha_512_checksum=files.put(s, content)))

        paper("2024/501", "Radverkehrskonzept Innenstadt", True, "1", [
            ("Lageplan Radwege", "Lageplan Radwege.pdf", demo_pdf("Lageplan Radwege", ["Anlage 1 zu 2024/501"]),
             "application/pdf"),
            ("Foto Kreuzung", "Foto Kreuzung.png", PNG, "image/png"),
            ("Gutachten Verkehr", "Gutachten Verkehr.pdf", b"%PDF-1.4\nkaputt\n", "application/pdf"),
        ])
        s.add(AgendaItem(meeting_id=meeting.id, number="2", name="Mitteilungen der Verwaltung", public=True))
        paper("2024/502", SECRET, False, "3", [
            ("Wertgutachten Grundstück", "Wertgutachten.pdf",
             demo_pdf("Wertgutachten Grundstück", ["vertraulich"]), "application/pdf"),
        ])
        return meeting.id  # type: ignore[no-any-return]


def other_member(database: Any) -> None:
    """Peter Jansen (member of the assembly only) gets a login: ``jansen``."""
    with database.unit_of_work() as s:
        if s.exec(select(Account).where(Account.username == "jansen")).first() is None:
            jansen = s.exec(select(Person).where(Person.family_name == "Jansen")).one()
            create_account(s, "jansen", PASSWORD, "Peter Jansen", [], person_id=jansen.id, email=jansen.email)


def _actor(database: Any, username: str | None) -> Any:
    if username is None:
        return None
    with database.unit_of_work(write=False) as s:
        account = s.exec(select(Account).where(Account.username == username)).one()
        return load_actor(s, account.id)


def build(database: Any, username: str | None, meeting_id: int) -> tuple[mappe.Mappe, bytes, bytes]:
    """The Mappe as ``username`` reads it, its PDF and its ZIP."""
    actor = _actor(database, username)
    files = FileStore(database.settings.files_path)
    with database.unit_of_work(write=False) as s:
        found = mappe.read(s, actor, meeting_id, files, NOW.astimezone(TIMEZONE).date(), NOW)
        pdf, archive = io.BytesIO(), io.BytesIO()
        mappe.write_pdf(found, pdf)
        mappe.write_zip(found, archive)
    return found, pdf.getvalue(), archive.getvalue()


def outline(pdf: bytes) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """The PDF's bookmarks: (title, page, [(child title, page)])."""
    reader = PdfReader(io.BytesIO(pdf))
    found: list[tuple[str, int, list[tuple[str, int]]]] = []
    for entry in reader.outline:
        if isinstance(entry, list):
            title, page, _children = found[-1]
            found[-1] = (title, page, [(c.title, reader.get_destination_page_number(c)) for c in entry])
        else:
            found.append((entry.title, reader.get_destination_page_number(entry), []))
    return found


def page_text(pdf: bytes, number: int) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[number].extract_text()


def all_text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_a_member_gets_every_top_with_its_vorlage_and_anlagen(demo, database):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    found, pdf, archive = build(database, "becker", meeting_id)
    assert found.closed is True
    tops = [t.title for t in found.tops]
    assert tops == ["TOP 1: Radverkehrskonzept Innenstadt", "TOP 2: Mitteilungen der Verwaltung", f"TOP 3: {SECRET}"]

    marks = outline(pdf)
    titles = [(title, [c for c, _page in children]) for title, _page, children in marks]
    assert titles == [
        ("Deckblatt und Tagesordnung", []),
        ("TOP 1: Radverkehrskonzept Innenstadt", ["Vorlage 2024/501", "Anlage 1: Lageplan Radwege"]),
        ("TOP 2: Mitteilungen der Verwaltung", []),
        (f"TOP 3: {SECRET}", ["Vorlage 2024/502", "Anlage 1: Wertgutachten Grundstück"]),
    ]
    # Each bookmark leads to its document's page.
    children = {c: page for _t, _p, kids in marks for c, page in kids}
    assert "Lageplan Radwege" in page_text(pdf, children["Anlage 1: Lageplan Radwege"])
    assert "Wertgutachten Grundstück" in page_text(pdf, children["Anlage 1: Wertgutachten Grundstück"])
    assert "Vorlage 2024/502" in page_text(pdf, children["Vorlage 2024/502"])
    assert "Der Ausschuss beschließt Radverkehrskonzept" in page_text(pdf, children["Vorlage 2024/501"])
    reader = PdfReader(io.BytesIO(pdf))
    # Cover and agenda, a page per Vorlage, one per PDF Anlage (the damaged one is left out).
    agenda_pages = children["Vorlage 2024/501"]
    assert len(reader.pages) == agenda_pages + 2 + 2
    agenda = "\n".join(page_text(pdf, n) for n in range(agenda_pages))
    assert "Anlage 2: Foto Kreuzung (nur in der ZIP-Datei)" in agenda
    assert "Anlage 3: Gutachten Verkehr (nicht lesbar, nur in der ZIP-Datei)" in agenda
    assert "Nichtöffentlicher Teil" in agenda and "vertraulich zu behandeln" in agenda
    assert reader.trailer["/Root"]["/Lang"] == "de"
    assert reader.metadata.title == "Sitzungsmappe AWSG " + found.meeting.start.astimezone(TIMEZONE).strftime("%d.%m.%Y")

    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = sorted(z.namelist())
        assert names == sorted([
            "00 Tagesordnung.pdf", "00 Inhalt.txt",
            "01 TOP 1 – Radverkehrskonzept Innenstadt/Vorlage 2024-501.pdf",
            "01 TOP 1 – Radverkehrskonzept Innenstadt/Anlage 1 – Lageplan Radwege.pdf",
            "01 TOP 1 – Radverkehrskonzept Innenstadt/Anlage 2 – Foto Kreuzung.png",
            "01 TOP 1 – Radverkehrskonzept Innenstadt/Anlage 3 – Gutachten Verkehr.pdf",
            f"03 TOP 3 – {SECRET} (nichtöffentlich)/Vorlage 2024-502.pdf",
            f"03 TOP 3 – {SECRET} (nichtöffentlich)/Anlage 1 – Wertgutachten.pdf",
        ])
        assert z.read("01 TOP 1 – Radverkehrskonzept Innenstadt/Anlage 2 – Foto Kreuzung.png") == PNG
        index = z.read("00 Inhalt.txt").decode("utf-8")
        assert "TOP 2: Mitteilungen der Verwaltung\r\n    (ohne Unterlagen)" in index
        agenda_zip = PdfReader(io.BytesIO(z.read("00 Tagesordnung.pdf")))
        assert len(agenda_zip.pages) == agenda_pages
        vorlage = PdfReader(io.BytesIO(z.read(f"03 TOP 3 – {SECRET} (nichtöffentlich)/Vorlage 2024-502.pdf")))
        assert "Sachverhalt zu Grundstücksankauf" in vorlage.pages[0].extract_text()


@pytest.mark.parametrize("username", [None, "jansen", "krause", "zierstedt"])
def test_someone_outside_the_gremium_gets_no_non_public_item(demo, database, others, username):  # type: ignore[no-untyped-def]
    """Anonymous, a member of another Gremium, another Gremium's Sekretariat and the clerk of the
    lead department (who sees the Vorlage itself, not the session's closed part): public part only."""
    meeting_id = stock_meeting(database)
    other_member(database)
    found, pdf, archive = build(database, username, meeting_id)
    assert found.closed is False
    titles = [title for title, _page, _children in outline(pdf)]
    assert titles == ["Deckblatt und Tagesordnung", "TOP 1: Radverkehrskonzept Innenstadt",
                      "TOP 2: Mitteilungen der Verwaltung"]
    text = all_text(pdf)
    leaked = [word for word in ("Grundstücksankauf", "2024/502", "Wertgutachten", "Nichtöffentlicher Teil")
              if word in text]
    assert leaked == []
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = z.namelist()
        in_zip = [n for n in names if "Grundst" in n or "Wertgutachten" in n or "nichtöffentlich" in n]
        assert in_zip == []
        contents = b"".join(z.read(n) for n in names)
    assert b"Wertgutachten" not in contents and "Grundstücksankauf".encode() not in contents


@pytest.mark.parametrize("username", ["hoffmann", "krueger", "admin"])
def test_sekretariat_revision_and_administration_get_the_closed_part(demo, database, username):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    found, _pdf, archive = build(database, username, meeting_id)
    assert found.closed is True
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        closed = [n for n in z.namelist() if "(nichtöffentlich)" in n]
    assert len(closed) == 2


def test_a_stand_in_gets_the_closed_part_and_a_former_member_does_not(demo, database):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    other_member(database)
    with database.unit_of_work() as s:
        meeting = s.get(Meeting, meeting_id)
        jansen = s.exec(select(Person).where(Person.family_name == "Jansen")).one()
        standin = Membership(person_id=jansen.id, organization_id=meeting.organization_id,
                             role="stellvertretendes Mitglied")
        s.add(standin)
        s.flush()
        standin_id = standin.id
    assert build(database, "jansen", meeting_id)[0].closed is True
    with database.unit_of_work() as s:
        s.get(Membership, standin_id).end_date = NOW.astimezone(TIMEZONE).date() - timedelta(days=1)
    found, pdf, _archive = build(database, "jansen", meeting_id)
    assert found.closed is False and "2024/502" not in all_text(pdf)


def test_a_draft_vorlage_on_a_public_top_stays_out_for_the_public(demo, database):  # type: ignore[no-untyped-def]
    """The agenda's rule (a TOP is public only with a published Vorlage) and the Vorlage's own
    rule (``visible_papers_clause``) both hold: an unreleased Vorlage is not in an outsider's Mappe."""
    meeting_id = stock_meeting(database)
    with database.unit_of_work() as s:
        s.exec(select(Paper).where(Paper.reference == "2024/501")).one().released = None
    found, _pdf, _archive = build(database, None, meeting_id)
    titles = [t.title for t in found.tops]
    assert titles == ["TOP 2: Mitteilungen der Verwaltung"]
    member = [(t.title, t.public) for t in build(database, "becker", meeting_id)[0].tops]
    assert ("TOP 1: Radverkehrskonzept Innenstadt", False) in member  # in the non-public part


def test_no_mappe_for_a_cancelled_or_unknown_sitzung(demo, database):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    files = FileStore(database.settings.files_path)
    with database.unit_of_work() as s:
        s.get(Meeting, meeting_id).cancelled = True
    with database.unit_of_work(write=False) as s, pytest.raises(Conflict) as refused:
        mappe.read(s, None, meeting_id, files, NOW.date(), NOW)
    assert refused.value.message == "Die Sitzung ist abgesagt; es gibt keine Sitzungsmappe."
    with database.unit_of_work(write=False) as s, pytest.raises(NotFound):
        mappe.read(s, None, 2**40, files, NOW.date(), NOW)


def test_an_anlage_missing_from_the_store_is_named_not_fatal(demo, database):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    files = FileStore(database.settings.files_path)
    with database.unit_of_work(write=False) as s:
        lageplan = s.exec(select(File).where(File.name == "Lageplan Radwege")).one()
        path = files.path_for(lageplan.sha_512_checksum)
    kept = path.read_bytes()
    path.unlink()
    try:
        _found, pdf, archive = build(database, "becker", meeting_id)
    finally:
        path.write_bytes(kept)
    assert "Anlage 1: Lageplan Radwege (fehlt im Dateispeicher)" in all_text(pdf)
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        index = z.read("00 Inhalt.txt").decode("utf-8")
        missing = [n for n in z.namelist() if "Lageplan" in n]
    assert missing == [] and "Anlage 1: Lageplan Radwege: fehlt im Dateispeicher" in index


# ----------------------------------------------------------------------------- over HTTP

def test_meine_sitzungen_offers_the_mappe_and_the_download_keeps_the_rule(demo, database, browser):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    other_member(database)
    member = browser().login("becker")
    page = member.get("/meine-sitzungen").get_data(as_text=True)
    assert f'href="/meine-sitzungen/{meeting_id}/sitzungsmappe.pdf"' in page
    assert f'href="/meine-sitzungen/{meeting_id}/sitzungsmappe.zip"' in page
    assert "Sitzungsmappe vom " in page and "Die Sitzungsmappe enthält die Tagesordnung" in page
    english = member.get("/meine-sitzungen?lang=en").get_data(as_text=True)
    assert "Meeting pack" in english and "meeting pack of " in english
    response = member.get(f"/meine-sitzungen/{meeting_id}/sitzungsmappe.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="Sitzungsmappe AWSG ')
    marks = [title for title, _page, _children in outline(response.get_data())]
    response.close()
    assert f"TOP 3: {SECRET}" in marks

    outsider = browser().login("jansen")
    response = outsider.get(f"/meine-sitzungen/{meeting_id}/sitzungsmappe.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as z:
        names = z.namelist()
    response.close()
    closed = [n for n in names if "nichtöffentlich" in n or "Grundst" in n]
    assert closed == [] and "01 TOP 1 – Radverkehrskonzept Innenstadt/Anlage 1 – Lageplan Radwege.pdf" in names


def test_the_mappe_of_a_cancelled_sitzung_is_refused_in_words(demo, database, browser):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    with database.unit_of_work() as s:
        s.get(Meeting, meeting_id).cancelled = True
    response = browser().login("becker").get(f"/meine-sitzungen/{meeting_id}/sitzungsmappe.pdf")
    assert response.status_code == 409
    assert "Die Sitzung ist abgesagt; es gibt keine Sitzungsmappe." in response.get_data(as_text=True)


def test_the_built_mappe_is_shared_by_equal_readers_and_built_anew_after_a_change(demo, database, tmp_path):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    other_member(database)
    files = FileStore(database.settings.files_path)
    cache = mappe.Cache(tmp_path / "sitzungsmappen")

    def get(username: str | None, kind: str = "pdf") -> tuple[Any, bool]:
        actor = _actor(database, username)
        with database.unit_of_work(write=False) as s:
            found = mappe.read(s, actor, meeting_id, files, NOW.astimezone(TIMEZONE).date(), NOW)
        return cache.file(found, kind)

    member, built = get("becker")
    assert built is True
    secretary, built_again = get("hoffmann")  # the same content: the same file, not built again
    assert (secretary, built_again) == (member, False)
    outsider, built = get("jansen")
    assert built is True and outsider != member
    assert "2024/502" not in all_text(outsider.read_bytes()) and "2024/502" in all_text(member.read_bytes())

    with database.unit_of_work() as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2024/501")).one()
        content = demo_pdf("Stellungnahme ADFC")
        s.add(File(paper_id=paper.id, position=4, name="Stellungnahme ADFC", file_name="Stellungnahme.pdf",
                   mime_type="application/pdf", size=len(content), sha_512_checksum=files.put(s, content)))
    changed, built = get("becker")
    assert built is True and changed != member
    children = [c for title, _p, kids in outline(changed.read_bytes()) for c, _page in kids]
    assert "Anlage 4: Stellungnahme ADFC" in children
    zipped, built = get("becker", "zip")
    assert built is True and zipped.suffix == ".zip"
    leftovers = [p.name for p in cache.root.iterdir() if p.name.startswith(".build-")]
    assert leftovers == []


def test_the_seed_vorlage_s_anlagen_known_by_name_only_are_named_on_the_agenda(demo, database):  # type: ignore[no-untyped-def]
    """The demo's Vorlage 2024/063 on SI/2024/131 has two Anlagen known by name and size only
    (as imported): the agenda names them, the PDF and the ZIP cannot hold them."""
    with database.unit_of_work(write=False) as s:
        meeting_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/131")).one()
    found, pdf, archive = build(database, "becker", meeting_id)
    [top] = found.tops
    reasons = [(a.label[:9], a.why_not) for a in top.anlagen]
    assert reasons == [("Anlage 1:", "nur dem Namen nach bekannt, Datei liegt nicht vor"),
                       ("Anlage 2:", "nur dem Namen nach bekannt, Datei liegt nicht vor")]
    assert "(nur dem Namen nach bekannt, Datei liegt nicht vor)" in all_text(pdf)
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = sorted(z.namelist())
    assert names == ["00 Inhalt.txt", "00 Tagesordnung.pdf",
                     "01 TOP 5 – Bericht Kooperationsvereinbarung mit regionalen Wirtschafts…/"  # 60 characters
                     "Vorlage 2024-063.pdf"]


def test_the_scheduler_builds_the_mappen_of_invited_sitzungen_ahead(demo, database, browser):  # type: ignore[no-untyped-def]
    """After the invitation the ``sitzungsmappen`` job builds the members' and the public Mappe;
    a member's and an outsider's download then find theirs built (the members' own fingerprint
    is the one built ahead); after a change the next run builds the new one."""
    from engine.process import sessions
    from notifications.scheduler import prebuild_mappen

    meeting_id = stock_meeting(database)
    other_member(database)
    files = FileStore(database.settings.files_path)
    cache = mappe.Cache(database.settings.mappe_path)
    shutil.rmtree(cache.root, ignore_errors=True)  # the instance folder outlives a test: built afresh
    assert prebuild_mappen(database, NOW) == 0  # nothing invited ahead yet (the demo's SI/2024/131 is past)
    with database.unit_of_work() as s:
        sessions.send_invitation(s, _actor(database, "hoffmann"), meeting_id, {}, now=NOW)
    assert prebuild_mappen(database, NOW) == 4  # members' and public, PDF and ZIP
    assert prebuild_mappen(database, NOW) == 0

    def hit(username: str, kind: str) -> bool:
        with database.unit_of_work(write=False) as s:
            found = mappe.read(s, _actor(database, username), meeting_id, files, NOW.astimezone(TIMEZONE).date(),
                               NOW)
        return not cache.file(found, kind)[1]

    hits = [hit("becker", "pdf"), hit("hoffmann", "zip"), hit("jansen", "pdf"), hit("krueger", "zip")]
    assert all(hits), hits
    with database.unit_of_work() as s:
        s.exec(select(Paper).where(Paper.reference == "2024/502")).one().facts = "Neuer Sachverhalt."
    assert prebuild_mappen(database, NOW) == 2  # the members' one changed; the public one did not
