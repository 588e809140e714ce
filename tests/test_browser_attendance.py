"""A session in Chromium (issue 19): a member apologises in advance, the Sekretariat records the
attendance with a late arrival and a stand-in, notes a Befangenheit on a TOP, takes a roll-call
vote, and the result step refuses votes above those present before it takes the roll call's.
axe finds nothing serious on the pages; screenshots are kept in screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from engine.council import AgendaItem, Meeting, Membership, Person

from . import test_browser
from .test_attendance import decision_on_agenda, reading_actor
from .test_browser import _assert_accessible as _accessible
from .test_browser import _login as _login_once
from .test_browser import _shot, chromium, live_server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

page = test_browser.page  # the browser tests' page (1280 × 900, axe allowed), shared


def _login(page, username: str) -> None:  # type: ignore[no-untyped-def]
    """Log in as ``username``, whoever was logged in before."""
    page.context.clear_cookies()
    _login_once(page, username)


def test_a_session_with_apology_late_arrival_befangenheit_and_roll_call(demo, database, draft, page, clock):  # type: ignore[no-untyped-def]
    actor = reading_actor(database)
    task_id = decision_on_agenda(database, actor, draft, "2024/401", "6")
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
        jansen = s.exec(select(Person).where(Person.family_name == "Jansen")).one()
        s.add(Membership(person_id=jansen.id, organization_id=meeting.organization_id,
                         role="stellvertretendes Mitglied"))
        item = s.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting.id,
                                                  AgendaItem.number == "6")).one()
        meeting_id, start = meeting.id, meeting.start
    after = clock.now

    # Two days before: Martina Becker apologises from "Meine Sitzungen".
    clock.now = start - timedelta(days=2)
    _login(page, "becker")
    page.goto("/meine-sitzungen")
    page.get_by_label("Hinweis an das Sekretariat (freiwillig)").first.fill("Dienstreise nach Brüssel")
    page.get_by_role("button", name="Entschuldigen").first.click()
    page.wait_for_url(re.compile("/meine-sitzungen$"))
    assert "Sie sind für diese Sitzung entschuldigt" in page.inner_text("main")
    _accessible(page, "Meine Sitzungen")
    _shot(page, "issue19-1-meine-sitzungen-entschuldigt")

    # After the session: the Sekretariat records who was there.
    clock.now = after
    _login(page, "hoffmann")
    page.goto(f"/sitzungen/{meeting_id}#anwesenheit")
    sheet = page.locator("#anwesenheit-bereich")
    assert "entschuldigt am" in sheet.inner_text() and "Dienstreise nach Brüssel" in sheet.inner_text()
    assert page.get_by_label("Stand: Becker, Martina").input_value() == "entschuldigt"
    page.get_by_label("Stand: Yılmaz, Elif").select_option("anwesend")
    page.get_by_label("gekommen: Yılmaz, Elif").fill("15:40")  # late
    page.get_by_label("Stand: Jansen, Peter").select_option("anwesend")
    page.get_by_label("Jansen, Peter vertritt").select_option(label="Becker, Martina")
    page.locator("#closed").fill("17:30")
    page.locator("#guest-name-0").fill("Aachener Zeitung")
    page.locator("#guest-role-0").fill("Presse")
    page.locator(f"#called-{item}").fill("16:00")
    page.get_by_role("button", name="Anwesenheit speichern").click()
    page.wait_for_url(re.compile(rf"/sitzungen/{meeting_id}#anwesenheit$"))
    text = page.inner_text("#anwesenheit-bereich")
    assert "Zu Beginn 2 von 3 stimmberechtigten Mitgliedern anwesend, nötig sind 2: beschlussfähig" in text
    assert "16:00 Uhr: 3 von 3 stimmberechtigten Mitgliedern anwesend" in text

    # TOP 6: Thomas Wagner is befangen; the roll call leaves him out.
    top = page.locator(f"#top-{item}")
    top.get_by_label("Befangenheit vermerken für").select_option(label="Wagner, Thomas")
    top.get_by_label("Hinweis").fill("Vorstand eines der Cluster")
    top.get_by_role("button", name="Befangenheit vermerken").click()
    page.wait_for_url(re.compile(rf"#top-{item}$"))
    top = page.locator(f"#top-{item}")
    assert "Wagner, Thomas (vom Sekretariat vermerkt: Vorstand eines der Cluster)" in top.inner_text()
    top.get_by_text("Namentliche Abstimmung erfassen").click()
    assert top.get_by_label("Stimme: Wagner, Thomas").count() == 0
    top.get_by_label("Stimme: Yılmaz, Elif").select_option("ja")
    top.get_by_label("Stimme: Jansen, Peter").select_option("ja")
    top.get_by_role("button", name="Namentliche Abstimmung speichern").click()
    page.wait_for_url(re.compile(rf"#top-{item}$"))
    assert "Namentliche Abstimmung: Yılmaz, Elif: Ja; Jansen, Peter: Ja" in page.inner_text(f"#top-{item}") or \
        "Namentliche Abstimmung: Jansen, Peter: Ja; Yılmaz, Elif: Ja" in page.inner_text(f"#top-{item}")
    _accessible(page, "the session page with the attendance")
    _shot(page, "issue19-2-sitzung-anwesenheit")

    # The result step: three votes where two could vote are refused, with the figures.
    page.goto(f"/aufgaben/{task_id}")
    assert "TOP 6, 16:00 Uhr: 2 von 3 stimmberechtigten Mitgliedern anwesend (nötig 2)" in page.inner_text("main")
    assert "Wegen Befangenheit ausgeschlossen: Wagner, Thomas" in page.inner_text("main")
    page.locator("#ergebnis").select_option("beschlossen")
    page.locator("#abstimmung").select_option("gezaehlt")
    page.locator("#ja").fill("3")
    page.get_by_role("button", name="Erledigen").click()
    error = page.locator("#ja-error")
    assert error.inner_text() == ("Ja, Nein und Enthaltungen zusammen (3) sind mehr als die 2 stimmberechtigten "
                                  "Anwesenden bei TOP 6; wegen Befangenheit ausgeschlossen: Wagner, Thomas.")
    _accessible(page, "the refused result")
    _shot(page, "issue19-3-ergebnis-abgelehnt")
    page.locator("#abstimmung").select_option("einstimmig")  # the shortcut fills the counts on the page
    assert (page.locator("#ja").input_value(), page.locator("#nein").input_value()) == ("2", "0")
    page.locator("#abstimmung").select_option("namentlich")  # … and the roll call's
    assert page.locator("#ja").input_value() == "2"
    page.get_by_role("button", name="Erledigen").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    page.goto(f"/sitzungen/{meeting_id}#in-der-sitzung")
    assert "Ergebnis: beschlossen (Ja 2, Nein 0, Enthaltungen 0)" in page.inner_text(f"#top-{item}")
    _shot(page, "issue19-4-sitzung-ergebnis")

