"""Bad input gets a clear answer, never a 500: ids beyond the database's integers, control
characters in any field, uploaded file names with paths, hostile ``next=``, models with a DTD."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlmodel import select

from engine import procedures
from engine.council import File, Organization, Paper
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
    from urllib.parse import quote

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
