"""Bad input gets a clear answer, never a 500: ids beyond the database's integers, control
characters in any field, uploaded file names with paths, hostile ``next=``, models with a DTD."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlmodel import select

from engine.council import File, Organization, Paper
from engine.process import procedures
from engine.workflow import runtime
from engine.workflow.models import ProcessModel

from .conftest import PROJECT, text_of

MODEL = PROJECT / "bpmn" / "beratungsfolge.bpmn"


@pytest.mark.parametrize("url", [f"/vorlagen/{2**31}", "/vorlagen/99999999999", f"/dateien/{2**63}",
                                 f"/sitzungen/{2**31}/einladen", f"/api/v1/tasks/{2**31}",
                                 f"/verwaltung/gremien/{2**40}/fristen", f"/revision/vorgaenge/{2**31}/stand.json"])
def test_ids_beyond_the_integer_range_are_404_for_everyone(demo, browser, url):  # type: ignore[no-untyped-def]
    for who in (None, "admin"):
        client = browser() if who is None else browser().login(who)
        for method in ("GET", "POST"):
            response = client.client.open(url, method=method)
            assert response.status_code in (404, 405), (who, method, response.status_code)
            if url.startswith("/api/") and response.status_code == 404:
                assert response.get_json()["error"] == "Seite nicht gefunden."
            response.close()


def test_the_largest_id_still_reaches_the_view(demo, browser):  # type: ignore[no-untyped-def]
    assert browser().get(f"/vorlagen/{2**31 - 1}").status_code == 404  # looked up, not found


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f"])
def test_control_characters_are_422_naming_the_field(demo, browser, char):  # type: ignore[no-untyped-def]
    anonymous = browser()
    page = anonymous.get(f"/?suche=a{char}b")
    assert page.status_code == 422
    assert "Das Feld „suche“ enthält ein unzulässiges Steuerzeichen." in text_of(page.get_data(as_text=True))
    hoffmann = browser().login("hoffmann")
    form = hoffmann.post("/aufgaben/filter", {"name": f"Mein{char}Filter"})
    assert form.status_code == 422 and "„name“" in form.get_data(as_text=True)
    api = hoffmann.client.post("/api/v1/tasks/1/comments", json={"text": f"x{char}y"})
    assert api.status_code == 422
    body = api.get_json()
    assert list(body["errors"]) == ["text"] and "Steuerzeichen" in body["errors"]["text"][0]
    nested = hoffmann.client.post("/api/v1/tasks/1/complete", json={"data": {"notes": [f"a{char}"]}})
    assert nested.status_code == 422 and list(nested.get_json()["errors"]) == ["data.notes.0"]
    query = hoffmann.client.get(f"/api/v1/tasks?holder=x{char}")
    assert query.status_code == 422 and list(query.get_json()["errors"]) == ["holder"]


def test_tab_newline_and_carriage_return_stay_allowed(demo, browser):  # type: ignore[no-untyped-def]
    assert browser().get("/?q=a%09b%0Ac%0Dd").status_code == 200


def test_uploaded_file_names_lose_their_path_and_control_characters_are_refused(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        orgs = {o.short_name or o.name: o.id for o in s.exec(select(Organization))}
    clerk = browser().login("zierstedt")
    form = {"reference": "2024/090", "name": "Anlage mit Pfad", "paper_type": "Beschlussvorlage",
            "public": "true", "under_direction_of_id": orgs["Wirtschaft und Raum"],
            "consultations-0-organization_id": orgs["AWSG"], "consultations-0-role": "Vorberatung",
            "save": "1"}
    refused = clerk.post("/vorlagen/neu", {**form, "anlagen": [(io.BytesIO(b"%PDF-1.4"), "a\x00.pdf",
                                                                  "application/pdf")]},
                         content_type="multipart/form-data")
    assert refused.status_code == 422 and "„anlagen“" in refused.get_data(as_text=True)
    made = clerk.post("/vorlagen/neu", {**form, "anlagen": [
        (io.BytesIO(b"%PDF-1.4 a"), "../../etc/x.pdf", "application/pdf"),
        (io.BytesIO(b"%PDF-1.4 b"), "Dokumente/2025/Haushalt.pdf", "application/pdf"),
        (io.BytesIO(b"%PDF-1.4 c"), "C:/Users/lea/Anlage", "application/pdf")]},
        content_type="multipart/form-data")
    assert made.status_code == 302, text_of(made.get_data(as_text=True))
    with database.unit_of_work() as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2024/090")).one()
        names = [f.file_name for f in s.exec(select(File).where(File.paper_id == paper.id)
                                             .order_by(File.position))]
    assert names == ["x.pdf", "Haushalt.pdf", "Anlage.pdf"]  # the extension its content has
    nameless = clerk.post("/vorlagen/neu", {**form, "reference": "2024/091", "anlagen": [
        (io.BytesIO(b"%PDF-1.4 d"), "..", "application/pdf")]}, content_type="multipart/form-data")
    assert nameless.status_code == 422 and "Die Datei hat keinen Namen." in nameless.get_data(as_text=True)


@pytest.mark.parametrize("target", [
    "//evil.example/", "/\t/evil.example", "/%09/evil.example", "\\\\evil.example", "/\\evil.example",
    "https://evil.example/", "javascript:alert(1)", "/\n/evil.example", "/%0A/evil.example",
    " //evil.example", "/%2F/evil.example", "///evil.example", "/%2F%2Fevil.example", "\x00//evil.example", "",
])
def test_next_stays_on_the_site(demo, browser, target):  # type: ignore[no-untyped-def]
    client = browser()
    token = client.csrf()
    response = client.client.post(f"/anmelden?next={quote(target)}", data={
        "username": "hoffmann", "password": "test-passwort", "csrf_token": token})
    if "\x00" in target:
        assert response.status_code == 422
        return
    assert response.status_code == 302
    assert response.headers["Location"] == "/aufgaben/"


def test_next_keeps_a_path_on_the_site(demo, browser):  # type: ignore[no-untyped-def]
    client = browser()
    token = client.csrf()
    response = client.client.post("/anmelden?next=/sitzungen%3Fx%3D1", data={
        "username": "hoffmann", "password": "test-passwort", "csrf_token": token})
    assert response.headers["Location"] == "/sitzungen?x=1"


def _with_doctype(tmp_path: Path, doctype: str, name: str) -> Path:
    text = MODEL.read_text(encoding="utf-8")
    head, rest = text.split("\n", 1) if text.startswith("<?xml") else ("", text)
    path = tmp_path / name
    path.write_text(f"{head}\n{doctype}\n{rest}", encoding="utf-8")
    return path


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE definitions SYSTEM "http://127.0.0.1:9/evil.dtd">',
    '<!DOCTYPE definitions [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
    '<!doctype definitions [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>',
])
def test_models_with_a_doctype_are_refused_naming_the_file(tmp_path, database, doctype):  # type: ignore[no-untyped-def]
    path = _with_doctype(tmp_path, doctype, "mit-dtd.bpmn")
    expected = "mit-dtd.bpmn: die Datei enthält eine DOCTYPE-Deklaration; das ist nicht erlaubt"
    with pytest.raises(runtime.ModelError) as caught:
        runtime.parse_model(path)
    assert str(caught.value) == expected
    with pytest.raises(runtime.ModelError, match="DOCTYPE-Deklaration"), database.unit_of_work() as s:
        procedures.deploy(s, path, "admin")
    utf16 = tmp_path / "utf16.bpmn"
    utf16.write_bytes(path.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
                      .encode("utf-16"))
    with pytest.raises(runtime.ModelError, match="utf16.bpmn: die Datei enthält eine DOCTYPE"):
        runtime.parse_model(utf16)
    with database.unit_of_work() as s:
        assert s.exec(select(ProcessModel)).all() == []


def test_numbers_that_are_digits_but_not_decimals_are_no_500(demo, database, actor, draft, browser):  # type: ignore[no-untyped-def]
    """"²" is a digit to ``str.isdigit`` but no number to ``int``: a TOP numbered so, a task
    version, an agenda item id, an audit page or a bulk selection were a 500."""
    from engine.council import Meeting
    from engine.tasks import TASK_READY, HumanTask
    from engine.workflow.models import ProcessInstance

    from .conftest import NOW

    paper_id = draft("2024/095", "Hochgestellt")
    clerk = actor("zierstedt")
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        procedures.start_beratungsfolge(s, clerk, paper_id, now=NOW)
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version  # type: ignore[union-attr]
    hoffmann = browser().login("hoffmann")
    assert hoffmann.post(f"/aufgaben/{task.id}", {"meeting_id": "x", "version": "²"}).status_code == 422
    done = hoffmann.post(f"/aufgaben/{task.id}", {"meeting_id": meeting.id, "top_nummer": "²",
                                                  "version": version})
    assert done.status_code == 302, text_of(done.get_data(as_text=True))
    assert hoffmann.get(f"/sitzungen/{meeting.id}").status_code == 200
    assert hoffmann.post(f"/sitzungen/{meeting.id}/tagesordnung", {"action": "up:²"}).status_code == 404
    assert hoffmann.post(f"/sitzungen/{meeting.id}/tagesordnung",
                         {"action": "order", "order": "²,1"}).status_code == 422
    assert hoffmann.post("/aufgaben/kenntnisnahme", {"task": "²", "version-1": "²"}).status_code == 302
    assert browser().login("krueger").get("/revision/?vor=²&sitzung=²").status_code == 422


# ----------------------------------------------------------------------------- issue 21: the last 500s

DEEP = ["[" * 100_000, '{"a": ' * 40 + "1" + "}" * 40]  # beyond Python's recursion; beyond MAX_JSON_DEPTH


@pytest.mark.parametrize("url", ["/api/v1/tasks/1/comments", "/api/v1/tasks/1/complete", "/anmelden",
                                 "/konto/tokens", "/aufgaben/kenntnisnahme", "/verwaltung/konten"])
@pytest.mark.parametrize("body", DEEP, ids=["100000-brackets", "depth-40"])
def test_deeply_nested_json_is_400_with_a_german_message(demo, browser, url, body):  # type: ignore[no-untyped-def]
    response = browser().client.post(url, data=body, content_type="application/json")
    assert response.status_code == 400
    expected = "Die JSON-Daten sind zu tief verschachtelt (höchstens 32 Ebenen)."
    if url.startswith("/api/"):
        assert response.get_json() == {"error": expected, "errors": {}}
    else:
        assert expected in text_of(response.get_data(as_text=True))


def test_json_within_the_depth_still_reaches_the_view(demo, browser):  # type: ignore[no-untyped-def]
    hoffmann = browser().login("hoffmann")
    nested = hoffmann.client.post("/api/v1/tasks/1/complete", json={"data": {"a": [[[{"b": [1.5, -2]}]]]},
                                                                     "expected_version": 1})
    assert nested.status_code in (404, 409, 422)  # the task's own answer, not the body's


@pytest.mark.parametrize("number", ["1" * 5000, "-" + "9" * 4000, "1" * 41, "1e400", "-1e400", "1." + "1" * 5000,
                                    "NaN", "Infinity", "-Infinity"])
def test_numbers_too_long_or_infinite_in_json_are_400(demo, browser, number):  # type: ignore[no-untyped-def]
    hoffmann = browser().login("hoffmann")
    for body in (f'{{"text": {number}}}', f'{{"data": {{"x": [{number}]}}, "expected_version": 1}}'):
        response = hoffmann.client.post("/api/v1/tasks/1/comments", data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.get_json()["error"].startswith("Eine Zahl in den JSON-Daten ist zu lang")
    page = browser().client.post("/anmelden", data=f"[{number}]", content_type="application/json")
    assert page.status_code == 400 and "Eine Zahl in den JSON-Daten" in page.get_data(as_text=True)


def test_broken_json_is_400_on_every_route_not_ignored(demo, browser):  # type: ignore[no-untyped-def]
    for url in ("/anmelden", "/api/v1/tasks/1/comments"):
        response = browser().client.post(url, data="{kaputt", content_type="application/json")
        assert response.status_code == 400
        assert "Die Daten sind kein gültiges JSON." in (response.get_json() or {}).get(
            "error", text_of(response.get_data(as_text=True)))


FIVE_THOUSAND = "7" * 5000


def test_numbers_of_5000_digits_in_forms_and_query_strings_are_refused(demo, database, browser):  # type: ignore[no-untyped-def]
    from engine.council import Body, Meeting

    with database.unit_of_work() as s:
        meeting_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/140")).one()
        body_id = s.exec(select(Body.id)).first()
    auditor = browser().login("krueger")
    assert auditor.get(f"/revision/?vor={FIVE_THOUSAND}").status_code == 422
    assert auditor.get(f"/revision/?vorlage={FIVE_THOUSAND}&sitzung={FIVE_THOUSAND}").status_code == 422
    hoffmann = browser().login("hoffmann")  # the Sitzung's secretary
    assert hoffmann.post(f"/sitzungen/{meeting_id}/tagesordnung",
                         {"action": "order", "order": f"{FIVE_THOUSAND},1"}).status_code == 422
    assert hoffmann.post(f"/sitzungen/{meeting_id}/tagesordnung",
                         {"action": f"up:{FIVE_THOUSAND}"}).status_code == 404
    assert hoffmann.post("/aufgaben/kenntnisnahme", {"task": FIVE_THOUSAND}).status_code == 302
    assert hoffmann.post("/aufgaben/1", {"version": FIVE_THOUSAND}).status_code in (404, 422)
    assert hoffmann.get(f"/api/v1/tasks?organization={FIVE_THOUSAND}").status_code == 422
    assert hoffmann.get(f"/api/v1/papers?limit={FIVE_THOUSAND}").status_code == 422
    for bad in (FIVE_THOUSAND, "²", "١"):  # OParl's isdigit() took "²", which int() refuses
        for parameter in ("after", "limit"):
            assert browser().get(f"/oparl/v1.1/body/{body_id}/paper?{parameter}={bad}").status_code == 400


@pytest.mark.parametrize("digits", ["²", "١", "１２", "٣"])
def test_unicode_digits_on_the_tokens_page_are_refused(demo, browser, digits):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    made = admin.post("/konto/tokens", {"account": digits, "name": "Fachverfahren", "scopes": "papers:read"})
    assert made.status_code == 422 and "Ungültige Nummer." in text_of(made.get_data(as_text=True))
    revoked = admin.post("/konto/tokens", {"action": "revoke", "token_id": digits})
    assert revoked.status_code == 404
    expiry = admin.post("/konto/tokens", {"name": "Fachverfahren", "scopes": "papers:read", "expires": digits})
    assert expiry.status_code == 422 and "Gültigkeit in Tagen" in text_of(expiry.get_data(as_text=True))
    assert browser().login("hoffmann").post("/konto/tokens", {"action": "revoke", "token_id": digits}) \
        .status_code == 404


@pytest.mark.parametrize("zero", ["\u0660", "\uff10", "\u06f0", "\U0001d7ce", "\u0966"])
def test_ids_in_urls_are_ascii_digits_only(demo, database, browser, zero):  # type: ignore[no-untyped-def]
    """Arabic-Indic, full-width, Persian, mathematical bold, Devanagari: ``int()`` reads each."""
    with database.unit_of_work() as s:
        paper_id = s.exec(select(Paper.id).where(Paper.reference == "2024/063")).one()
    digits = str(paper_id).translate({ord("0") + i: ord(zero) + i for i in range(10)})
    assert int(digits) == paper_id  # what the converter used to answer as the seed's Vorlage
    client = browser().login("admin")
    assert client.get(f"/vorlagen/{paper_id}").status_code == 200
    for url in (f"/vorlagen/{digits}", f"/vorlagen/{quote(digits)}", f"/api/v1/papers/{quote(digits)}",
                f"/oparl/v1.1/paper/{quote(digits)}"):
        response = client.get(url)
        assert response.status_code == 404, url


def _b64(value: object) -> str:
    import base64
    import json

    raw = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


CURSORS = ["!!!", "%00", "x" * 499, _b64("Müll"), _b64('["papers", 1'), _b64(["papers", 2**63]),
           _b64(["papers", -(2**63)]), _b64(["papers", 10**30]), _b64(["papers", True]), _b64(["papers", "1"]),
           _b64(["papers", {"id": 1}]), _b64(["papers", 1.5]), _b64(["papers", None]), _b64("[" * 370),
           _b64(["gremium", "due", "2024-01-01", 2**63]), _b64(["gremium", "due", None, 10**30]),
           _b64(["gremium", "due", 5, 1]), _b64(["gremium", "due", "2024-13-45", 1]),
           _b64(["gremium", "due", None, True]), _b64(["gremium", "due", ["x"], 1]), _b64(["gremium", "due"]),
           _b64(["reminders", "not a date", 1]), _b64(["reminders", "2024-01-01T00:00:00", 2**64]),
           _b64(["persons", 2**63]), _b64(["memberships", 2**70]), _b64(["organizations", -(2**64)])]


@pytest.mark.parametrize("cursor", CURSORS)
def test_crafted_list_cursors_are_422_with_a_german_message(demo, browser, cursor):  # type: ignore[no-untyped-def]
    hoffmann = browser().login("hoffmann")
    for url in ("/api/v1/papers", "/api/v1/persons", "/api/v1/organizations", "/api/v1/memberships",
                "/api/v1/meetings", "/api/v1/tasks", "/api/v1/me/reminders"):
        response = hoffmann.get(url, query_string={"cursor": cursor})
        assert response.status_code == 422, (url, response.status_code)
        assert response.get_json()["errors"]["cursor"], url
    page = hoffmann.get("/aufgaben/", query_string={"cursor": cursor})
    assert page.status_code == 422
    assert "Ungültiger Cursor" in text_of(page.get_data(as_text=True))


@pytest.mark.parametrize("back", ["/aufgaben\r\nX-Evil: 1", "/aufgaben/\nSet-Cookie: a=b", "/aufgaben\r",
                                  "/aufgaben\x85", "/aufgaben\u2028x", "/aufgaben\t/", "/aufgaben\\..\\x"])
def test_back_with_line_breaks_or_control_characters_goes_to_the_inbox(demo, browser, back):  # type: ignore[no-untyped-def]
    hoffmann = browser().login("hoffmann")
    for form in ({"back": back}, {"back": back, "task": "999999", "version-999999": "1"}):
        response = hoffmann.post("/aufgaben/kenntnisnahme", form)
        assert response.status_code == 302
        assert response.headers["Location"] == "/aufgaben/"
        assert "X-Evil" not in response.headers and "Set-Cookie: a" not in str(response.headers)


def test_back_on_the_inbox_still_returns_there(demo, browser):  # type: ignore[no-untyped-def]
    response = browser().login("hoffmann").post("/aufgaben/kenntnisnahme", {"back": "/aufgaben/?view=mine"})
    assert response.headers["Location"] == "/aufgaben/?view=mine"
