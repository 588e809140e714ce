"""A citizen walks the public side in a real Chromium (issue 20): calendar → session → agenda →
Vorlage → Anlage → search by a word inside the PDF; axe finds nothing serious on any page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select

from engine import search
from engine.council import AgendaItem, Consultation, File, Meeting, Paper
from engine.demo import demo_pdf
from engine.files import FileStore

from .conftest import NOW
from .test_browser import _serious_violations, chromium, live_server, page  # noqa: F401 - fixtures

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
        return {"meeting": meeting.name}


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
