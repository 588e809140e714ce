"""The web UI in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The app is served on a loopback port from a background thread; every test gets a fresh
browser context (no cookies shared). Without /usr/bin/chromium the tests are skipped,
except on CI (environment variable ``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from .conftest import PASSWORD, PROJECT

pytestmark = pytest.mark.browser

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
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real app on 127.0.0.1 and a free port; the base URL without a trailing slash."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
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


def _login(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/anmelden")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))


def _open_task(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("navigation").get_by_role("link", name="Meine Aufgaben").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    page.get_by_role("link", name=title, exact=True).click()
    page.wait_for_url(re.compile(r"/aufgaben/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == title


def _serious_violations(page) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    assert AXE.exists(), f"{AXE} missing: run npm --prefix web install"
    page.add_script_tag(path=str(AXE))
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


def test_secretary_puts_the_vorlage_on_the_agenda(demo, page):  # type: ignore[no-untyped-def]
    _login(page, "hoffmann")
    _open_task(page, "Auf die Tagesordnung setzen")

    session = page.get_by_label("Sitzung", exact=False).and_(page.locator("select"))
    option = session.locator("option", has_text="SI/2024/131")
    assert option.count() == 1
    session.select_option(label=option.inner_text().strip())
    assert session.evaluate("el => el.selectedOptions[0].textContent").count("SI/2024/131") == 1
    page.get_by_label("TOP-Nummer").fill("10.1")
    page.get_by_role("button", name="Erledigen").click()

    page.wait_for_url(re.compile(r"/aufgaben/$"))
    assert page.locator("p.flash").filter(has_text="Die Aufgabe wurde erledigt.").is_visible()
    assert page.get_by_role("link", name="Ergebnis erfassen", exact=True).is_visible()
    assert page.get_by_role("link", name="Auf die Tagesordnung setzen", exact=True).count() == 0

    # Submitting the result form without a result: an error at the field, the task stays open.
    page.get_by_role("link", name="Ergebnis erfassen", exact=True).click()
    page.wait_for_url(re.compile(r"/aufgaben/\d+$"))
    task_url = page.url
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Erledigen").click()
    assert posted.value.status == 422
    page.wait_for_load_state()

    result = page.locator("select#ergebnis")
    assert result.get_attribute("aria-invalid") == "true"
    error = page.locator("#ergebnis-error")
    assert error.is_visible()
    assert error.inner_text().strip()
    assert result.get_attribute("aria-describedby") == "ergebnis-error"
    # The message sits right after the field (in the same form, next to it).
    assert result.evaluate(
        "el => { let n = el.nextElementSibling;"
        " while (n && n.tagName !== 'SMALL') n = n.nextElementSibling;"
        " return n && n.id; }") == "ergebnis-error"
    assert page.get_by_role("alert").filter(has_text="Eingaben bitte prüfen.").is_visible()
    assert page.get_by_role("button", name="Erledigen").is_visible()
    assert page.url == task_url
    page.screenshot(path="/tmp/task.png", full_page=True)

    _open_task(page, "Ergebnis erfassen")  # still in the inbox
    assert page.get_by_role("button", name="Erledigen").is_visible()


def test_pages_have_no_serious_accessibility_violations(demo, page):  # type: ignore[no-untyped-def]
    page.goto(f"/vorlagen/{demo.paper_id}")
    assert page.get_by_role("heading", level=1).inner_text() == "Vorlage – 2024/063"
    page.screenshot(path="/tmp/vorlage.png", full_page=True)
    _assert_accessible(page, "public Vorlage page")

    page.goto("/anmelden")
    _assert_accessible(page, "login page")

    _login(page, "hoffmann")
    _assert_accessible(page, "inbox")

    _open_task(page, "Auf die Tagesordnung setzen")
    _assert_accessible(page, "task page")

    # The task page with field errors (the result form submitted empty) as well.
    session = page.locator("select#meeting_id")
    value = session.locator("option", has_text="SI/2024/131").get_attribute("value")
    session.select_option(value=value)
    page.get_by_role("button", name="Erledigen").click()
    page.wait_for_url(re.compile(r"/aufgaben/$"))
    _assert_accessible(page, "inbox with flash message")
    _open_task(page, "Ergebnis erfassen")
    page.get_by_role("button", name="Erledigen").click()
    page.locator("#ergebnis-error").wait_for()
    _assert_accessible(page, "task page with a field error")


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
