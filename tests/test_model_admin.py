"""Verwaltung → Prozessmodelle (issue 17, point 4): every deployed version with its cases,
a version's diagram and BPMN, upload with the deploy's checks ("Nur prüfen" or deploy),
refusals with every finding, the differences between two versions; administrators only."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from engine.audit import AuditEvent
from engine.process import procedures
from engine.workflow.models import INSTANCE_RUNNING, ProcessInstance, ProcessModel

from .conftest import PROJECT, text_of

BERATUNG = (PROJECT / "bpmn" / "beratungsfolge.bpmn").read_bytes()
URL = "/verwaltung/prozessmodelle"


def _freigabe(step_name: str = "Prüfen", extra: str = "") -> bytes:
    """A small model with no user task: start → a script → end (process ``Freigabe``)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="Freigabe" name="Freigabe" isExecutable="true">
    <bpmn:startEvent id="Eingang" name="Eingang" />
    <bpmn:scriptTask id="Schritt" name="{step_name}"><bpmn:script>geprueft = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="Erledigt" name="Erledigt" />
{extra}
    <bpmn:sequenceFlow id="F1" sourceRef="Eingang" targetRef="Schritt" />
    <bpmn:sequenceFlow id="F2" sourceRef="Schritt" targetRef="Erledigt" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="D1" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI">
    <bpmndi:BPMNPlane id="P1" bpmnElement="Freigabe" />
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
""".encode()


def _calling() -> bytes:
    """A lifecycle that calls the Beratungsfolge (deployed together with it)."""
    return _freigabe().replace(b'<bpmn:scriptTask id="Schritt" name="Pr\xc3\xbcfen"><bpmn:script>geprueft = True'
                               b"</bpmn:script></bpmn:scriptTask>",
                               b'<bpmn:callActivity id="Schritt" name="Beratung" calledElement="beratungsfolge" />'
                               ).replace(b'id="Freigabe" name="Freigabe"', b'id="Lebenslauf" name="Lebenslauf"'
                                         ).replace(b'bpmnElement="Freigabe"', b'bpmnElement="Lebenslauf"')


def _upload(admin, files: list[tuple[str, bytes]], action: str = "bereitstellen"):  # type: ignore[no-untyped-def]
    return admin.post(URL, {"aktion": action, "dateien": [(io.BytesIO(c), name) for name, c in files]},
                      content_type="multipart/form-data")


def _models(database) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return [(m.process_id, m.version, m.deployed_by) for m in s.exec(
            select(ProcessModel).order_by(col(ProcessModel.process_id), col(ProcessModel.version)))]


def _second_version(database) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The Beratungsfolge's version 2 (a step renamed), deployed by admin; (v1 id, v2 id)."""
    with database.unit_of_work() as s:
        v1 = procedures.current_model(s, "beratungsfolge")
        v2, new = procedures.deploy(s, "beratungsfolge.bpmn", "admin", content=BERATUNG.replace(
            b'name="Beratung abschlie\xc3\x9fen"', b'name="Beratung beenden"'),
            forms_dirs=[PROJECT / "bpmn" / "forms"])
        assert new and v2.version == 2
        return v1.id, v2.id  # type: ignore[return-value]


def _rows(html: str) -> list[str]:
    return [text_of(row) for row in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)]


def test_the_list_shows_every_version_newest_first_with_its_cases(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    v1, v2 = _second_version(database)
    with database.unit_of_work() as s:
        running = s.exec(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.model_id == v1, ProcessInstance.status == INSTANCE_RUNNING)).one()
        first = s.get(ProcessModel, v1)
        assert first is not None
        full_hash, deployed = first.spec_hash, first.deployed_at
    assert running >= 1
    response = browser().login("admin").get(URL)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = text_of(html)
    assert "Prozessmodelle" in page and "Beratungsfolge" in page and "Sitzung" in page
    rows = [r for r in _rows(html) if r.startswith("Version ")]
    # Grouped by process; newest version first; who deployed it and when; the cases.
    berat = [r for r in rows if "beratungsfolge" in r]
    assert [r.split()[1] for r in berat] == ["2", "1"], rows
    assert berat[0].endswith("admin 0 0") and re.search(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr", berat[0])
    assert berat[1].endswith(f"system {running} 0"), berat[1]
    assert f'title="{full_hash}"' in html and full_hash[:12] in page and full_hash not in page
    assert f'href="/verwaltung/prozessmodelle/{v2}"' in html
    assert deployed is not None


def test_a_version_page_draws_the_diagram_and_offers_the_bpmn(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    v1, _v2 = _second_version(database)
    admin = browser().login("admin")
    response = admin.get(f"{URL}/{v1}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-model="/verwaltung/prozessmodelle/{v1}/beratungsfolge-version-1.bpmn"' in html
    assert "/vendor/bpmn-js/bpmn-viewer.production.min.js" in html and "/static/diagram.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script under the CSP
    page = text_of(html)
    assert "Beratungsfolge, Version 1" in page and "laufend" in page
    assert f"{URL}/vergleich?von={v1}&amp;zu={_v2}" in html  # compared with the newer version
    download = admin.get(f"{URL}/{v1}/beratungsfolge-version-1.bpmn")
    assert download.status_code == 200 and download.mimetype == "application/xml"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="beratungsfolge-version-1.bpmn"')
    assert download.data == BERATUNG
    assert admin.get(f"{URL}/{v1}/sitzung-version-1.bpmn").status_code == 404  # the name must fit
    assert admin.get(f"{URL}/999999").status_code == 404


def test_each_running_case_links_to_its_diagram(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    """An administrator holds every role (``Actor.has_role``), the auditor's too: the running
    cases of a version are listed with their diagrams."""
    with database.unit_of_work() as s:
        model = procedures.current_model(s, "beratungsfolge")
        instance = s.exec(select(ProcessInstance).where(ProcessInstance.model_id == model.id,
                                                         ProcessInstance.status == INSTANCE_RUNNING)).first()
        assert instance is not None
    html = browser().login("admin").get(f"{URL}/{model.id}").get_data(as_text=True)
    assert f'href="/revision/vorgaenge/{instance.id}/diagramm"' in html
    assert "Vorlage 2024/063" in text_of(html)


def test_nur_pruefen_checks_and_deploys_nothing(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    before = _models(database)
    response = _upload(browser().login("admin"), [("freigabe.bpmn", _freigabe())], action="pruefen")
    assert response.status_code == 200
    assert "freigabe.bpmn: in Ordnung – Prozess Freigabe (geprüft, nicht bereitgestellt)" in text_of(
        response.get_data(as_text=True))
    assert _models(database) == before


def test_an_upload_deploys_a_new_version_and_the_same_content_again_is_unchanged(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    response = _upload(admin, [("freigabe.bpmn", _freigabe())])
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    assert "freigabe.bpmn: Prozess Freigabe, Version 1 bereitgestellt" in text_of(admin.get(URL).get_data(as_text=True))
    assert ("Freigabe", 1, "admin") in _models(database)
    assert "freigabe.bpmn: Prozess Freigabe, Version 1 unverändert (schon bereitgestellt)" in text_of(
        admin.get(_upload(admin, [("freigabe.bpmn", _freigabe())]).headers["Location"]).get_data(as_text=True))
    _upload(admin, [("freigabe.bpmn", _freigabe("Prüfen und freigeben"))])
    assert [m for m in _models(database) if m[0] == "Freigabe"] == [("Freigabe", 1, "admin"), ("Freigabe", 2, "admin")]
    with database.unit_of_work() as s:
        deployed = [e.details for e in s.exec(select(AuditEvent).where(AuditEvent.action == "model.deployed",
                                                                      AuditEvent.actor == "admin")
                                              .order_by(col(AuditEvent.seq)))]
    assert [(d["process_id"], d["version"]) for d in deployed] == [("Freigabe", 1), ("Freigabe", 2)]


def test_files_uploaded_together_resolve_a_call_activity(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    alone = _upload(admin, [("lebenslauf.bpmn", _calling())])
    assert alone.status_code == 422
    assert "der in keiner der zusammen bereitgestellten Dateien steht" in text_of(alone.get_data(as_text=True))
    response = _upload(admin, [("lebenslauf.bpmn", _calling()), ("beratungsfolge.bpmn", BERATUNG)])
    assert response.status_code == 302, text_of(response.get_data(as_text=True))
    page = text_of(admin.get(URL).get_data(as_text=True))
    assert "lebenslauf.bpmn: Prozess Lebenslauf, Version 1 bereitgestellt" in page
    assert "beratungsfolge.bpmn: Prozess beratungsfolge, Version 1 unverändert (schon bereitgestellt)" in page
    assert ("Lebenslauf", 1, "admin") in _models(database)


def test_a_refusal_lists_every_finding_next_to_the_field_and_deploys_nothing(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    before = _models(database)
    bad = _freigabe(extra='    <bpmn:serviceTask id="Buchen" name="Buchen" camunda:class="de.stadt.B" />\n'
                          '    <bpmn:task id="Vergessen" name="Vergessen" />')
    # A good file with a bad one: neither is deployed (one request, one unit of work).
    response = _upload(browser().login("admin"), [("gut.bpmn", _freigabe("Anders")), ("freigabe.bpmn", bad)])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    findings = re.search(r'<ul id="dateien-error"[^>]*>(.*?)</ul>', html, flags=re.S)
    assert findings is not None, html
    items = [text_of(li) for li in re.findall(r"<li>.*?</li>", findings.group(1), flags=re.S)]
    assert len(items) >= 3 and all(i.startswith("freigabe.bpmn, ") for i in items), items
    assert any("Element Buchen (Buchen): Java-Klasse (camunda:class) läuft hier nicht" in i for i in items)
    assert any("Element Vergessen (Vergessen)" in i for i in items)
    assert 'aria-describedby="dateien-error"' in html and 'aria-invalid="true"' in html
    assert _models(database) == before


@pytest.mark.parametrize("name, content, says", [
    ("kaputt.bpmn", b"<bpmn:definitions", "kaputt.bpmn, Zeile 1: kein gültiges XML"),
    ("entity.bpmn", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
     "entity.bpmn: die Datei enthält eine DOCTYPE-Deklaration; das ist nicht erlaubt"),
    ("seite.bpmn", b"<html><body>Hallo</body></html>",
     "seite.bpmn, Zeile 1: keine BPMN-Datei: das äußerste Element ist html"),
    ("bild.bpmn", b"\x89PNG\r\n\x1a\n\x00\x00", "bild.bpmn, Zeile 1: kein gültiges XML"),
])
def test_bad_files_are_refused_in_german(demo, database, browser, name, content, says) -> None:  # type: ignore[no-untyped-def]
    before = _models(database)
    admin = browser().login("admin")
    for action in ("pruefen", "bereitstellen"):
        response = _upload(admin, [(name, content)], action=action)
        assert response.status_code == 422
        assert says in text_of(response.get_data(as_text=True))
    assert _models(database) == before


def test_no_file_two_files_of_one_name_and_a_file_too_large(demo, database, browser, app) -> None:  # type: ignore[no-untyped-def]
    before = _models(database)
    admin = browser().login("admin")
    none = admin.post(URL, {"aktion": "bereitstellen"}, content_type="multipart/form-data")
    assert none.status_code == 422 and "Bitte mindestens eine BPMN-Datei wählen." in text_of(none.get_data(as_text=True))
    twice = _upload(admin, [("freigabe.bpmn", _freigabe()), ("freigabe.bpmn", _freigabe("Anders"))])
    assert twice.status_code == 422
    assert "Die Datei freigabe.bpmn ist zweimal gewählt." in text_of(twice.get_data(as_text=True))
    limit = app.config["MAX_CONTENT_LENGTH"]
    with admin.client.session_transaction() as sess:
        token = sess["csrf"]
    # Encoded here: the test client would spool so large a body to a file it never closes.
    body = (f'--grenze\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            '--grenze\r\nContent-Disposition: form-data; name="dateien"; filename="gross.bpmn"\r\n'
            "Content-Type: application/xml\r\n\r\n").encode() + b"<x>" + b" " * limit + b"</x>\r\n--grenze--\r\n"
    big = admin.client.post(URL, data=body, content_type="multipart/form-data; boundary=grenze")
    assert big.status_code == 413
    page = text_of(big.get_data(as_text=True))
    assert f"Die Dateien sind zu groß: zusammen höchstens {limit // (1024 * 1024)} MB." in page
    assert "Prozessmodell hochladen" in page  # the upload form again, the list with it
    assert _models(database) == before


def test_the_differences_between_two_versions(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    v1, v2 = _second_version(database)
    admin = browser().login("admin")
    response = admin.get(f"{URL}/vergleich?von={v1}&zu={v2}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Beratungsfolge: Version 1 → Version 2" in text_of(html)
    rows = _rows(html)
    assert any(r.startswith("geändert Beratung_abschliessen Skriptaufgabe Beratung beenden Name "
                            "Beratung abschließen Beratung beenden") for r in rows), rows
    same = admin.get(f"{URL}/vergleich?von={v1}&zu={v1}")
    assert same.status_code == 200 and "Keine Unterschiede" in text_of(same.get_data(as_text=True))
    with database.unit_of_work() as s:
        sitzung = procedures.current_model(s, "sitzung").id
    other = admin.get(f"{URL}/vergleich?von={v1}&zu={sitzung}")
    assert other.status_code == 422
    assert ("Nur Versionen desselben Prozesses lassen sich vergleichen: beratungsfolge und sitzung."
            in text_of(other.get_data(as_text=True)))
    assert admin.get(f"{URL}/vergleich?von={v1}&zu=999999").status_code == 404
    wrong = admin.get(f"{URL}/vergleich?von=eins&zu={v2}")
    assert wrong.status_code == 422 and "Bitte zwei Versionen wählen." in text_of(wrong.get_data(as_text=True))


def test_only_administrators(demo, database, browser, others) -> None:  # type: ignore[no-untyped-def]
    v1, v2 = _second_version(database)
    before = _models(database)
    for username in ("hoffmann", "krueger", "zierstedt"):
        user = browser().login(username)
        for url in (URL, f"{URL}/{v1}", f"{URL}/{v1}/beratungsfolge-version-1.bpmn",
                    f"{URL}/vergleich?von={v1}&zu={v2}"):
            assert user.get(url).status_code == 403, (username, url)
        assert _upload(user, [("freigabe.bpmn", _freigabe())]).status_code == 403
        assert "Prozessmodelle" not in text_of(user.get("/").get_data(as_text=True))
    anonymous = browser().get(URL)
    assert anonymous.status_code == 302 and "/anmelden" in anonymous.headers["Location"]
    assert _models(database) == before


def test_the_verwaltung_links_to_the_models(demo, browser) -> None:  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    for url in ("/verwaltung/gremien/verzeichnis", "/verwaltung/gremien"):
        assert f'href="{URL}"' in admin.get(url).get_data(as_text=True), url
