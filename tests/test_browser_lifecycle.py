"""The lifecycle of a Vorlage in Chromium (issue 18, Done when): draft → two co-signers, one
returns → revised → signed → released → Beratungsfolge → Ausfertigung → Kontrolle closed.
Each person works in their own inbox; axe finds nothing serious on the new steps' pages;
screenshots are kept in screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from engine.council import Meeting, Paper
from engine.settings import TIMEZONE
from engine.workflow.models import ProcessInstance

from . import test_browser
from .test_browser import _shot, chromium, live_server  # noqa: F401 - fixtures
from .test_browser_attendance import _accessible, _login
from .test_lifecycle import departments  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

page = test_browser.page  # the browser tests' page (1280 × 900, axe allowed), shared


def _open(page, username: str, title: str, reference: str) -> None:  # type: ignore[no-untyped-def]
    """Log in as ``username`` and open the task ``title`` of the Vorlage from the inbox."""
    _login(page, username)
    page.get_by_role("navigation", name="Navigation").get_by_role("link", name="Aufgaben", exact=True).click()
    page.wait_for_url(re.compile(r"/aufgaben/"))
    row = page.locator("table.inbox tbody tr").filter(has_text=reference).filter(has_text=title)
    assert row.count() == 1, page.inner_text("main")
    row.get_by_role("link", name=title, exact=True).click()
    page.wait_for_url(re.compile(r"/aufgaben/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == title


def _done(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Erledigen").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    assert page.locator("p.flash").filter(has_text="Die Aufgabe wurde erledigt.").is_visible()


def test_the_lifecycle_in_the_browser(demo, database, draft, departments, page, clock):  # type: ignore[no-untyped-def]  # noqa: F811
    paper_id = draft("2024/300", "Radschnellweg Aachen–Herzogenrath")
    reference = "2024/300"
    with database.unit_of_work() as s:
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        meeting_id, start = later.id, later.start

    # The clerk begins Mitzeichnung and Freigabe from the Vorlage's page.
    _login(page, "zierstedt")
    page.goto(f"/vorlagen/{paper_id}")
    page.get_by_label("Mobilität und Digitalisierung").check()
    page.get_by_role("button", name="Mitzeichnung und Freigabe beginnen").click()
    assert page.locator("p.flash").filter(has_text="Der Entwurf liegt zur Fertigstellung im Posteingang").is_visible()
    _accessible(page, "Vorlage with its lifecycle begun")

    _open(page, "zierstedt", "Entwurf fertigstellen", reference)
    page.locator("select#finanzielle_auswirkungen").select_option("im_haushalt")
    _accessible(page, "Entwurf")
    _done(page)

    # Two co-signers: Mobilität returns it (first without a reason: refused), Finanzen signs.
    _open(page, "lenz", "Mitzeichnen", reference)
    page.locator("select#mitzeichnung").select_option("zurueck")
    page.get_by_role("button", name="Erledigen").click()
    assert page.get_by_text("Bitte begründen, warum die Vorlage an die Federführung zurückgeht.").is_visible()
    _accessible(page, "Mitzeichnung refused without a reason")
    _shot(page, "issue18-1-mitzeichnung-ohne-begruendung")
    page.locator("select#mitzeichnung").select_option("zurueck")
    page.locator("textarea#anmerkung").fill("Die Radwege der Städteregion fehlen.")
    _done(page)
    _open(page, "jansen", "Mitzeichnen", reference)
    page.locator("select#mitzeichnung").select_option("mit_anmerkung")
    page.locator("textarea#anmerkung").fill("Deckung aus dem Haushalt 2025.")
    _done(page)

    # Revised, signed by both in the second round.
    _open(page, "zierstedt", "Entwurf fertigstellen", reference)
    page.locator("select#finanzielle_auswirkungen").select_option("im_haushalt")
    page.locator("textarea#ueberarbeitung").fill("Radwege ergänzt.")
    _done(page)
    for who in ("lenz", "jansen"):
        _open(page, who, "Mitzeichnen", reference)
        page.locator("select#mitzeichnung").select_option("mitgezeichnet")
        _done(page)

    # Not public before its Freigabe; the head of the department releases it.
    page.context.clear_cookies()
    assert page.goto(f"/vorlagen/{paper_id}").status == 404
    _open(page, "brandt", "Vorlage freigeben", reference)
    _accessible(page, "Freigabe")
    page.locator("select#freigabe").select_option("freigeben")
    _done(page)
    page.context.clear_cookies()
    assert page.goto(f"/vorlagen/{paper_id}").status == 200

    # The Beratungsfolge, unchanged, by the committee's Sekretariat.
    _open(page, "hoffmann", "Auf die Tagesordnung setzen", reference)
    page.locator("select#meeting_id").select_option(str(meeting_id))
    _done(page)
    clock.now = start + timedelta(hours=2)
    _open(page, "hoffmann", "Ergebnis erfassen", reference)
    page.locator("select#ergebnis").select_option("zur_kenntnis_genommen")
    _done(page)

    # Ausfertigung with the day it must be carried out by; the Kontrolle needs its note.
    chosen = (clock.now + timedelta(days=30)).astimezone(TIMEZONE).date()
    _open(page, "zierstedt", "Beschlussauszug bestätigen", reference)
    _accessible(page, "Ausfertigung")
    page.locator("input#faellig_am").fill(f"{chosen:%d.%m.%Y}")
    _done(page)
    _open(page, "zierstedt", "Beschluss umsetzen", reference)
    assert f"{chosen:%d.%m.%Y}" in page.inner_text("main")
    page.get_by_role("button", name="Erledigen").click()
    assert page.get_by_text("Pflichtfeld: bitte ausfüllen.").is_visible()
    page.locator("textarea#erledigungsvermerk").fill("Kooperationsvertrag am 02.03. unterzeichnet.")
    _done(page)
    _shot(page, "issue18-2-kontrolle-erledigt")

    with database.unit_of_work() as s:
        paper = s.get(Paper, paper_id)
        assert paper.status == "abgeschlossen"
    page.goto(f"/vorlagen/{paper_id}")
    assert "Die Beratungsfolge ist abgeschlossen." in page.inner_text("main")

    # The committee's Sekretariat sees it done on its implementation list.
    _login(page, "hoffmann")
    page.get_by_text("Sitzungen", exact=True).click()
    page.get_by_role("link", name="Beschlusskontrolle").click()
    page.wait_for_url(re.compile("/beschlusskontrolle"))
    row = page.locator("table.implementation tbody tr").filter(has_text=reference)
    assert "erledigt" in row.inner_text() and "Kooperationsvertrag am 02.03. unterzeichnet." in row.inner_text()
    _accessible(page, "Beschlusskontrolle")
    _shot(page, "issue18-3-beschlusskontrolle")

    # Revision sees the whole path: the timeline, and the diagram with the called Beratungsfolge.
    with database.unit_of_work() as s:
        instance_id = s.exec(select(ProcessInstance.id).where(ProcessInstance.paper_id == paper_id)).one()
    _login(page, "krueger")
    page.goto(f"/revision/vorlagen/{paper_id}")
    timeline = page.inner_text("main")
    missing = [step for step in ("Entwurf fertigstellen", "Mitzeichnen", "Vorlage freigeben", "Ergebnis erfassen",
                                 "Beschlussauszug bestätigen", "Beschluss umsetzen") if step not in timeline]
    assert missing == []
    page.goto(f"/revision/vorgaenge/{instance_id}/diagramm")
    page.locator("#diagram[data-ready='true']").wait_for()
    page.locator("#diagram-beratungsfolge[data-ready='true']").wait_for()
    assert page.locator("#diagram [data-element-id='Beratungsfolge'].rf-done").count() == 1
    assert page.locator("#diagram [data-element-id='Mitzeichnung'].rf-done").count() == 1
    assert page.locator("#diagram-beratungsfolge [data-element-id='Tagesordnung'].rf-done").count() == 1
    assert page.locator("#diagram-beratungsfolge [data-element-id='Flow_zur_sitzung'].rf-taken").count() == 1
    _accessible(page, "diagram with the called Beratungsfolge")
    _shot(page, "issue18-4-diagramm")
