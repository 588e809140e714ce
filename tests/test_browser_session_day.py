"""Issue 19 "Done when": a session day and the week after it, in Chromium.

A member apologises in advance; the Sekretariat records the attendance with a late arrival and
a stand-in, notes a Befangenheit, takes a roll-call vote; a vote above those present is
refused; the member downloads the Sitzungsmappe (PDF and ZIP); the Niederschrift is drafted,
returned once by the chair, signed by both and released;
its public part is downloadable from the public session page and listed in OParl; the
Sitzungsgeld CSV adds up. Screenshots go to screenshots/ (with ``RATSFLOW_BILDER=1`` also to
docs/bilder/, issue19-…); the public PDF is kept as screenshots/issue19-niederschrift-oeffentlich.pdf
(its first page as PNG in docs/bilder/: docs/architecture.md says how it was rendered). axe finds
nothing serious on the pages walked.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader
from sqlmodel import select

from engine.council import AgendaItem, Meeting, Membership, Person
from engine.settings import TIMEZONE

from .test_attendance import decision_on_agenda, reading_actor
from .test_browser import SCREENSHOTS, _shot, chromium, live_server  # noqa: F401 - fixtures
from .test_browser_attendance import _accessible, _login
from .test_browser_mappe import member_downloads_the_sitzungsmappe

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

PICTURES = Path(__file__).resolve().parent.parent / "docs" / "bilder"


@pytest.fixture
def page(chromium, live_server) -> Iterator[Any]:  # noqa: F811 - the fixtures imported above
    context = chromium.new_context(base_url=live_server, locale="de-DE", bypass_csp=True,
                                   viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _picture(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A screenshot (screenshots/); with ``RATSFLOW_BILDER=1`` also into docs/bilder/ (the
    documentation's pictures are renewed on purpose, not by every run)."""
    shot = _shot(page, name)
    if os.environ.get("RATSFLOW_BILDER") == "1":
        shutil.copyfile(shot, PICTURES / f"{name}.png")


def _task(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/aufgaben/")
    page.get_by_role("link", name=title, exact=True).first.click()
    page.wait_for_url(re.compile(r"/aufgaben/\d+$"))


def _done(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Erledigen").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))


def test_the_session_day_from_apology_to_released_minutes_and_sitzungsgeld(  # type: ignore[no-untyped-def]
        demo, database, draft, page, clock, tmp_path):
    actor = reading_actor(database)
    task_id = decision_on_agenda(database, actor, draft, "2024/401", "6")
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
        jansen = s.exec(select(Person).where(Person.family_name == "Jansen")).one()
        s.add(Membership(person_id=jansen.id, organization_id=meeting.organization_id,
                         role="stellvertretendes Mitglied"))
        item = s.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting.id,
                                                  AgendaItem.number == "6")).one()
        meeting_id, start, organization_id = meeting.id, meeting.start, meeting.organization_id
    after = clock.now

    # Two days before: the chair, Martina Becker, apologises from "Meine Sitzungen" (she still
    # signs the minutes afterwards: the Vorsitz comes from the membership, not from presence).
    clock.now = start - timedelta(days=2)
    _login(page, "becker")
    page.goto("/meine-sitzungen")
    page.get_by_label("Hinweis an das Sekretariat (freiwillig)").first.fill("Dienstreise nach Brüssel")
    page.get_by_role("button", name="Entschuldigen").first.click()
    page.wait_for_url(re.compile("/meine-sitzungen$"))
    assert "Sie sind für diese Sitzung entschuldigt" in page.inner_text("main")
    _accessible(page, "Meine Sitzungen")
    _picture(page, "issue19-1-meine-sitzungen-entschuldigt")
    # She downloads the Sitzungsmappe of the session (issue 19, point 5): the PDF with a bookmark
    # per TOP, the Vorlage on TOP 6 among them, and the ZIP with a folder per TOP.
    (tmp_path / "mappe").mkdir()
    day = f"{start.astimezone(TIMEZONE):%d.%m.%Y}"
    mappe = member_downloads_the_sitzungsmappe(page, tmp_path / "mappe", day=day,
                                               screenshot="issue19-walk-sitzungsmappe")
    top_6 = [children for title, children in mappe.outline if title.startswith("TOP 6:")]
    assert top_6 and "Vorlage 2024/401" in top_6[0], mappe.outline
    assert mappe.pdf.name.endswith(f"{day}.pdf") and mappe.pages > 1
    assert any(name.startswith("06 TOP 6") or "TOP 6 –" in name for name in mappe.names), mappe.names

    # After the session: the Sekretariat records who was there (Yılmaz late, Jansen for Becker).
    clock.now = after
    _login(page, "hoffmann")
    page.goto(f"/sitzungen/{meeting_id}#anwesenheit")
    assert page.get_by_label("Stand: Becker, Martina").input_value() == "entschuldigt"
    page.get_by_label("Stand: Yılmaz, Elif").select_option("anwesend")
    page.get_by_label("gekommen: Yılmaz, Elif").fill("15:40")
    page.get_by_label("Stand: Jansen, Peter").select_option("anwesend")
    page.get_by_label("Jansen, Peter vertritt").select_option(label="Becker, Martina")
    page.locator("#closed").fill("17:30")
    page.locator("#guest-name-0").fill("Aachener Zeitung")
    page.locator("#guest-role-0").fill("Presse")
    page.locator(f"#called-{item}").fill("16:00")
    page.get_by_role("button", name="Anwesenheit speichern").click()
    page.wait_for_url(re.compile(rf"/sitzungen/{meeting_id}#anwesenheit$"))
    assert "16:00 Uhr: 3 von 3 stimmberechtigten Mitgliedern anwesend" in page.inner_text("#anwesenheit-bereich")

    # TOP 6: Thomas Wagner is befangen; the roll call leaves him out.
    top = page.locator(f"#top-{item}")
    top.get_by_label("Befangenheit vermerken für").select_option(label="Wagner, Thomas")
    top.get_by_label("Hinweis").fill("Vorstand eines der Cluster")
    top.get_by_role("button", name="Befangenheit vermerken").click()
    page.wait_for_url(re.compile(rf"#top-{item}$"))
    top = page.locator(f"#top-{item}")
    top.get_by_text("Namentliche Abstimmung erfassen").click()
    top.get_by_label("Stimme: Yılmaz, Elif").select_option("ja")
    top.get_by_label("Stimme: Jansen, Peter").select_option("ja")
    top.get_by_role("button", name="Namentliche Abstimmung speichern").click()
    page.wait_for_url(re.compile(rf"#top-{item}$"))
    _accessible(page, "the session page with the attendance")
    _picture(page, "issue19-2-sitzung-anwesenheit")

    # The result step: three votes where two could vote are refused, with the figures.
    page.goto(f"/aufgaben/{task_id}")
    page.locator("#ergebnis").select_option("beschlossen")
    page.locator("#abstimmung").select_option("gezaehlt")
    page.locator("#ja").fill("3")
    page.get_by_role("button", name="Erledigen").click()
    assert page.locator("#ja-error").inner_text() == (
        "Ja, Nein und Enthaltungen zusammen (3) sind mehr als die 2 stimmberechtigten Anwesenden bei TOP 6; "
        "wegen Befangenheit ausgeschlossen: Wagner, Thomas.")
    _picture(page, "issue19-3-ergebnis-abgelehnt")
    page.locator("#abstimmung").select_option("namentlich")
    page.locator("#beschlusstext").fill("Der Ausschuss stimmt der Kooperation zu.")
    _done(page)
    # TOP 5 (the seed's Vorlage) is noted: every TOP has its result, the minutes can go on.
    _task(page, "Ergebnis erfassen")
    page.locator("#ergebnis").select_option("zur_kenntnis_genommen")
    _done(page)

    # The Niederschrift: drafted from the records, the secretary writes the free parts.
    page.goto(f"/sitzungen/{meeting_id}#niederschrift")
    minutes = page.locator("#niederschrift-bereich")
    assert "Entwurf aus Tagesordnung, Anwesenheit, Ergebnissen und Abstimmungen" in minutes.inner_text()
    page.get_by_label("Eröffnung").fill("Der stellvertretende Vorsitz eröffnet die Sitzung um 15:00 Uhr.")
    page.get_by_label("Anmerkung zu TOP 6").fill("Herr Wagner verlässt für diesen TOP den Sitzungstisch.")
    page.get_by_role("button", name="Niederschrift speichern").click()
    page.wait_for_url(re.compile(rf"/sitzungen/{meeting_id}#niederschrift$"))
    draft_pdf = page.request.get(f"/sitzungen/{meeting_id}/niederschrift-entwurf.pdf")
    drafted = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(draft_pdf.body())).pages)
    assert "Yılmaz, Elif, ab 15:40 Uhr" in drafted and "Jansen, Peter (in Vertretung für Becker, Martina)" in drafted
    assert "Befangen (nicht mitberaten, nicht mitgestimmt) Wagner, Thomas" in drafted
    assert "Namentliche Abstimmung Jansen, Peter: Ja; Yılmaz, Elif: Ja" in drafted
    assert "Entschuldigt Becker, Martina" in drafted
    _task(page, "Niederschrift zur Zeichnung vorlegen")
    _done(page)
    _task(page, "Niederschrift zeichnen (Schriftführung)")
    page.get_by_label("Entscheidung").select_option(label="Niederschrift zeichnen")
    _done(page)

    # The chair returns it once, with a remark.
    _login(page, "becker")
    _task(page, "Niederschrift zeichnen (Vorsitz)")
    page.get_by_label("Entscheidung").select_option(label="mit Anmerkung zurückgeben")
    page.get_by_label("Anmerkung (beim Zurückgeben: was zu ändern ist)").fill(
        "Bitte den Schluss der Sitzung ergänzen.")
    _accessible(page, "the chair's signing task")
    _picture(page, "issue19-4-vorsitz-gibt-zurueck")
    _done(page)

    # The secretary sees why, adds the closing, and both sign.
    _login(page, "hoffmann")
    page.goto(f"/sitzungen/{meeting_id}#niederschrift")
    assert "Zurückgegeben von Martina Becker (Vorsitz): Bitte den Schluss der Sitzung ergänzen." in \
        page.inner_text("#niederschrift-bereich")
    page.get_by_label("Schluss", exact=True).fill("Die Sitzung endet um 17:30 Uhr.")
    page.get_by_role("button", name="Niederschrift speichern").click()
    page.wait_for_url(re.compile(rf"/sitzungen/{meeting_id}#niederschrift$"))
    _accessible(page, "the session page with the minutes")
    _picture(page, "issue19-5-niederschrift-entwurf")
    _task(page, "Niederschrift zur Zeichnung vorlegen")
    _done(page)
    _task(page, "Niederschrift zeichnen (Schriftführung)")
    page.get_by_label("Entscheidung").select_option(label="Niederschrift zeichnen")
    _done(page)
    _login(page, "becker")
    _task(page, "Niederschrift zeichnen (Vorsitz)")
    page.get_by_label("Entscheidung").select_option(label="Niederschrift zeichnen")
    _done(page)

    # Released: the public session page links the public part, for anyone.
    page.context.clear_cookies()
    page.goto(f"/sitzungen/{meeting_id}")
    link = page.get_by_role("link", name="Niederschrift, öffentlicher Teil (PDF)")
    assert "freigegeben am" in page.inner_text("main")
    _accessible(page, "the public session page")
    _picture(page, "issue19-6-oeffentliche-sitzung-niederschrift")
    with page.expect_download() as waiting:
        page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.download = ''; "
                      "document.body.appendChild(a); a.click(); }", link.get_attribute("href"))
    downloaded = Path(waiting.value.path()).read_bytes()
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "issue19-niederschrift-oeffentlich.pdf").write_bytes(downloaded)
    reader = PdfReader(io.BytesIO(downloaded))
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "de" and root["/MarkInfo"]["/Marked"] and "/StructTreeRoot" in root
    day = f"{start.astimezone(TIMEZONE):%d.%m.%Y}"
    assert reader.metadata.title == f"Niederschrift SI/2024/131 vom {day} (öffentlicher Teil)"
    text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert "Die Sitzung endet um 17:30 Uhr." in text and "Vorsitz: Martina Becker, gezeichnet am" in text

    # Listed in OParl: the Meeting's resultsProtocol, its accessUrl the same bytes.
    meeting_json = page.request.get(f"/oparl/v1.1/meeting/{meeting_id}").json()
    protocol = meeting_json["resultsProtocol"]
    assert protocol["mimeType"] == "application/pdf" and protocol["size"] == len(downloaded)
    assert page.request.get(urlsplit(protocol["accessUrl"]).path).body() == downloaded

    # The Sitzungsgeld of the month adds up: the administration sets 25,00 € per session, each of
    # those present (the stand-in too) gets it once, Becker (excused) nothing.
    _login(page, "admin")
    page.goto(f"/verwaltung/gremien/{organization_id}")
    page.get_by_label("Betrag je Sitzung (€)").fill("25,00")
    page.get_by_label("gilt ab (TT.MM.JJJJ)").fill("01.01.2024")
    page.get_by_role("button", name="Sitzungsgeld festsetzen").click()
    page.wait_for_load_state()
    _login(page, "hoffmann")
    month = f"{start.astimezone(TIMEZONE):%m.%Y}"
    page.goto(f"/sitzungsgeld?gremium={organization_id}&monat={month}")
    _picture(page, "issue19-7-sitzungsgeld")
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Als CSV exportieren (für die Bezügestelle)").click()
    content = Path(waiting.value.path()).read_bytes().decode("utf-8")
    assert content.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(content.removeprefix("\ufeff")), delimiter=";"))
    paid = {r["Name"]: r["Sitzungsgeld (EUR)"] for r in rows}
    assert paid == {"Jansen, Peter": "25,00", "Wagner, Thomas": "25,00", "Yılmaz, Elif": "25,00"}
    assert {r["anwesend von"] for r in rows if r["Name"] == "Yılmaz, Elif"} == {"15:40"}
    total = sum(int(v.replace(",", "")) for v in paid.values())
    assert total == 7500  # cents: three sessions attended at 25,00 €
