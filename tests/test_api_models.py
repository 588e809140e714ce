"""Process models over the API (issue 17, point 2: "from the CLI, the API and the browser
alike"): POST /api/v1/models/check and POST /api/v1/models with the files deployed together,
the same findings as ``ratsflow deploy --check``, only for the administration; on both
databases."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlmodel import select

from engine.identity import tokens
from engine.process import procedures
from engine.workflow.models import ProcessModel

from .conftest import NOW
from .test_api_v1 import call


@pytest.fixture
def bearer(database, actor):  # type: ignore[no-untyped-def]
    """Factory: a token of ``username`` with ``scopes``."""
    def make(username: str, *scopes: str) -> str:
        who = actor(username)
        with database.unit_of_work() as s:
            return tokens.create(s, who, who.account_id, "Test", list(scopes), None, now=NOW).plain
    return make

MODELS = Path(__file__).resolve().parent / "models"
BPMN = Path(__file__).resolve().parent.parent / "bpmn"


def _files(*paths: Path) -> list[dict[str, str]]:
    return [{"name": p.name, "content": p.read_text(encoding="utf-8")} for p in paths]


def test_check_names_every_finding_and_deploys_nothing(app, database, demo, bearer) -> None:  # type: ignore[no-untyped-def]
    admin = bearer("admin", "models:write")
    status, body, _ = call(app, "POST", "/api/v1/models/check", admin, json={
        "files": _files(MODELS / "camunda-rechnungseingang.bpmn", MODELS / "camunda-ratsbeschluss.bpmn")})
    assert status == 200 and body["ok"] is False
    outcome = {m["name"]: m for m in body["models"]}
    assert outcome["camunda-ratsbeschluss.bpmn"]["ok"] is True  # its form: a bundled one
    invoice = outcome["camunda-rechnungseingang.bpmn"]
    elements = {f["element"] for f in invoice["findings"]}
    assert "Task_Buchen (Buchen)" in elements and "Flow_ja (ja)" in elements
    assert all(f["text"].startswith("camunda-rechnungseingang.bpmn, Zeile ") for f in invoice["findings"])
    with database.unit_of_work() as s:
        deployed = sorted(m.process_id for m in s.exec(select(ProcessModel)))
        assert deployed == ["beratungsfolge", "sitzung", "vorlage"]


def test_a_council_model_with_its_form_deploys_over_the_api(app, database, demo, bearer) -> None:  # type: ignore[no-untyped-def]
    admin = bearer("admin", "models:write")
    files = [*_files(MODELS / "camunda-ratsbeschluss.bpmn"),
             {"name": "niederschrift.schema.json",
              "content": (BPMN / "forms" / "niederschrift.schema.json").read_text(encoding="utf-8")}]
    status, body, _ = call(app, "POST", "/api/v1/models", admin, json={"files": files})
    assert status == 200, body
    [model] = body["models"]
    assert (model["ok"], model["process_id"], model["version"], model["new"]) == (True, "Beschlusskontrolle", 1, True)
    again = call(app, "POST", "/api/v1/models", admin, json={"files": files})[1]["models"][0]
    assert (again["version"], again["new"]) == (1, False)


def test_a_refused_model_is_422_and_leaves_nothing(app, database, demo, bearer) -> None:  # type: ignore[no-untyped-def]
    admin = bearer("admin", "models:write")
    status, body, _ = call(app, "POST", "/api/v1/models", admin,
                           json={"files": _files(MODELS / "camunda-rechnungseingang.bpmn")})
    assert status == 422 and body["ok"] is False
    with database.unit_of_work() as s:
        assert s.exec(select(ProcessModel).where(ProcessModel.process_id == "Rechnungseingang")).all() == []


def test_only_the_administration_and_only_models_named_so(app, database, demo, bearer) -> None:  # type: ignore[no-untyped-def]
    files = _files(MODELS / "bpmnio-einfach.bpmn")
    assert call(app, "POST", "/api/v1/models", bearer("hoffmann", "models:write"), json={"files": files})[0] == 403
    assert call(app, "POST", "/api/v1/models", bearer("admin", "tasks:write"), json={"files": files})[0] == 403
    status, body, _ = call(app, "POST", "/api/v1/models/check", bearer("admin", "models:write"),
                           json={"files": [{"name": "../etc/passwd.bpmn", "content": "x"}]})
    assert status == 422 and "erwartet NAME.bpmn" in " ".join(body["errors"]["files"])
    status, body, _ = call(app, "POST", "/api/v1/models/check", bearer("admin", "models:write"),
                           json={"files": [{"name": "a.schema.json", "content": "{}"}]})
    assert status == 422 and body["errors"]["files"] == ["Keine BPMN-Datei (NAME.bpmn) dabei."]


def test_deploys_of_one_process_at_the_same_moment_each_get_a_version(  # type: ignore[no-untyped-def]
        database, demo, actor, monkeypatch) -> None:
    """Two administrators deploy changed versions of the same process at once (and a third
    deploys the first one's content again): each gets its own version number, the same content
    the same version; no unique-key error reaches anyone. (The models are parsed beforehand, so
    that the three meet in the database at the same moment.)"""
    from engine.workflow import runtime

    from .conftest import run_together

    original = (BPMN / "beratungsfolge.bpmn").read_bytes()
    variants = [original.replace(b'name="Beratung abschlie\xc3\x9fen"', b'name="Beratung beenden"'),
                original.replace(b'name="Beratung abschlie\xc3\x9fen"', b'name="Beratung schlie\xc3\x9fen"')]
    parse = runtime.parse_model
    parsed = {c: parse(BPMN / "beratungsfolge.bpmn", c, requires=procedures.MODEL_REQUIREMENTS,
                       forms_dirs=[BPMN / "forms"]) for c in variants}
    monkeypatch.setattr(runtime, "parse_model", lambda path, content, **_: parsed[content])
    contents = iter([variants[0], variants[1], variants[0]])
    lock = threading.Lock()
    got: list[tuple[int, bool]] = []

    def deploy() -> None:
        with lock:
            content = next(contents)
        with database.unit_of_work() as s:
            model, new = procedures.deploy(s, BPMN / "beratungsfolge.bpmn", "admin", content=content,
                                           forms_dirs=[BPMN / "forms"])
            outcome = (model.version, new)
        with lock:
            got.append(outcome)

    outcomes = run_together(deploy, 3, RuntimeError)
    assert outcomes == ["ok", "ok", "ok"]
    with database.unit_of_work() as s:
        versions = sorted(m.version for m in s.exec(select(ProcessModel).where(
            ProcessModel.process_id == "beratungsfolge")))
    assert versions == [1, 2, 3]
    assert sorted(v for v, new in got if new) == [2, 3] and len(got) == 3


def test_a_model_changed_later_keeps_the_form_it_was_uploaded_with(app, database, demo, bearer) -> None:  # type: ignore[no-untyped-def]
    """The modeler sends the changed model alone: the form that came with its first upload is
    found among the deployed ones (not only among the bundled forms)."""
    admin = bearer("admin", "models:write")
    form = {"title": "Umsetzung melden", "type": "object",
            "properties": {"vermerk": {"type": "string", "title": "Erledigungsvermerk"}}}
    model = (MODELS / "camunda-ratsbeschluss.bpmn").read_text(encoding="utf-8").replace(
        "niederschrift.schema.json", "umsetzung.schema.json")
    first = call(app, "POST", "/api/v1/models", admin, json={"files": [
        {"name": "beschluss.bpmn", "content": model},
        {"name": "umsetzung.schema.json", "content": json.dumps(form)}]})
    assert first[0] == 200, first[1]
    changed = model.replace('name="Beschluss umsetzen"', 'name="Beschluss ausführen"')
    assert changed != model
    status, body, _ = call(app, "POST", "/api/v1/models", admin,
                           json={"files": [{"name": "beschluss.bpmn", "content": changed}]})
    assert status == 200, body
    assert (body["models"][0]["version"], body["models"][0]["new"]) == (2, True)
    with database.unit_of_work() as s:
        newest = s.exec(select(ProcessModel).where(ProcessModel.process_id == "Beschlusskontrolle",
                                                   ProcessModel.version == 2)).one()
        assert newest.forms["umsetzung"]["title"] == "Umsetzung melden"
        assert procedures.known_forms(s)["umsetzung.schema.json"] == "Umsetzung melden"


def test_the_modeler_offers_every_name_a_model_may_declare_in_words(app, database, demo) -> None:  # type: ignore[no-untyped-def]
    """Each effect, due rule, guard, role and end state the deploy accepts has its words in the
    modeler's panel (a new one without words fails here), and the forms include the bundled ones."""
    from engine.process.effects import DECLARABLE
    from web.modeler import declared_names, vocabulary

    with app.test_request_context("/"):
        names = declared_names()
        with database.unit_of_work() as s:
            offered = vocabulary(s)
    missing = {prop: sorted(known - set(names.get(prop, {}))) for prop, known in DECLARABLE.items()
               if known - set(names.get(prop, {}))}
    assert missing == {}
    effects = {o["value"]: o["label"] for o in offered["effects"]}
    assert effects["putOnAgenda"] == "Auf die Tagesordnung setzen"
    forms = {o["value"] for o in offered["forms"]}
    assert {"tagesordnung.schema.json", "ergebnis.schema.json"} <= forms
    bodies = {o["value"] for o in offered["bodies"]}
    assert {"VV", "AWSG"} <= bodies
