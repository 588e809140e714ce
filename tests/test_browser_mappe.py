"""A member downloads the Sitzungsmappe in Chromium (issue 19 point 5): Martina Becker (demo
``becker``) logs in, opens "Meine Sitzungen" and downloads a Sitzung's Mappe as PDF and as ZIP;
both files are read back (pypdf, zipfile).

:func:`member_downloads_the_sitzungsmappe` is the step itself, for other browser walks to call
(the Done-when walk of issue 19): give it a Playwright page on the live server.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import select

from engine.council import Meeting
from engine.settings import TIMEZONE

from .conftest import PASSWORD
from .test_browser import _serious_violations, _shot, chromium, live_server  # noqa: F401 - fixtures
from .test_mappe import SECRET, other_member, stock_meeting

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


@dataclass(frozen=True)
class Downloaded:
    """What the member got: the files as saved, the PDF's bookmarks (top level, in order) with
    their children, its page count, the names in the ZIP."""

    pdf: Path
    zip: Path
    outline: list[tuple[str, list[str]]]
    pages: int
    names: list[str]


def _outline(reader: PdfReader) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for entry in reader.outline:
        if isinstance(entry, list):
            found[-1] = (found[-1][0], [child.title for child in entry])
        else:
            found.append((entry.title, []))
    return found


def member_downloads_the_sitzungsmappe(page: Any, folder: Path, username: str = "becker",
                                       password: str = PASSWORD, day: str | None = None,
                                       screenshot: str | None = None) -> Downloaded:
    """Log in as ``username``, open "Meine Sitzungen", download the Sitzungsmappe of the Sitzung
    on ``day`` ("08.12.2026"; None: the first one listed) as PDF and as ZIP into ``folder``; check
    that both are what they claim (a PDF that opens on its bookmarks, cover and agenda first; a
    ZIP with the agenda) and that axe finds nothing serious on the page. Returns what was got."""
    page.context.clear_cookies()
    page.goto("/anmelden")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(lambda url: "/anmelden" not in url)
    page.get_by_role("navigation").get_by_role("link", name="Meine Sitzungen").first.click()
    page.wait_for_url(re.compile("/meine-sitzungen$"))
    bad = _serious_violations(page)
    assert not bad, "Meine Sitzungen: " + "; ".join(v["id"] for v in bad)
    if screenshot:
        _shot(page, screenshot)
    saved: dict[str, Path] = {}
    for kind in ("PDF", "ZIP"):
        name = re.compile(rf"^{kind}\s*\(Sitzungsmappe vom {re.escape(day) if day else ''}")
        with page.expect_download() as info:
            page.get_by_role("link", name=name).first.click()
        download = info.value
        assert download.failure() is None
        saved[kind] = folder / download.suggested_filename
        download.save_as(saved[kind])
    assert saved["PDF"].name.startswith("Sitzungsmappe ") and saved["PDF"].suffix == ".pdf"
    assert saved["ZIP"].name == saved["PDF"].with_suffix(".zip").name
    reader = PdfReader(saved["PDF"])
    outline = _outline(reader)
    assert outline[0] == ("Deckblatt und Tagesordnung", []), outline
    assert all(title.startswith("TOP ") for title, _children in outline[1:]), outline
    assert reader.trailer["/Root"]["/PageMode"] == "/UseOutlines"
    assert "Sitzungsmappe" in reader.pages[0].extract_text()
    with zipfile.ZipFile(io.BytesIO(saved["ZIP"].read_bytes())) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    assert "00 Tagesordnung.pdf" in names and "00 Inhalt.txt" in names
    return Downloaded(saved["PDF"], saved["ZIP"], outline, len(reader.pages), names)


@pytest.fixture
def page(chromium, live_server) -> Iterator[Any]:  # noqa: F811 - the fixtures imported above
    context = chromium.new_context(base_url=live_server, locale="de-DE", bypass_csp=True, accept_downloads=True,
                                   viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_becker_downloads_the_sitzungsmappe_and_jansen_gets_the_public_part(demo, database, page, tmp_path):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    other_member(database)
    with database.unit_of_work(write=False) as s:
        day = f"{s.get(Meeting, meeting_id).start.astimezone(TIMEZONE):%d.%m.%Y}"
        assert s.exec(select(Meeting).where(Meeting.id == meeting_id)).one().reference == "SI/2024/140"

    (tmp_path / "becker").mkdir()
    got = member_downloads_the_sitzungsmappe(page, tmp_path / "becker", day=day,
                                             screenshot="issue19-5-meine-sitzungen-sitzungsmappe")
    assert got.pdf.name == f"Sitzungsmappe AWSG {day}.pdf"
    assert got.outline == [
        ("Deckblatt und Tagesordnung", []),
        ("TOP 1: Radverkehrskonzept Innenstadt", ["Vorlage 2024/501", "Anlage 1: Lageplan Radwege"]),
        ("TOP 2: Mitteilungen der Verwaltung", []),
        (f"TOP 3: {SECRET}", ["Vorlage 2024/502", "Anlage 1: Wertgutachten Grundstück"]),
    ]
    assert f"03 TOP 3 – {SECRET} (nichtöffentlich)/Anlage 1 – Wertgutachten.pdf" in got.names

    # Peter Jansen sits in the assembly, not in this committee: Meine Sitzungen does not list the
    # session; the link, typed in, gives him the public part only.
    (tmp_path / "jansen").mkdir()
    page.context.clear_cookies()
    page.goto("/anmelden")
    page.get_by_label("Benutzername").fill("jansen")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(lambda url: "/anmelden" not in url)
    page.goto("/meine-sitzungen")
    assert page.get_by_role("link", name=re.compile(rf"Sitzungsmappe vom {re.escape(day)}")).count() == 0
    response = page.request.get(f"/meine-sitzungen/{meeting_id}/sitzungsmappe.pdf")
    assert response.status == 200
    titles = [title for title, _children in _outline(PdfReader(io.BytesIO(response.body())))]
    assert titles == ["Deckblatt und Tagesordnung", "TOP 1: Radverkehrskonzept Innenstadt",
                      "TOP 2: Mitteilungen der Verwaltung"]
