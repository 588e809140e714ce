"""Stored files never run on our origin (web.files_response), through every route that serves
one: the public Anlage (/dateien/<id>) and OParl's accessUrl and downloadUrl, anonymous and
logged in; and the separate files origin (RATSFLOW_FILES_BASE_URL).

The rows are written as an old upload or an OParl import left them: with the type the
client or the source named (text/html, image/svg+xml), not the one the bytes are.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

import pytest

from engine.council import File, Paper
from engine.demo import demo_pdf
from engine.files import FileStore
from engine.settings import SettingsError, load_settings

from .test_anlagen import _png

# The database does not matter here: SQLite only (tests/conftest.py, sqlite_only).
pytestmark = pytest.mark.sqlite_only

PDF = demo_pdf("Anlage", ["Eine Zeile."])
HTML = b"<!doctype html><html><body><script>document.title='PWNED'</script></body></html>"
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>document.title="PWNED"</script><rect width="10" height="10"/></svg>')
TEXT_WITH_SCRIPT = b"Ein Vermerk.\n<script>alert(1)</script>\n"
#: kind -> (bytes, stored mime_type, stored file_name, served type, inline?)
STORED = {
    "html": (HTML, "text/html", "bericht.html", "application/octet-stream", False),
    "svg": (SVG, "image/svg+xml", "plan.svg", "application/octet-stream", False),
    "text": (TEXT_WITH_SCRIPT, "text/plain", "vermerk.txt", "application/octet-stream", False),
    "pdf": (PDF, "application/pdf", "Übersicht Straßenbäume.pdf", "application/pdf", True),
    "png": (_png(), "image/png", "lageplan.png", "image/png", True),
    # An import that named no listed type: the bytes decide.
    "pdf_unlisted": (PDF, "application/x-pdf", "haushalt.pdf", "application/pdf", True),
    "html_as_js": (b"document.title='PWNED'", "text/javascript", "x.js", "text/plain; charset=utf-8", False),
}
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
API = "/oparl/v1.1"


def _store(database, store: FileStore, paper_id: int, public: bool = True) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ids = {}
    with database.unit_of_work() as s:
        paper = s.get(Paper, paper_id)
        paper.public = public
        s.add(paper)
        for position, (kind, (content, mime_type, file_name, _t, _i)) in enumerate(STORED.items(), 20):
            f = File(paper_id=paper_id, position=position, name=kind, file_name=file_name,
                     mime_type=mime_type, size=len(content), sha_512_checksum=store.put(s, content))
            s.add(f)
            s.flush()
            ids[kind] = f.id
    return ids


@pytest.fixture
def stored(demo, database, app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return _store(database, app.extensions["ratsflow.files"], demo.paper_id)


def _assert_served_safely(response, kind: str) -> None:  # type: ignore[no-untyped-def]
    content, _m, _n, served, inline = STORED[kind]
    try:
        assert response.status_code == 200, (kind, response.status_code)
        assert response.headers["Content-Type"] == served, kind
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == FILE_CSP
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("inline;" if inline else "attachment;"), (kind, disposition)
        assert "filename*=UTF-8''" in disposition
        assert response.get_data() == content
    finally:
        response.close()


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_every_file_route_serves_the_allow_listed_type_never_markup(stored, browser, who) -> None:  # type: ignore[no-untyped-def]
    client = browser() if who == "anonymous" else browser().login(who)
    for kind, file_id in stored.items():
        _assert_served_safely(client.get(f"/dateien/{file_id}"), kind)
        _assert_served_safely(client.get(f"{API}/file/{file_id}/access"), kind)
        download = client.get(f"{API}/file/{file_id}/download")
        assert download.headers["Content-Disposition"].startswith("attachment;"), kind  # even a PDF
        assert download.headers["Content-Security-Policy"] == FILE_CSP
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Type"] == STORED[kind][3]
        download.close()


def test_oparl_access_url_never_serves_the_type_an_import_stored(stored, browser) -> None:  # type: ignore[no-untyped-def]
    """The finding: OParl sent the row's mime_type (text/html) inline on our origin."""
    for kind in ("html", "svg", "html_as_js"):
        response = browser().get(f"{API}/file/{stored[kind]}/access")
        assert response.headers["Content-Type"] == STORED[kind][3]
        assert response.headers["Content-Disposition"].startswith("attachment;")
        response.close()


def test_a_non_public_anlage_has_the_same_headers_for_who_may_see_it(demo, database, app, browser) -> None:  # type: ignore[no-untyped-def]
    ids = _store(database, app.extensions["ratsflow.files"], demo.paper_id, public=False)
    admin = browser().login("admin")
    for kind, file_id in ids.items():
        _assert_served_safely(admin.get(f"/dateien/{file_id}"), kind)
        for url in (f"/dateien/{file_id}", f"{API}/file/{file_id}/access"):
            answer = browser().get(url)
            assert answer.status_code == 404, url
            answer.close()


def test_the_file_name_is_rfc_6266_with_umlauts_in_utf_8(stored, browser) -> None:  # type: ignore[no-untyped-def]
    response = browser().get(f"/dateien/{stored['pdf']}")
    name = "Übersicht Straßenbäume.pdf"
    assert response.headers["Content-Disposition"] == (
        f"inline; filename=\"Ubersicht Stra_enbaume.pdf\"; filename*=UTF-8''{quote(name, safe='')}")
    response.close()
    response = browser().get(f"{API}/file/{stored['html']}/access")
    assert response.headers["Content-Disposition"] == \
        "attachment; filename=\"bericht.html\"; filename*=UTF-8''bericht.html"
    response.close()


def test_a_conditional_get_of_a_file_keeps_the_headers(stored, browser) -> None:  # type: ignore[no-untyped-def]
    first = browser().get(f"{API}/file/{stored['html']}/access")
    etag = first.headers["ETag"]
    first.close()
    again = browser().get(f"{API}/file/{stored['html']}/access", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["Content-Security-Policy"] == FILE_CSP
    again.close()


# ----------------------------------------------------------------------------- the files origin

FILES = "http://anlagen.test"


@pytest.fixture
def files_app(settings, database, clock):  # type: ignore[no-untyped-def]
    from web import create_app

    application = create_app(dataclasses.replace(settings, files_base_url=FILES), upgrade=False)
    application.config.update(TESTING=True)
    application.extensions["ratsflow.clock"] = clock
    yield application
    application.extensions["ratsflow.db"].dispose()


def test_the_files_origin_setting_is_an_origin_other_than_the_app() -> None:
    assert load_settings(env={}).files_base_url is None
    loaded = load_settings(env={"RATSFLOW_FILES_BASE_URL": "https://Anlagen.Example.org/"})
    assert loaded.files_base_url == "https://anlagen.example.org"
    for bad in ("anlagen.example.org", "https://anlagen.example.org/dateien", "ftp://anlagen.example.org",
                "https://anlagen.example.org/?x=1"):
        with pytest.raises(SettingsError):
            load_settings(env={"RATSFLOW_FILES_BASE_URL": bad})
    with pytest.raises(SettingsError):
        load_settings(env={"RATSFLOW_BASE_URL": "https://rat.example.org",
                           "RATSFLOW_FILES_BASE_URL": "https://rat.example.org"})


def test_links_point_to_the_files_origin_and_requests_move_there(demo, database, files_app) -> None:  # type: ignore[no-untyped-def]
    ids = _store(database, files_app.extensions["ratsflow.files"], demo.paper_id)
    client = files_app.test_client()
    page = client.get(f"/vorlagen/{demo.paper_id}").get_data(as_text=True)
    assert f'href="{FILES}/dateien/{ids["pdf"]}"' in page
    listed = client.get(f"{API}/file/{ids['pdf']}").get_json()
    assert listed["accessUrl"] == f"{FILES}{API}/file/{ids['pdf']}/access"
    assert listed["downloadUrl"] == f"{FILES}{API}/file/{ids['pdf']}/download"
    for path in (f"/dateien/{ids['html']}", f"{API}/file/{ids['html']}/access",
                 f"{API}/file/{ids['html']}/download"):
        moved = client.get(path)
        assert (moved.status_code, moved.headers["Location"]) == (302, f"{FILES}{path}")
        there = client.get(path, base_url=FILES)
        assert there.headers["Content-Disposition"].startswith("attachment;")
        _assert_served_safely(there, "html")
    # The files origin answers the file routes, nothing else.
    for path in ("/", f"/vorlagen/{demo.paper_id}", "/anmelden", f"{API}/system", f"{API}/file/{ids['pdf']}"):
        other = client.get(path, base_url=FILES)
        assert other.status_code == 404, path
        other.close()


def test_a_non_public_anlage_stays_on_the_app_origin(demo, database, files_app) -> None:  # type: ignore[no-untyped-def]
    """The login cookie does not go to the files origin: who may see it gets it here."""
    from .conftest import Browser

    ids = _store(database, files_app.extensions["ratsflow.files"], demo.paper_id, public=False)
    admin = Browser(files_app.test_client()).login("admin")
    page = admin.get(f"/vorlagen/{demo.paper_id}").get_data(as_text=True)
    assert f'href="/dateien/{ids["pdf"]}"' in page
    _assert_served_safely(admin.get(f"/dateien/{ids['pdf']}"), "pdf")
    hidden = files_app.test_client().get(f"/dateien/{ids['pdf']}", base_url=FILES)
    assert hidden.status_code == 404
    hidden.close()
