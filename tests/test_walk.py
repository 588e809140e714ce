"""The walk's stumbles (issue 20, point 5), each fixed and walked again in Chromium at 1280 × 800:
a navigation that fits (the Verwaltung and the account as menus), the auditor's filters on two
rows, errors next to the field of the form that was sent, the closed agenda's reason asked by
the inbox step too, session pickers limited to the chosen Gremium's sessions ahead, and a
landing page by role (members: "Meine Sitzungen", auditors: "Revision").

The engine's and the server's side of each run on SQLite and PostgreSQL; the browser's on
SQLite (the pages do not depend on the database)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from engine import audit, audit_history
from engine.council import AgendaItem, Meeting
from engine.errors import Invalid
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

from .conftest import NOW, PASSWORD, text_of
from .test_browser import _serious_violations, chromium, live_server  # noqa: F401 - fixtures

WIDTH, HEIGHT = 1280, 800
#: Where each demo role lands after logging in without a "next".
LANDING = {"hoffmann": "/aufgaben/", "zierstedt": "/aufgaben/", "admin": "/aufgaben/",
           "krueger": "/revision/", "becker": "/meine-sitzungen"}


def _meeting(s, reference: str) -> Meeting:  # type: ignore[no-untyped-def]
    return s.exec(select(Meeting).where(Meeting.reference == reference)).one()  # type: ignore[no-any-return]


def _open_step(s, paper_id: int) -> HumanTask:  # type: ignore[no-untyped-def]
    return s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,  # type: ignore[no-any-return]
                                          HumanTask.status == TASK_READY)).one()


def _version(s, task: HumanTask) -> int:  # type: ignore[no-untyped-def]
    return s.get(ProcessInstance, task.process_instance_id).version  # type: ignore[no-any-return]


def _noted_in_committee(database, actor, demo) -> HumanTask:  # type: ignore[no-untyped-def]
    """The committee takes note of 2024/063: the assembly's agenda step is open."""
    hoffmann = actor("hoffmann")  # (its own unit of work: never inside another one on SQLite)
    with database.unit_of_work() as s:
        task = _open_step(s, demo.paper_id)
        procedures.complete_task(s, hoffmann, task.id, {"ergebnis": "zur_kenntnis_genommen"},
                                 _version(s, task), now=NOW)
    with database.unit_of_work() as s:
        return _open_step(s, demo.paper_id)


def _close_agenda(database, reference: str) -> int:  # type: ignore[no-untyped-def]
    """The Tagesordnungsschluss of ``reference`` has passed (as its session process's timer does)."""
    with database.unit_of_work() as s:
        meeting = _meeting(s, reference)
        meeting.agenda_closed = NOW - timedelta(days=1)
        s.add(meeting)
        return meeting.id  # type: ignore[return-value]


# ----------------------------------------------------------------------------- engine and server

def test_the_agenda_step_asks_for_a_reason_once_the_agenda_closed(demo, database, actor):  # type: ignore[no-untyped-def]
    step = _noted_in_committee(database, actor, demo)
    assembly_id = _close_agenda(database, "SI/2024/128")
    with database.unit_of_work() as s:
        form, _initial = procedures.task_form(s, s.get(HumanTask, step.id), now=NOW)
        [sessions] = [f for f in form.fields if f.name == "meeting_id"]
        notes = {c.value: c.note for c in sessions.choices}
        assert notes[assembly_id] == "Tagesordnung geschlossen"  # offered, and said so
        version = _version(s, step)
    schmitz = actor("schmitz")
    with pytest.raises(Invalid) as refused, database.unit_of_work() as s:
        procedures.complete_task(s, schmitz, step.id, {"meeting_id": assembly_id, "top_nummer": "4"},
                                 version, now=NOW)
    assert "Tagesordnung der Sitzung SI/2024/128 wurde am 23.11.2026 geschlossen" in refused.value.errors["reason"][0]
    with database.unit_of_work() as s:  # nothing written
        assert s.get(HumanTask, step.id).status == TASK_READY and _version(s, step) == version
        on_agenda = s.exec(select(AgendaItem).where(AgendaItem.meeting_id == assembly_id)).all()
        assert on_agenda == []
    with database.unit_of_work() as s:
        procedures.complete_task(s, schmitz, step.id, {
            "meeting_id": assembly_id, "top_nummer": "4", "reason": "Frist der Förderung endet"}, version, now=NOW)
    with database.unit_of_work() as s:
        event = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "task.completed")
                       .order_by(col(audit.AuditEvent.seq).desc())).first()
        assert "Begründung: Frist der Förderung endet" in audit_history.describe(event)


def test_an_open_agenda_needs_no_reason(demo, database, actor):  # type: ignore[no-untyped-def]
    step = _noted_in_committee(database, actor, demo)
    schmitz = actor("schmitz")
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        assert assembly.agenda_closed is None
        procedures.complete_task(s, schmitz, step.id, {"meeting_id": assembly.id}, _version(s, step),
                                 now=NOW)


def test_the_task_page_shows_the_reasons_error_on_its_field(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    step = _noted_in_committee(database, actor, demo)
    assembly_id = _close_agenda(database, "SI/2024/128")
    schmitz = browser().login("schmitz")
    page = schmitz.get(f"/aufgaben/{step.id}").get_data(as_text=True)
    assert re.search(r"SI/2024/128 Ordentliche Sitzung[^<]*\(Tagesordnung geschlossen\)", page)
    with database.unit_of_work() as s:
        version = _version(s, s.get(HumanTask, step.id))
    refused = schmitz.post(f"/aufgaben/{step.id}", {"meeting_id": assembly_id, "top_nummer": "4",
                                                    "version": version})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'id="reason-error">Die Tagesordnung der Sitzung SI/2024/128 wurde am', html)
    assert re.search(r'<textarea id="reason" name="reason"[^>]*aria-invalid="true"', html)
    assert 'value="4"' in html  # what was typed stays


def test_the_agenda_step_offers_its_gremiums_sessions_ahead_only(demo, database, actor, draft):  # type: ignore[no-untyped-def]
    """The inbox's session picker (CHOICE_SOURCES "sitzungen_des_gremiums"): the Beratung's
    Gremium's sessions from today on, not cancelled; never another Gremium's, never a past one."""
    paper_id = draft("2024/095", "Nur kommende Sitzungen")
    clerk = actor("zierstedt")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, clerk, paper_id, now=NOW)

    def offered() -> list[str]:
        with database.unit_of_work() as s:
            form, _initial = procedures.task_form(s, _open_step(s, paper_id), now=NOW)
            every = {m.id: m for m in s.exec(select(Meeting))}
            return [str(every[c.value].reference) for c in form.fields[0].choices]

    with database.unit_of_work() as s:
        held = {m.reference for m in s.exec(select(Meeting)) if m.start <= NOW}
    assert "SI/2024/131" in held  # the committee's last session, held
    assert offered() == ["SI/2024/140"]  # not SI/2024/131, not the assembly's SI/2024/128 or /141
    with database.unit_of_work() as s:
        later = _meeting(s, "SI/2024/140")
        later.cancelled = True
        s.add(later)
    assert offered() == []


def test_the_beratungsfolge_offers_each_gremiums_sessions_ahead(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        later = _meeting(s, "SI/2024/140")
        later.cancelled = True  # a cancelled session is not offered either
        s.add(later)
    page = browser().login("zierstedt").get("/vorlagen/neu").get_data(as_text=True)
    first_row = page[page.index('id="consultations-0-meeting_id"'):page.index("</select>", page.index(
        'id="consultations-0-meeting_id"'))]
    offered = re.findall(r"SI/2024/\d+", first_row)
    assert offered == ["SI/2024/128", "SI/2024/141"]  # not the past SI/2024/131, not the cancelled one
    groups = re.findall(r'<optgroup label="([^"]+)"', first_row)
    assert groups == ["Verbandsversammlung des Region Aachen Zweckverband"]


@pytest.mark.sqlite_only
def test_each_role_lands_on_its_own_page(demo, browser):  # type: ignore[no-untyped-def]
    landed = {}
    for username in LANDING:
        client = browser()
        token = client.csrf()
        response = client.client.post("/anmelden", data={"username": username, "password": PASSWORD,
                                                         "csrf_token": token})
        landed[username] = response.headers["Location"]
    assert landed == LANDING
    client = browser()  # a "next" still wins
    token = client.csrf()
    response = client.client.post("/anmelden?next=/konto", data={"username": "becker", "password": PASSWORD,
                                                                 "csrf_token": token})
    assert response.headers["Location"] == "/konto"
    member = text_of(browser().login("becker").get("/meine-sitzungen").get_data(as_text=True))
    assert "Aufgaben" not in member.split("Meine Sitzungen")[0]  # no task list in a member's navigation


# ----------------------------------------------------------------------------- in Chromium at 1280 × 800

@pytest.fixture
def page(chromium, live_server) -> Iterator[Any]:  # noqa: F811 - the fixtures imported above
    context = chromium.new_context(base_url=live_server, locale="de-DE", bypass_csp=True,
                                   viewport={"width": WIDTH, "height": HEIGHT})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _login(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    page.goto("/anmelden")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(re.escape(LANDING.get(username, "/aufgaben/")) + "$"))


def _accessible(page, what: str) -> None:  # type: ignore[no-untyped-def]
    bad = _serious_violations(page)
    assert not bad, f"{what}: " + "; ".join(f"{v['id']} at {[n['target'] for n in v['nodes']]}" for v in bad)


#: The lines a element's text takes (one rectangle per line box of its text).
LINES = """el => { const r = document.createRange(); r.selectNodeContents(el);
  return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; }"""


def _fits(page, what: str) -> None:  # type: ignore[no-untyped-def]
    """No sideways scrolling; each navigation label on one line, all of them in one row."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{what}: the document is {width} px wide"
    items = page.locator("nav.site > ul:last-child > li > a, nav.site > ul:last-child > li > details > summary")
    labels = items.all_inner_texts()
    lines = [items.nth(i).evaluate(LINES) for i in range(items.count())]
    broken = [label for label, n in zip(labels, lines, strict=True) if n != 1]
    assert broken == [], f"{what}: labels broken over lines: {broken}"
    tops = {round(items.nth(i).bounding_box()["y"] / 10) for i in range(items.count())}
    assert len(tops) == 1, f"{what}: the navigation takes {len(tops)} rows"


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_navigation_fits_and_each_role_lands_on_its_page(demo, page):  # type: ignore[no-untyped-def]
    for username in LANDING:
        _login(page, username)
        _fits(page, username)
        _accessible(page, f"{username}'s landing page")
    _login(page, "admin")
    for url in ("/verwaltung/gremien/verzeichnis", "/verwaltung/personen", "/verwaltung/konten", "/verwaltung/gremien",
                "/verwaltung/postausgang", "/verwaltung/prozessmodelle", "/sitzungen/neu"):
        page.goto(url)  # each page of the Verwaltung (their tables too)
        _fits(page, url)
    page.goto("/aufgaben/?lang=en")  # in English
    _fits(page, "admin in English")
    page.goto("/aufgaben/?lang=de")
    nav = page.get_by_role("navigation", name="Navigation")
    assert nav.get_by_role("link", name="Aufgaben", exact=True).get_attribute("href") == "/aufgaben/"
    # The Verwaltung's pages in a menu, opened like any <details> (here by the keyboard).
    page.locator("#menu-verwaltung summary").focus()
    page.keyboard.press("Enter")
    menu = page.locator("#menu-verwaltung ul")
    page.wait_for_function("getComputedStyle(document.querySelector('#menu-verwaltung ul')).opacity === '1'")
    assert menu.get_by_role("link").all_inner_texts() == [
        "Gremien", "Personen", "Konten", "Fristen", "Postausgang und Störungen", "Prozessmodelle",
        "Modell bearbeiten"]
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH  # the open menu too
    _accessible(page, "the open Verwaltung menu")
    menu.get_by_role("link", name="Prozessmodelle").click()
    page.wait_for_url(re.compile(r"/verwaltung/prozessmodelle$"))
    page.locator("#menu-konto summary").click()
    page.locator("#menu-konto").get_by_role("button", name="Abmelden").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("link", name="Anmelden").is_visible()


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_auditors_filters_stand_on_two_rows_with_whole_labels(demo, page):  # type: ignore[no-untyped-def]
    _login(page, "krueger")
    _fits(page, "the auditor's search")
    form = page.locator("form.audit-filters")
    fields = form.locator("input, select")
    rows = {round(fields.nth(i).bounding_box()["y"]) for i in range(fields.count())}
    assert len(rows) == 2, f"the filters take {len(rows)} rows"
    labels = form.locator("label")
    broken = [labels.nth(i).inner_text() for i in range(labels.count()) if labels.nth(i).evaluate(LINES) != 1]
    assert broken == []
    widths = {labels.nth(i).inner_text(): labels.nth(i).evaluate("l => l.scrollWidth <= l.clientWidth")
              for i in range(labels.count())}
    assert all(widths.values()), widths
    _accessible(page, "the auditor's search")


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_an_error_shows_next_to_the_form_that_was_sent(demo, database, actor, clock, page):  # type: ignore[no-untyped-def]
    step = _noted_in_committee(database, actor, demo)
    schmitz = actor("schmitz")
    with database.unit_of_work() as s:  # the seed on the assembly's agenda: the agenda form is there
        assembly = _meeting(s, "SI/2024/128")
        procedures.complete_task(s, schmitz, step.id, {"meeting_id": assembly.id},
                                 _version(s, s.get(HumanTask, step.id)), now=NOW)
    _close_agenda(database, "SI/2024/128")
    clock.move(days=4)  # past the Ladungsfrist (27.11.): the invitation needs a reason
    _login(page, "schmitz")
    page.goto(f"/sitzungen/{assembly.id}")
    page.get_by_role("button", name="Einladung versenden").click()
    invite = page.locator("form[action$='/einladen']")
    invite.locator(".error").wait_for()
    assert "bitte begründen" in invite.locator("#invite-reason-error").inner_text()
    assert invite.locator("#invite-reason").get_attribute("aria-invalid") == "true"
    agenda = page.locator("#agenda-form")
    assert agenda.locator(".error").count() == 0 and agenda.locator("#agenda-reason").get_attribute(
        "aria-invalid") is None
    _fits(page, "the Sitzung's page with an error")
    _accessible(page, "the Sitzung's page with the invitation's error")

    page.get_by_role("button", name="Fortlaufend nummerieren").click()
    agenda.locator(".error").wait_for()
    assert "geschlossen" in agenda.locator("#agenda-reason-error").inner_text()
    assert page.locator("form[action$='/einladen'] .error").count() == 0
    _accessible(page, "the Sitzung's page with the agenda's error")


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_inbox_step_asks_for_the_closed_agendas_reason(demo, database, actor, page):  # type: ignore[no-untyped-def]
    _noted_in_committee(database, actor, demo)
    _close_agenda(database, "SI/2024/128")
    _login(page, "schmitz")
    page.get_by_role("link", name="Auf die Tagesordnung setzen").first.click()
    page.wait_for_url(re.compile(r"/aufgaben/\d+$"))
    session = page.locator("select#meeting_id")
    session.select_option(session.locator("option", has_text="SI/2024/128").get_attribute("value"))
    assert "(Tagesordnung geschlossen)" in session.locator("option:checked").inner_text()
    page.get_by_role("button", name="Erledigen").click()
    page.locator("#reason-error").wait_for()
    assert page.locator("textarea#reason").get_attribute("aria-invalid") == "true"
    _fits(page, "the agenda step with the reason's error")
    _accessible(page, "the agenda step with the reason's error")
    page.locator("textarea#reason").fill("Die Förderfrist endet vor der nächsten Sitzung.")
    page.get_by_role("button", name="Erledigen").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    assert page.locator("p.flash").filter(has_text="Die Aufgabe wurde erledigt.").is_visible()


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_the_session_picker_offers_the_chosen_gremiums_sessions_ahead(demo, page):  # type: ignore[no-untyped-def]
    _login(page, "zierstedt")
    page.goto("/vorlagen/neu")
    gremium, sessions = page.locator("#consultations-0-organization_id"), page.locator("#consultations-0-meeting_id")

    def offered() -> list[str]:
        return [re.sub(r"\s+", " ", t).strip() for t in sessions.locator("option").all_inner_texts()]

    gremium.select_option(label="Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit")
    committee = offered()
    assert committee[0] == "Sitzung offen" and len(committee) == 2 and "SI/2024/140" in committee[1]
    gremium.select_option(label="Verbandsversammlung des Region Aachen Zweckverband")
    assembly = offered()
    references = [re.search(r"SI/\S+", t).group(0) for t in assembly[1:]]  # type: ignore[union-attr]
    assert references == ["SI/2024/128", "SI/2024/141"]
    sessions.select_option(sessions.locator("option", has_text="SI/2024/141").get_attribute("value"))
    gremium.select_option(label="Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit")
    assert sessions.input_value() == ""  # a choice of the other Gremium does not stay
    _fits(page, "the new Vorlage's form")
    _accessible(page, "the new Vorlage's form")


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_every_page_of_the_verwaltung_and_the_account_is_clean_for_axe(demo, database, page):  # type: ignore[no-untyped-def]
    """The issue's "axe finds nothing serious on any page we serve": the pages no other browser
    test runs axe on – each page of the Verwaltung with its detail pages, the forms for a new
    Sitzung and Vorlage, the account and its API tokens, a Sekretariat's Sitzungen – at 1280 × 800."""
    from engine.council import Account, Organization, Person

    with database.unit_of_work(write=False) as s:
        org = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one().id
        person = s.exec(select(Person).where(Person.family_name == "Becker")).one().id
        account = s.exec(select(Account).where(Account.username == "becker")).one().id
    _login(page, "admin")
    for url in ("/verwaltung/gremien/verzeichnis", f"/verwaltung/gremien/{org}", "/verwaltung/personen",
                f"/verwaltung/personen/{person}", "/verwaltung/konten", f"/verwaltung/konten/{account}",
                "/verwaltung/gremien", f"/verwaltung/gremien/{org}/fristen", "/verwaltung/postausgang",
                "/verwaltung/modeler/", "/sitzungen/neu", "/vorlagen/neu", "/konto", "/konto/tokens"):
        response = page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, url
        _accessible(page, url)
    _login(page, "hoffmann")  # (/aufgaben/liste is no page: the list fragment the inbox's script polls)
    page.goto("/sitzungen")
    _accessible(page, "a Sekretariat's Sitzungen")
