"""A citizen walks the public side in a real Chromium (issue 20): calendar → session → agenda →
Vorlage → Anlage → search by a word inside the PDF; axe finds nothing serious on any page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select

from engine import search
from engine.accounts import Account
from engine.calendar import reminders
from engine.council import AgendaItem, Consultation, File, Meeting, Organization, Paper
from engine.demo import demo_pdf
from engine.files import FileStore

from .conftest import NOW, PASSWORD
from .test_browser import _serious_violations, chromium, live_server, page  # noqa: F401 - fixtures

#: The smallest desktop the public pages are made for (the walk's, tests/test_walk.py).
WIDTH, HEIGHT = 1280, 800

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


@pytest.fixture
def on_the_agenda(database, demo, settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A published Vorlage with a PDF Anlage on the agenda of the committee's next session."""
    pdf = demo_pdf("Machbarkeitsstudie", ["Der geplante Bürgerradweg verbindet Eilendorf mit der Innenstadt."])
    files = FileStore(settings.files_path)
    with database.unit_of_work() as s:
        seed = s.get(Paper, demo.paper_id)
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        paper = Paper(body_id=seed.body_id, reference="2024/080", name="Radverkehrsnetz Ost", public=True,
                      released=NOW, status="in Beratung", under_direction_of_id=seed.under_direction_of_id,
                      facts="Die Verwaltung legt die Studie vor.")
        s.add(paper)
        s.flush()
        consultation = Consultation(paper_id=paper.id, position=1, organization_id=meeting.organization_id,
                                    meeting_id=meeting.id)
        s.add(consultation)
        s.flush()
        s.add(AgendaItem(meeting_id=meeting.id, consultation_id=consultation.id, number="3", name=paper.name))
        digest = files.put(s, pdf)
        s.add(File(paper_id=paper.id, position=1, name="Machbarkeitsstudie", file_name="Machbarkeitsstudie.pdf",
                   mime_type="application/pdf", size=len(pdf), sha_512_checksum=digest))
        search.store_text(s, digest, pdf, "application/pdf")
        s.flush()
        search.index_paper(s, paper.id)
        return {"meeting": meeting.name, "meeting_id": meeting.id, "paper_id": paper.id,
                "consultation_id": consultation.id}


def _clean(page, what: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    bad = _serious_violations(page)
    assert bad == [], f"{what}: {[(v['id'], v['impact']) for v in bad]}"


def test_a_citizen_walks_calendar_session_vorlage_anlage_and_search(page, on_the_agenda) -> None:  # type: ignore[no-untyped-def]  # noqa: F811, E501
    page.goto("/")
    _clean(page, "Vorlagen")
    page.get_by_role("navigation", name="Navigation").get_by_role("link", name="Sitzungen").click()
    page.wait_for_url(re.compile(r"/sitzungen$"))
    assert page.get_by_role("heading", name="Sitzungskalender").is_visible()
    assert page.get_by_role("link", name="alle Sitzungen").is_visible()  # the iCalendar feed, on the page
    _clean(page, "Sitzungskalender (Liste)")
    page.get_by_label("Ansicht").select_option("monat")
    page.get_by_role("button", name="Anzeigen").click()
    page.wait_for_url(re.compile(r"ansicht=monat"))
    _clean(page, "Sitzungskalender (Monat)")
    page.goto("/sitzungen")
    page.get_by_role("link", name="SI/2024/140").click()
    page.wait_for_url(re.compile(r"/sitzungen/[0-9]+$"))
    body = page.inner_text("main")
    assert "Ladungsfrist" not in body and "Tagesordnungsschluss" not in body  # nothing internal
    _clean(page, "Sitzung")
    anlage = page.get_by_role("link", name="Machbarkeitsstudie")
    download = page.request.get(anlage.get_attribute("href"))
    assert download.status == 200 and download.headers["content-type"] == "application/pdf"
    page.get_by_role("link", name="2024/080").click()
    page.wait_for_url(re.compile(r"/vorlagen/[0-9]+$"))
    assert page.get_by_role("heading", name="2024/080").is_visible()
    _clean(page, "Vorlage")
    page.get_by_role("navigation", name="Navigation").get_by_role("link", name="Vorlagen").click()
    page.get_by_label(re.compile("Suchbegriffe")).fill("Bürgerradwege")
    page.get_by_role("button", name="Suchen").click()
    page.wait_for_url(re.compile(r"q="))
    assert page.get_by_role("heading", name="1 Vorlage gefunden").is_visible()
    assert page.locator("mark").first.inner_text() == "Bürgerradweg"
    assert "Treffer in Anlage 1" in page.inner_text("main")
    _clean(page, "Suche")
    page.get_by_text("Suche eingrenzen").click()
    _clean(page, "Suche mit Filtern")


@pytest.fixture
def decided(database, on_the_agenda) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """2024/080 with its Beratungsfolge decided as real ones are: the committee's recommendation
    with its votes (as the demo's week has it), then the Verbandsversammlung's result as an OParl
    source writes it (Karlsruhe's "Beratung im Fachgremium/Arbeitskreis") — long words in a
    six-column table."""
    with database.unit_of_work() as s:
        item = s.exec(select(AgendaItem).where(AgendaItem.consultation_id == on_the_agenda["consultation_id"])).one()
        item.result, item.votes_yes, item.votes_no, item.votes_abstain = "empfohlen", 11, 0, 1
        s.add(item)
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/141")).one()
        consultation = Consultation(paper_id=on_the_agenda["paper_id"], position=2, role="Entscheidung",
                                    organization_id=assembly.organization_id, meeting_id=assembly.id)
        s.add(consultation)
        s.flush()
        s.add(AgendaItem(meeting_id=assembly.id, consultation_id=consultation.id, number="6",
                         name="Radverkehrsnetz Ost", result_text="Beratung im Fachgremium/Arbeitskreis"))
        assert s.get(Organization, assembly.organization_id).name.startswith("Verbandsversammlung")
    return on_the_agenda


def _fits(page, what: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """No sideways scrolling at 1280 px (the widest elements named on failure), and axe clean."""
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w && e.getBoundingClientRect().width > 0)
        .slice(-3).map(e => e.tagName.toLowerCase() + ': ' + (e.textContent || '').trim().slice(0, 60))""", WIDTH)
    assert width <= WIDTH, f"{what}: the document is {width} px wide, past {WIDTH} px: {wide}"
    _clean(page, what)


def test_every_public_page_fits_1280_px_and_axe_finds_nothing_serious(  # type: ignore[no-untyped-def]
        chromium, live_server, decided, database, app) -> None:  # noqa: F811
    """Each kind of page an anonymous visitor gets, at 1280 × 800 in German: start page, the
    calendar as list and month, a session, a Vorlage (its Beratungsfolge decided, long results),
    search results, the API documentation, the unsubscribe page of a reminder. An Anlage has no
    page of its own (the link is the file). Then the same width for a member ("Meine Sitzungen")
    and a Sekretariat (its Sitzungen with their deadlines, a Vorlage with its forms)."""
    with database.unit_of_work() as s:
        becker = s.exec(select(Account).where(Account.username == "becker")).one().person_id
    unsubscribe = reminders.UNSUBSCRIBE_PATH + reminders.unsubscribe_token(app.secret_key, becker, 7 * 24 * 60)
    context = chromium.new_context(base_url=live_server, locale="de-DE", bypass_csp=True,
                                   viewport={"width": WIDTH, "height": HEIGHT})
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        for url, what in [("/", "Startseite (Vorlagen)"), ("/sitzungen", "Sitzungskalender (Liste)"),
                          ("/sitzungen?zeit=vergangen", "Sitzungskalender (vergangene)"),
                          ("/sitzungen?ansicht=monat&monat=2026-12", "Sitzungskalender (Monat)"),
                          (f"/sitzungen/{decided['meeting_id']}", "Sitzung"),
                          (f"/vorlagen/{decided['paper_id']}", "Vorlage"),
                          ("/?q=Radweg", "Suchergebnisse"), ("/api/v1/docs", "API-Dokumentation"),
                          (unsubscribe, "Erinnerung abbestellen")]:
            response = page.goto(url)
            assert response is not None and response.ok, (url, response and response.status)
            _fits(page, what)
        page.goto(f"/vorlagen/{decided['paper_id']}")  # the long results are on it
        assert "Beratung im Fachgremium/Arbeitskreis" in page.inner_text("main")
        assert "Beschlussempfehlung: zugestimmt (Ja 11" in page.inner_text("main")
        for username, landing, urls in [
                ("becker", "/meine-sitzungen", ["/meine-sitzungen", "/sitzungen"]),
                ("schmitz", "/aufgaben/", ["/sitzungen", f"/vorlagen/{decided['paper_id']}"])]:
            context.clear_cookies()
            page.goto("/anmelden")
            page.get_by_label("Benutzername").fill(username)
            page.get_by_label("Passwort").fill(PASSWORD)
            page.get_by_role("button", name="Anmelden").click()
            page.wait_for_url(re.compile(re.escape(landing) + "$"))
            for url in urls:
                page.goto(url)
                _fits(page, f"{url} ({username})")
    finally:
        context.close()
