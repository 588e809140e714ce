"""The web UI in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The app is served on a loopback port from a background thread; every test gets a fresh
browser context (no cookies shared). Without /usr/bin/chromium the tests are skipped,
except on CI (environment variable ``CI`` set), where that is a failure.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from werkzeug.serving import make_server

from .conftest import PASSWORD, PROJECT, on_agenda

# The database does not matter here: SQLite only (tests/conftest.py, sqlite_only).
pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

CHROMIUM = Path("/usr/bin/chromium")
AXE = PROJECT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DATE = re.compile(r"^\d\d\.\d\d\.\d{4}$")


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One Chromium process for the module; pages get their own contexts."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live_server(app, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real app on 127.0.0.1 and a free port; the base URL without a trailing slash (and
    ``RATSFLOW_BASE_URL``, as ``ratsflow serve`` sets it to where it serves)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.extensions["ratsflow.settings"] = dataclasses.replace(settings, base_url=url)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def page(chromium, live_server):  # type: ignore[no-untyped-def]
    # bypass_csp: the app's CSP (script-src 'self') would block the injected axe-core script.
    context = chromium.new_context(base_url=live_server, locale="de-DE", bypass_csp=True,
                                   viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


SCREENSHOTS = PROJECT / "screenshots"


def _shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """A full-page screenshot kept by the run (screenshots/, ignored by git)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def _strict_page(chromium, live_server) -> Iterator[tuple[Any, list[str]]]:  # type: ignore[no-untyped-def]
    """A page under the app's real Content-Security-Policy (no bypass), and what the browser
    refused under it (console messages)."""
    context = chromium.new_context(base_url=live_server, locale="de-DE", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    refused: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        yield page, refused
    finally:
        context.close()


def _login(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/anmelden")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    # Each role lands on its own page (the inbox, "Revision", "Meine Sitzungen").
    page.wait_for_url(lambda url: "/anmelden" not in url)


def _open_task(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("navigation", name="Navigation").get_by_role("link", name="Aufgaben", exact=True).click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    page.get_by_role("link", name=title, exact=True).first.click()
    page.wait_for_url(re.compile(r"/aufgaben/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == title


def _tab_to(page, selector: str, limit: int = 80) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until the focus is on ``selector`` (fails if the keyboard cannot get there)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _choose_by_keyboard(page, selector: str, label_part: str) -> None:  # type: ignore[no-untyped-def]
    """On a focused <select>, press ArrowDown until the selected option's text has ``label_part``."""
    for _ in range(40):
        text = page.evaluate("s => document.querySelector(s).selectedOptions[0].textContent", selector)
        if label_part in text:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no option with {label_part!r} in {selector}")


def _serious_violations(page) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    assert AXE.exists(), f"{AXE} missing: run npm --prefix web install"
    # Evaluated through the browser's devtools protocol, not as a <script> tag: so it runs under the
    # app's real Content-Security-Policy too.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("axe.run()")
    bad = [v for v in results["violations"] if v.get("impact") in {"serious", "critical"}]
    for v in results["violations"]:  # all of them, shown on failure (or with -s)
        print(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            print(f"    target {node['target']}: {node['html'][:200]}")
    return bad


def _assert_accessible(page, what: str) -> None:  # type: ignore[no-untyped-def]
    bad = _serious_violations(page)
    assert not bad, f"{what}: axe found serious/critical violations: " + "; ".join(
        f"{v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']]}" for v in bad)


def test_secretary_filters_claims_and_records_while_a_colleague_is_refused(  # type: ignore[no-untyped-def]
        demo, colleague, database, page, chromium, live_server):
    _login(page, "hoffmann")
    # Filter the inbox to the seed's session.
    page.get_by_text("Filter", exact=True).click()
    meeting = page.locator("#f-meeting")
    meeting.select_option(meeting.locator("option", has_text="SI/2024/131").get_attribute("value"))
    page.get_by_role("button", name="Filtern").click()
    page.wait_for_url(re.compile(r"meeting=\d+"))
    row = page.locator("table.inbox tbody tr").filter(has_text="2024/063")
    assert row.count() == 1 and "TOP 5" in row.inner_text()
    assert re.search(r"\d\d\.\d\d\.\d{4}", row.locator("td").nth(5).inner_text())
    _shot(page, "inbox")
    _assert_accessible(page, "inbox filtered to a session")

    # The colleague opens the same task before Hoffmann claims it …
    other = chromium.new_context(base_url=live_server, locale="de-DE", bypass_csp=True)
    colleague_page = other.new_page()
    try:
        _login(colleague_page, "weber")
        _open_task(colleague_page, "Ergebnis erfassen")

        row.get_by_role("button", name=re.compile("Übernehmen")).click()
        page.wait_for_url(re.compile(r"/aufgaben/\d+$"))
        assert page.locator("p.flash").filter(has_text="Sie bearbeiten die Aufgabe jetzt.").is_visible()

        # … and her claim, sent from the page she still has open, is refused naming the holder.
        with colleague_page.expect_response(lambda r: r.request.method == "POST") as refused:
            colleague_page.get_by_role("button", name="Übernehmen", exact=True).click()
        assert refused.value.status == 409
        assert colleague_page.get_by_role("alert").filter(
            has_text="Die Aufgabe wird von Lea Hoffmann (hoffmann) bearbeitet.").is_visible()
        assert colleague_page.get_by_role("button", name="Erledigen").count() == 0
        _assert_accessible(colleague_page, "task page held by someone else")
    finally:
        other.close()

    _shot(page, "task")
    _assert_accessible(page, "task page")
    page.locator("select#ergebnis").select_option("zur_kenntnis_genommen")
    page.get_by_role("button", name="Erledigen").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    assert page.locator("p.flash").filter(has_text="Die Aufgabe wurde erledigt.").is_visible()

    # The assembly's secretary sees the next task, with its due date.
    page.context.clear_cookies()
    _login(page, "schmitz")
    from engine.calendar import deadlines
    from engine.council import Meeting

    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        closing = deadlines.deadlines_for_meeting(s, assembly).agenda_closing
    next_row = page.locator("table.inbox tbody tr").filter(has_text="2024/063")
    assert "Auf die Tagesordnung setzen" in next_row.inner_text()
    assert f"{closing:%d.%m.%Y}" in next_row.locator("td").nth(5).inner_text()


def test_bulk_kenntnisnahme_of_three_tasks(demo, database, actor, draft, page):  # type: ignore[no-untyped-def]
    for i, name in enumerate(["Bericht Euregio", "Bericht Tourismus Eifel", "Bericht Gesundheitsregion"]):
        on_agenda(database, actor, draft, f"2024/09{i}", name)
    _login(page, "hoffmann")
    for reference in ("2024/090", "2024/091", "2024/092"):
        page.get_by_role("checkbox", name=f"Auswählen: {reference}").check()
    page.get_by_role("button", name="Ausgewählte: zur Kenntnis genommen").click()
    page.wait_for_load_state()
    flash = page.locator("p.flash").filter(has_text="Zur Kenntnis genommen:")
    assert all(ref in flash.inner_text() for ref in ("2024/090", "2024/091", "2024/092"))
    remaining = page.locator("table.inbox tbody tr").all_inner_texts()
    left_over = [r for r in remaining if "2024/09" in r]
    assert left_over == []
    assert any("2024/063" in r for r in remaining)
    from engine.council import AgendaItem, Consultation, Paper

    with database.unit_of_work() as s:
        results = s.exec(select(Paper.reference, AgendaItem.result)
                         .join(Consultation, Consultation.paper_id == Paper.id)
                         .join(AgendaItem, AgendaItem.consultation_id == Consultation.id)
                         .where(Paper.reference.in_(["2024/090", "2024/091", "2024/092"]))).all()  # type: ignore[attr-defined]
    assert sorted(results) == [(f"2024/09{i}", "zur_kenntnis_genommen") for i in range(3)]


def test_every_inbox_view_is_accessible(demo, colleague, database, page):  # type: ignore[no-untyped-def]
    _login(page, "hoffmann")
    for label in ("Meine Aufgaben", "Gruppe", "Gremium", "Erledigt"):
        page.get_by_role("navigation", name="Ansichten").get_by_role("link", name=label, exact=True).click()
        page.wait_for_load_state()
        _assert_accessible(page, f"inbox view {label}")
    page.goto("/aufgaben/?view=gremium&q=%00")  # a refused filter shows its message accessibly
    _assert_accessible(page, "inbox with a refused filter")


def test_the_whole_flow_with_the_keyboard_alone(demo, database, page):  # type: ignore[no-untyped-def]
    page.goto("/anmelden")
    _tab_to(page, "#username")
    page.keyboard.type("hoffmann")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/aufgaben/$"))

    _tab_to(page, "details.filters summary")
    page.keyboard.press("Enter")
    _tab_to(page, "#f-meeting")
    _choose_by_keyboard(page, "#f-meeting", "SI/2024/131")
    _tab_to(page, "#filter button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"meeting=\d+"))

    _tab_to(page, "table.inbox button")  # "Übernehmen" of the seed's row
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/aufgaben/\d+$"))
    _tab_to(page, "select#ergebnis")
    _choose_by_keyboard(page, "select#ergebnis", "zur Kenntnis genommen")
    _tab_to(page, "form[novalidate] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    assert page.locator("p.flash").filter(has_text="Die Aufgabe wurde erledigt.").is_visible()
    from engine.council import AgendaItem

    with database.unit_of_work() as s:
        results = [i.result for i in s.exec(select(AgendaItem))]
        assert results == ["zur_kenntnis_genommen"]


def test_pages_have_no_serious_accessibility_violations(demo, page):  # type: ignore[no-untyped-def]
    page.goto(f"/vorlagen/{demo.paper_id}")
    assert page.get_by_role("heading", level=1).inner_text() == "Vorlage – 2024/063"
    _shot(page, "vorlage")
    _assert_accessible(page, "public Vorlage page")

    page.goto("/anmelden")
    _assert_accessible(page, "login page")

    _login(page, "hoffmann")
    _assert_accessible(page, "inbox")

    _open_task(page, "Ergebnis erfassen")
    _assert_accessible(page, "task page")

    # The task page with a field error (the result form submitted empty) as well.
    page.get_by_role("button", name="Erledigen").click()
    page.locator("#ergebnis-error").wait_for()
    result = page.locator("select#ergebnis")
    assert result.get_attribute("aria-invalid") == "true"
    assert result.get_attribute("aria-describedby") == "ergebnis-error"
    assert page.get_by_role("alert").filter(has_text="Eingaben bitte prüfen.").is_visible()
    _assert_accessible(page, "task page with a field error")

    page.goto("/gibt-es-nicht")
    assert page.get_by_role("heading", level=1).inner_text() == "Fehler 404: Nicht gefunden"
    _assert_accessible(page, "error page")


def test_public_page_in_english_keeps_german_dates(demo, page):  # type: ignore[no-untyped-def]
    page.goto(f"/vorlagen/{demo.paper_id}?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    headings = page.get_by_role("heading", level=2).all_inner_texts()
    assert "Order of consultation" in headings, headings
    assert "Where it stands" in headings and "Facts" in headings, headings
    assert page.get_by_role("heading", level=1).inner_text() == "Paper – 2024/063"
    assert page.get_by_role("link", name="Deutsch").is_visible()

    table = page.get_by_role("region", name="Order of consultation").locator("table")
    assert table.locator("thead th").all_inner_texts()[3] == "Date"
    dates = [d.strip() for d in table.locator("tbody tr td:nth-last-child(3)").all_inner_texts()]
    assert len(dates) == 2 and all(DATE.match(d) for d in dates), dates
    assert dates == [demo.committee_meeting.start.strftime("%d.%m.%Y"),
                     demo.assembly_meeting.start.strftime("%d.%m.%Y")]
    # "since" in the current state: date and time, German order of day and month.
    stand = page.get_by_role("region", name="Where it stands").inner_text()
    assert "waiting for" in stand
    assert re.search(r"since \d\d\.\d\d\.\d{4}", stand), stand


def test_new_tasks_show_up_without_a_reload(demo, database, actor, draft, page):  # type: ignore[no-untyped-def]
    page.clock.install()
    _login(page, "hoffmann")
    rows = page.locator("table.inbox tbody tr")
    assert rows.count() == 2  # the seed's result step and the minutes of SI/2024/131
    page.evaluate("window.__marker = 'same page'")  # gone if the page reloads
    on_agenda(database, actor, draft, "2024/093", "Neu eingegangener Bericht")
    page.clock.run_for(31_000)  # the list is fetched again every 30 seconds
    page.locator("table.inbox tbody tr").filter(has_text="2024/093").wait_for()
    assert rows.count() == 3
    assert page.evaluate("window.__marker") == "same page"
    assert page.get_by_role("status").filter(has_text="Die Liste wurde aktualisiert.").count() == 1


def test_agenda_order_by_dragging_and_by_buttons(demo, database, actor, draft, page):  # type: ignore[no-untyped-def]
    for reference, name in [("2024/090", "Radweg Brand"), ("2024/091", "Kita Eilendorf"),
                            ("2024/092", "Grundstück Tausch")]:
        on_agenda(database, actor, draft, reference, name, meeting_ref="SI/2024/140")
    from engine.council import Meeting

    with database.unit_of_work() as s:
        meeting_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/140")).one()
    _login(page, "hoffmann")
    page.goto(f"/sitzungen/{meeting_id}")
    rows = page.locator("#agenda-table tbody tr")

    def order() -> list[str]:
        return [t.split(":")[0].split()[-1] for t in rows.locator("td:nth-child(2)").all_inner_texts()]

    assert order() == ["2024/090", "2024/091", "2024/092"]
    # With a mouse: drag the third above the first, then save.
    page.get_by_text("Mit der Maus lassen sich die Punkte auch ziehen").wait_for()
    rows.nth(2).drag_to(rows.nth(0), target_position={"x": 20, "y": 2})
    page.get_by_role("button", name="Neue Reihenfolge speichern").click()
    page.get_by_role("status").filter(has_text="Die Tagesordnung wurde geändert.").wait_for()
    assert order() == ["2024/092", "2024/090", "2024/091"]
    assert rows.locator("td:first-child").all_inner_texts() == ["1", "2", "3"]
    # By keyboard: the arrow buttons, named for screen readers.
    page.get_by_role("button", name="TOP 3 nach oben").focus()
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Die Tagesordnung wurde geändert.").wait_for()
    assert order() == ["2024/092", "2024/091", "2024/090"]
    _assert_accessible(page, "Sitzung mit Tagesordnung")


def test_the_auditors_pages_diagram_timeline_and_search(demo, database, chromium, live_server, page):  # type: ignore[no-untyped-def]
    """The diagram is drawn by bpmn-js under the app's real CSP (no bypass): the completed
    path is marked in the SVG; axe finds nothing serious on the three pages."""
    from engine.workflow.models import ProcessInstance

    with database.unit_of_work() as s:
        instance_id = s.exec(select(ProcessInstance.id).where(ProcessInstance.paper_id == demo.paper_id)).one()
    with _strict_page(chromium, live_server) as (diagram, violations):
        _login(diagram, "krueger")
        diagram.goto(f"/revision/vorgaenge/{instance_id}/diagramm")
        diagram.locator("#diagram[data-ready='true']").wait_for()
        assert diagram.locator("#diagram svg").count() >= 1
        # The seed went through the agenda step and waits at the result step.
        assert diagram.locator("[data-element-id='Tagesordnung'].rf-done").count() == 1
        assert diagram.locator("[data-element-id='Ergebnis'].rf-current").count() == 1
        assert diagram.locator("[data-element-id='Flow_zur_sitzung'].rf-taken").count() == 1
        assert diagram.locator("[data-element-id='Beratungsfolge_abgeschlossen'].rf-done").count() == 0
        assert "Modell Beratungsfolge, Version 1" in diagram.locator("main").inner_text()  # its name
        assert violations == [], violations
    _login(page, "krueger")
    for url, what in [(f"/revision/vorgaenge/{instance_id}/diagramm", "Diagramm"),
                      (f"/revision/vorlagen/{demo.paper_id}", "Verlauf"), ("/revision/?vorlage=2024/063", "Suche")]:
        page.goto(url)
        if "diagramm" in url:
            page.locator("#diagram[data-ready='true']").wait_for()
        _assert_accessible(page, what)


def test_a_pdf_anlage_shows_in_the_viewer_and_stored_markup_never_runs(chromium, live_server, demo, database, app) -> None:  # type: ignore[no-untyped-def]
    """Under the files' CSP (``sandbox`` included; not bypassed here) Chromium still shows a
    PDF in its viewer, and an old row's HTML, even one labelled as an image, does not run."""
    from engine.council import File, Paper
    from engine.demo import demo_pdf

    store = app.extensions["ratsflow.files"]
    html = b"<!doctype html><title>x</title><script>document.title='PWNED'</script>"
    rows = {"pdf": (demo_pdf("Anlage", ["Eine Zeile."]), "application/pdf"),
            "html": (html, "text/html"), "html_as_png": (html, "image/png")}
    ids = {}
    with database.unit_of_work() as s:
        paper = s.get(Paper, demo.paper_id)
        paper.public = True
        s.add(paper)
        for position, (kind, (content, mime_type)) in enumerate(rows.items(), 30):
            f = File(paper_id=demo.paper_id, position=position, name=kind, file_name=f"{kind}.bin",
                     mime_type=mime_type, size=len(content), sha_512_checksum=store.put(s, content))
            s.add(f)
            s.flush()
            ids[kind] = f.id
    context = chromium.new_context(base_url=live_server, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(f"/dateien/{ids['pdf']}")
        for _ in range(50):
            if any(f.url.startswith("chrome-extension://") for f in page.frames):
                break
            page.wait_for_timeout(100)
        assert any(f.url.startswith("chrome-extension://") for f in page.frames), [f.url for f in page.frames]
        page.goto(f"/oparl/v1.1/file/{ids['html_as_png']}/access")  # image/png, nosniff: no markup
        assert page.title() != "PWNED"
        with page.expect_download() as download:
            try:
                page.goto(f"/oparl/v1.1/file/{ids['html']}/access")
            except Exception as exc:  # Chromium reports a navigation that became a download
                assert "Download is starting" in str(exc)
        assert download.value.suggested_filename == "html.bin"
        assert page.title() != "PWNED"
    finally:
        context.close()


def test_the_auditor_reads_a_moved_session_on_the_vorlage_timeline(demo, database, actor, page):  # type: ignore[no-untyped-def]
    """Issue 22: the move, with SI number and before → after, between the agenda step and
    what follows; the page has no serious accessibility findings (screenshot kept)."""
    from .test_moved_session_history import _moved_assembly

    old, new = _moved_assembly(database, actor, demo)
    _login(page, "krueger")
    page.goto(f"/revision/vorlagen/{demo.paper_id}")
    moved = page.locator("ol.timeline li", has_text="Sitzung verlegt")
    assert moved.count() == 1
    line = moved.inner_text()
    assert "SI/2024/128" in line and f"{old} → {new}" in line and "Terminkollision mit dem Kreistag" in line
    _shot(page, "verlauf-verlegte-sitzung")
    assert _serious_violations(page) == []


def test_an_administrator_changes_a_model_in_the_browser_and_deploys_it(  # type: ignore[no-untyped-def]
        demo, database, actor, draft, chromium, live_server, clock):
    """Issue 17, point 5: the modeler (under the app's real Content-Security-Policy) opens the
    Beratungsfolge and shows what ratsflow reads from a step in the group "Im Rat", in words; a
    step is renamed, a new user task is added and given its form, Gremium, due date and effect
    through the panel; "Prüfen" and "Bereitstellen" answer in German; a new Vorlage runs on the
    new version (the new step first, due three days later), a running one stays on its own."""
    from engine.process import procedures
    from engine.tasks import TASK_READY, HumanTask
    from engine.workflow.models import ProcessInstance, ProcessModel

    from .conftest import NOW

    running = draft("2024/401", "Läuft schon")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), running, now=NOW)
        model_id = s.exec(select(ProcessModel.id).where(ProcessModel.process_id == "beratungsfolge")).one()
    with _strict_page(chromium, live_server) as (page, refused):
        _login(page, "admin")
        page.goto(f"/verwaltung/modeler/{model_id}")
        page.wait_for_selector("#modeler[data-ready='true']")
        assert page.get_by_role("heading", level=1).inner_text() == "Modell bearbeiten: Beratungsfolge"
        panel = page.locator("#modeler-panel")

        def pick(element_id: str) -> None:
            page.evaluate("(id) => window.ratsflowModeler.get('selection').select("
                          "window.ratsflowModeler.get('elementRegistry').get(id))", element_id)

        def chosen(label: str) -> str:
            return panel.get_by_label(label, exact=True).evaluate("e => e.options[e.selectedIndex].text")

        pick("Tagesordnung")
        panel.get_by_text("Im Rat", exact=True).wait_for()
        read = (chosen("Formular"), chosen("Zuständiges Gremium"), chosen("Frist"), chosen("Wirkung"))
        assert read == ("Auf die Tagesordnung setzen (tagesordnung.schema.json)", "Gremium der Beratung",
                        "Tagesordnungsschluss der Sitzung", "Auf die Tagesordnung setzen")
        panel_text = panel.inner_text()
        assert "Task listeners" not in panel_text and "Inputs" not in panel_text and "putOnAgenda" not in panel_text
        page.evaluate("""() => { const m = window.ratsflowModeler;
            m.get('modeling').updateLabel(m.get('elementRegistry').get('Tagesordnung'), 'Auf die Tagesordnung nehmen'); }""")
        # A user task added between the start and the preparation, as the palette and the connect tool do it.
        page.evaluate("""() => { const m = window.ratsflowModeler, r = m.get('elementRegistry'), modeling = m.get('modeling');
            const flow = r.get('Flow_start'), start = r.get('Beratungsfolge_gestartet'), next = r.get('Beratungsfolge_vorbereiten');
            modeling.removeConnection(flow);
            const step = modeling.createShape({ type: 'bpmn:UserTask', businessObject: m.get('bpmnFactory').create(
                'bpmn:UserTask', { id: 'Eingang_vermerken', name: 'Eingang vermerken' }) },
                { x: start.x + 60, y: start.y - 60 }, start.parent);
            modeling.connect(start, step); modeling.connect(step, next); }""")
        pick("Eingang_vermerken")
        page.get_by_role("button", name="Prüfen").click()
        page.wait_for_selector("#modeler[data-state='refused']")
        assert "Element Eingang_vermerken (Eingang vermerken): Benutzeraufgabe ohne zuständiges Gremium" in \
            page.locator("#modeler-result").inner_text()
        panel.get_by_label("Formular", exact=True).select_option(label="Niederschrift freigeben (niederschrift.schema.json)")
        panel.get_by_label("Zuständiges Gremium", exact=True).select_option(
            label="Verbandsversammlung des Region Aachen Zweckverband (VV)")
        panel.get_by_label("Frist", exact=True).select_option(label="eine Dauer ab dem Tag der Aufgabe")
        duration = panel.get_by_label("Frist als Dauer ab dem Tag der Aufgabe (z. B. P3D)")
        duration.fill("3 Tage")
        panel.get_by_text("Bitte eine Dauer in Tagen oder Wochen").wait_for()
        duration.fill("P3D")
        panel.get_by_label("Titel auf Englisch").fill("Note the receipt")
        page.get_by_role("button", name="Prüfen").click()
        page.get_by_text("In Ordnung: das Modell lässt sich bereitstellen.").wait_for()
        page.get_by_role("button", name="Bereitstellen").click()
        page.get_by_text("Bereitgestellt als Version 2.").wait_for()
        assert refused == [], refused  # (before axe, which writes styles of its own)
        assert _serious_violations(page) == []
        _shot(page, "modeler")
    fresh = draft("2024/402", "Neu")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), fresh, now=NOW)
    with database.unit_of_work() as s:
        ready = {t.paper_id: t for t in s.exec(select(HumanTask).where(HumanTask.status == TASK_READY))}
        assert (ready[running].title, ready[fresh].title) == ("Auf die Tagesordnung setzen", "Eingang vermerken")
        assert (ready[fresh].due, ready[fresh].organization_id) == (
            date(2026, 11, 27), demo.assembly_meeting.organization_id)
        versions = {i.paper_id: s.get(ProcessModel, i.model_id) for i in s.exec(select(ProcessInstance).where(
            col(ProcessInstance.paper_id).in_([running, fresh])))}
        assert (versions[running].version, versions[fresh].version) == (1, 2)
        deployed = versions[fresh].bpmn_xml
        assert '<spiffworkflow:property name="formJsonSchemaFilename" value="niederschrift.schema.json" />' in deployed
        assert '<spiffworkflow:property name="dueDate" value="P3D" />' in deployed
        assert '<spiffworkflow:property name="candidateGroup" value="VV" />' in deployed
        assert 'name="Auf die Tagesordnung nehmen"' in deployed


def test_the_modeler_deploys_nothing_from_a_model_it_cannot_keep_whole(  # type: ignore[no-untyped-def]
        demo, database, page):
    """A model carrying SpiffWorkflow extensions the modeler does not know (here
    ``spiffworkflow:taskMetadataValues``) would lose them on saving: the page says so and
    "Bereitstellen" is disabled; checking still works."""
    from engine.process import procedures

    content = (PROJECT / "bpmn" / "beratungsfolge.bpmn").read_bytes().replace(
        b'<spiffworkflow:property name="titleEn" value="Put on the agenda" />\n        </spiffworkflow:properties>',
        b'<spiffworkflow:property name="titleEn" value="Put on the agenda" />\n        </spiffworkflow:properties>'
        b'<spiffworkflow:taskMetadataValues><spiffworkflow:taskMetadataValue name="akte" value="1" />'
        b'</spiffworkflow:taskMetadataValues>', 1)
    assert b"taskMetadataValues" in content
    with database.unit_of_work() as s:
        model, new = procedures.deploy(s, PROJECT / "bpmn" / "beratungsfolge.bpmn", "admin", content=content,
                                       forms_dirs=[PROJECT / "bpmn" / "forms"])
        assert new
        model_id = model.id
    _login(page, "admin")
    page.goto(f"/verwaltung/modeler/{model_id}")
    page.wait_for_selector("#modeler[data-ready='true']")
    said = page.locator("#modeler-result").inner_text()
    assert said.startswith("Dieses Modell enthält, was der Modeler nicht kennt") and "taskMetadataValues" in said
    assert page.get_by_role("button", name="Bereitstellen").is_disabled()
    assert _serious_violations(page) == []


def test_an_admin_uploads_a_model_and_sees_it_deployed_and_drawn(demo, chromium, live_server, page):  # type: ignore[no-untyped-def]
    """Verwaltung → Prozessmodelle: a changed Beratungsfolge uploaded through the page is
    deployed as version 2, its diagram drawn by bpmn-js under the app's real CSP (no bypass);
    axe finds nothing serious on the list, the version's page and the comparison."""
    changed = (PROJECT / "bpmn" / "beratungsfolge.bpmn").read_bytes().replace(
        b'name="Beratung abschlie\xc3\x9fen"', b'name="Beratung beenden"')
    with _strict_page(chromium, live_server) as (admin, violations):
        _login(admin, "admin")
        admin.locator("#menu-verwaltung summary").click()  # the navigation's Verwaltung menu
        admin.get_by_role("navigation", name="Navigation").get_by_role("link", name="Gremien").click()
        admin.get_by_role("navigation", name="Verwaltung").get_by_role("link", name="Prozessmodelle").click()
        admin.wait_for_url(re.compile(r"/verwaltung/prozessmodelle$"))
        admin.get_by_label("BPMN-Dateien").set_input_files(
            files=[{"name": "beratungsfolge.bpmn", "mimeType": "application/xml", "buffer": changed}])
        admin.get_by_role("button", name="Prüfen und bereitstellen").click()
        admin.get_by_role("status").filter(
            has_text="beratungsfolge.bpmn: Prozess beratungsfolge, Version 2 bereitgestellt").wait_for()
        admin.get_by_role("link", name="Version 2", exact=True).click()
        admin.wait_for_url(re.compile(r"/verwaltung/prozessmodelle/\d+$"))
        assert admin.get_by_role("heading", level=1).inner_text() == "Beratungsfolge, Version 2"
        admin.locator("#diagram[data-ready='true']").wait_for()
        assert admin.locator("#diagram svg").count() >= 1
        assert admin.locator("[data-element-id='Beratung_abschliessen']").count() == 1
        assert "Beratung beenden" in admin.locator("#diagram").inner_text()
        assert violations == [], violations
    _login(page, "admin")
    page.goto("/verwaltung/prozessmodelle")
    _shot(page, "prozessmodelle")
    _assert_accessible(page, "Prozessmodelle")
    page.get_by_role("link", name="Version 2", exact=True).click()
    page.locator("#diagram[data-ready='true']").wait_for()
    _shot(page, "prozessmodell-version")
    _assert_accessible(page, "Prozessmodell, Version 2")
    page.get_by_role("link", name="mit der vorigen Version").click()
    page.wait_for_url(re.compile(r"/vergleich\?"))
    assert "Beratung beenden" in page.locator("table").inner_text()
    _shot(page, "prozessmodell-vergleich")
    _assert_accessible(page, "Versionen vergleichen")


def test_the_api_docs_have_no_serious_accessibility_findings(demo, chromium, live_server):  # type: ignore[no-untyped-def]
    """The API's documentation page (our own, since Swagger UI had 1 critical and 85 serious
    findings) under the app's real Content-Security-Policy: axe finds nothing serious (issue 20)."""
    with _strict_page(chromium, live_server) as (page, refused):
        page.goto("/api/v1/docs")
        assert page.locator("h1").inner_text() == "API-Dokumentation"
        page.locator("#op-complete").scroll_into_view_if_needed()
        page.get_by_role("link", name="CompleteIn").first.click()
        assert page.url.endswith("#schema-CompleteIn")
        assert refused == [], refused
        _shot(page, "api-docs")
        _assert_accessible(page, "API-Dokumentation")


def test_the_unsubscribe_page_asks_then_confirms_without_login(demo, database, chromium, live_server, app):  # type: ignore[no-untyped-def]
    """A reminder's unsubscribe link (issue 20), opened in a browser without login: a page that
    asks, the button turns that reminder off; both pages without serious axe findings."""
    from engine.accounts import Account
    from engine.calendar import reminders

    with database.unit_of_work() as s:
        person_id = s.exec(select(Account).where(Account.username == "becker")).one().person_id
    token = reminders.unsubscribe_token(app.secret_key, person_id, 7 * 24 * 60)
    with _strict_page(chromium, live_server) as (page, refused):
        page.goto(f"/erinnerungen/abbestellen/{token}")
        assert page.locator("h1").inner_text() == "Erinnerung abbestellen"
        _assert_accessible(page, "Abbestellen (Frage)")
        page.get_by_role("button", name="Abbestellen").click()
        page.get_by_role("heading", name="Erinnerung abbestellt").wait_for()
        assert "7 Tage" in page.locator("main").inner_text()
        assert refused == [], refused
        _assert_accessible(page, "Abbestellen (bestätigt)")
    with database.unit_of_work() as s:
        assert not reminders.wants_email(s, person_id, 7 * 24 * 60)
