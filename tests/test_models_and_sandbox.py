"""Deploying models: broken files say what and where; unsafe code never runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from engine.council import Paper
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask
from engine.workflow import runtime
from engine.workflow.models import ProcessInstance, ProcessModel
from engine.workflow.sandbox import RestrictedEnvironment
from web.cli import main as cli

from .conftest import NOW, PROJECT, on_agenda

MODEL = PROJECT / "bpmn" / "beratungsfolge.bpmn"


def variant(tmp_path: Path, old: str, new: str, name: str = "variante.bpmn") -> Path:
    """A copy of the Beratungsfolge model with one change (forms copied alongside)."""
    text = MODEL.read_text(encoding="utf-8")
    assert old in text
    shutil.copytree(MODEL.parent / "forms", tmp_path / "forms", dirs_exist_ok=True)
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("script, why", [
    ("import os\nindex = 0", "import ist in Modellen nicht erlaubt"),
    ("from subprocess import run\nindex = 0", "import ist in Modellen nicht erlaubt"),
    ("index = len(open('/etc/passwd').read())", "open ist in Modellen nicht erlaubt"),
    ("index = ().__class__.__base__.__subclasses__()", '"__subclasses__" is an invalid attribute'),
    ("index = getattr(beratungen, 'pop')", "getattr ist in Modellen nicht erlaubt"),
])
def test_unsafe_scripts_are_refused_at_deploy(tmp_path: Path, script: str, why: str) -> None:
    path = variant(tmp_path, "<bpmn:script>index = 0</bpmn:script>", f"<bpmn:script>{script}</bpmn:script>")
    with pytest.raises(runtime.ModelError) as caught:
        runtime.parse_model(path)
    message = str(caught.value)
    assert message.startswith("variante.bpmn")
    assert "Beratungsfolge_vorbereiten (Beratungsfolge vorbereiten)" in message
    assert why in message


def test_unsafe_condition_is_refused_at_deploy(tmp_path: Path) -> None:
    path = variant(tmp_path, 'ergebnis == "vertagt"', '__import__("os").system("id") == 0')
    with pytest.raises(runtime.ModelError, match="Ergebnis_pruefen.*__import__ ist in Modellen nicht erlaubt"):
        runtime.parse_model(path)


@pytest.mark.parametrize("code", [
    "().__class__.__base__.__subclasses__()",
    "open('/etc/passwd')",
    "__import__('os')",
    "[c for c in ().__class__.__mro__]",
])
def test_the_sandbox_refuses_escapes_even_without_deploy_checks(code: str) -> None:
    env = RestrictedEnvironment()
    with pytest.raises(ValueError):
        env.evaluate(code, {})


def test_the_sandbox_runs_ordinary_scripts() -> None:
    env = RestrictedEnvironment()
    context = {"beratungen": [{"organization_id": 4}, {"organization_id": 9}], "index": 0}
    env.execute("index += 1\nbisher = [b['organization_id'] for b in beratungen[:index]]", context)
    assert context == {"beratungen": context["beratungen"], "index": 1, "bisher": [4]}
    assert env.evaluate("index < len(beratungen) and max(1, 2) == 2", context) is True


def test_a_failing_script_names_its_element_and_writes_nothing(tmp_path, database, actor, draft):  # type: ignore[no-untyped-def]
    path = variant(tmp_path, "<bpmn:script>beratung = beratungen[index]</bpmn:script>",
                   "<bpmn:script>beratung = beratungen[index + 100]</bpmn:script>")
    clerk = actor("zierstedt")
    paper_id = draft("2024/099")
    with database.unit_of_work() as s:
        procedures.deploy(s, path, "admin")
    with pytest.raises(runtime.TaskFailed) as caught, database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, clerk, paper_id)
    assert caught.value.element == "Naechste_Beratung (Nächste Beratung aufrufen)"
    assert "index" in caught.value.reason or "list" in caught.value.reason
    with database.unit_of_work() as s:
        assert s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper_id)).all() == []
        assert s.get(Paper, paper_id).status == "Entwurf"


@pytest.mark.parametrize("old, new, expected", [
    ("</bpmn:definitions>", "", r"variante.bpmn, Zeile \d+: kein gültiges XML"),
    ('targetRef="Ergebnis_pruefen"', 'targetRef="Gibt_es_nicht"', r"variante.bpmn.*Gibt_es_nicht"),
    ('id="Tagesordnung"', 'id="Start"', r"variante.bpmn, Zeile \d+, Element Start: die id 'Start' kollidiert"),
    ('value="tagesordnung.schema.json"', 'value="fehlt.schema.json"',
     r"variante.bpmn, Element Tagesordnung \(Auf die Tagesordnung setzen\): Formular fehlt.schema.json nicht gefunden"),
    ('isExecutable="true"', 'isExecutable="false"', r"kein ausführbarer Prozess \(isExecutable=\"true\"\)"),
    ("<bpmn:userTask id=\"Ergebnis\"", "<bpmn:userTusk id=\"Ergebnis\"", r"variante.bpmn.*userTusk"),
])
def test_broken_bpmn_says_which_file_element_and_why(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = variant(tmp_path, old, new)
    with pytest.raises(runtime.ModelError, match=expected):
        runtime.parse_model(path)


ENDS_WITHDRAWN = '<spiffworkflow:property name="endState" value="withdrawn" />'


def _form_variant(tmp_path: Path, old: str, new: str) -> None:
    """Change the agenda form copied next to a model variant."""
    form = tmp_path / "forms" / "tagesordnung.schema.json"
    text = form.read_text(encoding="utf-8")
    assert old in text
    form.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("old, new, form, expected", [
    pytest.param('<spiffworkflow:property name="effect" value="recordResult" />',
                 '<spiffworkflow:property name="effect" value="recordResult" />' + ENDS_WITHDRAWN, None,
                 r"^variante.bpmn, Element Ergebnis \(Ergebnis erfassen\): endState gehört an ein Endereignis$",
                 id="end-state-on-a-task"),
    pytest.param(ENDS_WITHDRAWN, ENDS_WITHDRAWN.replace("withdrawn", "verschwunden"), None,
                 r"endState='verschwunden' ist unbekannt \(bekannt: done, withdrawn\)", id="unknown-end-state"),
    pytest.param("", "", ('"x-options": "sitzungen_des_gremiums"', '"x-options": "alle_sitzungen"'),
                 r"^variante.bpmn, Element Tagesordnung \(Auf die Tagesordnung setzen\): Formular tagesordnung, "
                 r"Feld meeting_id: x-options='alle_sitzungen' ist unbekannt \(bekannt: hauptverwaltungsbeamte, "
                 r"mitglieder_des_gremiums, sitzungen_des_gremiums\)$",
                 id="unknown-choice-source"),
    pytest.param("", "", ('"meeting_id"', '"sitzung_id"'),
                 r"^variante.bpmn, Element Tagesordnung \(Auf die Tagesordnung setzen\): effect='putOnAgenda' "
                 r"braucht im Formular tagesordnung das Feld meeting_id mit x-options='sitzungen_des_gremiums'$",
                 id="effect-without-its-choice"),
])
def test_deploy_refuses_what_python_cannot_rely_on(  # type: ignore[no-untyped-def]
        tmp_path, database, old, new, form, expected):
    path = variant(tmp_path, old, new)
    if form is not None:
        _form_variant(tmp_path, *form)
    with database.unit_of_work() as s, pytest.raises(runtime.ModelError, match=expected):
        procedures.deploy(s, path, "admin")
    with database.unit_of_work() as s:
        assert s.exec(select(ProcessModel)).all() == []


@pytest.mark.parametrize("old, new, status", [
    pytest.param("Vorlage_zurueckgezogen", "Rueckzug", "zurückgezogen", id="renamed-end-event"),
    pytest.param(ENDS_WITHDRAWN, ENDS_WITHDRAWN.replace("withdrawn", "done"), "abgeschlossen",
                 id="declared-done"),
])
def test_the_end_event_reached_declares_how_the_vorlage_ends(  # type: ignore[no-untyped-def]
        tmp_path, database, demo, actor, draft, old, new, status):
    path = variant(tmp_path, old, new, name="beratungsfolge.bpmn")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(old, new), encoding="utf-8")  # every occurrence of the id
    with database.unit_of_work() as s:
        assert procedures.deploy(s, path, "admin")[1]
    paper_id = on_agenda(database, actor, draft, "2024/095", "Rückzug")
    secretary = actor("hoffmann")
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
        completion = procedures.complete_task(s, secretary, task.id, {"ergebnis": "zurueckgezogen"},
                                              version, now=NOW)
        assert completion.finished
    with database.unit_of_work() as s:
        assert s.get(Paper, paper_id).status == status


def test_deploy_command_reports_the_broken_file_and_keeps_the_store(tmp_path, database, settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    broken = variant(tmp_path, "<bpmn:script>index = 0</bpmn:script>",
                     "<bpmn:script>import os</bpmn:script>", name="kaputt.bpmn")
    result = CliRunner().invoke(cli, ["deploy", str(MODEL), str(broken)])
    assert result.exit_code == 1
    assert "beratungsfolge.bpmn: beratungsfolge Version 1 bereitgestellt" in result.output
    assert "Fehler: kaputt.bpmn, Element Beratungsfolge_vorbereiten" in result.output
    again = CliRunner().invoke(cli, ["deploy", str(MODEL)])
    assert again.exit_code == 0 and "unverändert" in again.output
    with database.unit_of_work() as s:
        versions = [m.version for m in s.exec(select(ProcessModel))]
        assert versions == [1]


def test_a_changed_model_is_a_new_version_and_running_instances_keep_theirs(tmp_path, database, demo, actor):  # type: ignore[no-untyped-def]
    changed = variant(tmp_path, 'name="Ergebnis erfassen"', 'name="Beratungsergebnis erfassen"',
                      name="beratungsfolge.bpmn")
    with database.unit_of_work() as s:
        model, new = procedures.deploy(s, changed, "admin")
        assert new and model.version == 2
        old_instance = s.exec(select(ProcessInstance).where(col(ProcessInstance.paper_id).is_not(None))).one()
        assert old_instance.model_id != model.id
        assert s.get(ProcessModel, old_instance.model_id).version == 1


@pytest.mark.parametrize("code, reason", [
    ("while True:\n    pass", "Zeitlimit"),
    ("gross = 'a' * 10**10", "Ergebnis zu groß"),
    # Found by the hardening review (issue 14): each ran unbounded in the web process before.
    pytest.param("while True: pass", "Zeitlimit", id="one-line-loop"),
    pytest.param("try:\n    while True: pass\nexcept:\n    pass\nwhile 1: pass", "Zeitlimit", id="caught-limit"),
    pytest.param("gross = pow(10, 10**8)", "Ergebnis zu groß", id="pow-builtin"),
    pytest.param("gross = sum([[0]*10**6]*1000, [])", "Ergebnis zu groß", id="sum-of-lists"),
    pytest.param("gross = []\nwhile True:\n    gross.append([0] * 10**6)", "Speichergrenze", id="memory"),
    pytest.param("gross = pow(3, 2**100000 - 1, 2**100000 + 1)", "Zeitlimit", id="long-computation"),
])
def test_a_runaway_script_after_a_completion_is_an_incident_not_a_hang(  # type: ignore[no-untyped-def]
        tmp_path, database, actor, draft, browser, code, reason):
    """The script after "Ergebnis erfassen" runs away: the request answers 422 and keeps
    nothing of the completion; the instance stops with an incident an admin sees."""
    from engine import audit
    from engine.council import AgendaItem, Consultation
    from engine.tasks import TASK_READY, HumanTask
    from engine.workflow.models import INSTANCE_INCIDENT

    from .conftest import on_agenda

    path = variant(tmp_path, "<bpmn:script>index = index + 1</bpmn:script>",
                   f"<bpmn:script>{code}\nindex = index + 1</bpmn:script>")
    with database.unit_of_work() as s:
        procedures.deploy(s, path, "admin")
    paper_id = on_agenda(database, actor, draft, "2024/098", "Endlosschleife")
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
    hoffmann = browser().login("hoffmann")
    response = hoffmann.post(f"/aufgaben/{task.id}", {"ergebnis": "zur_kenntnis_genommen", "version": version})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Der Ablauf ist gestört" in page and "Beratung_abschliessen" in page and reason in page
    with database.unit_of_work() as s:
        assert s.get(HumanTask, task.id).status == TASK_READY  # nothing of the completion kept
        item = s.exec(select(AgendaItem).join(Consultation).where(Consultation.paper_id == paper_id)).one()
        assert item.result is None
        instance = s.get(ProcessInstance, task.process_instance_id)
        assert instance.status == INSTANCE_INCIDENT and reason in (instance.incident or "")
        assert s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "workflow.incident")).one()
    admin = browser().login("admin")
    listed = admin.get("/verwaltung/postausgang").get_data(as_text=True)
    assert "Gestörte Abläufe" in listed and reason in listed
    assert admin.post(f"/verwaltung/stoerungen/{instance.id}/fortsetzen", {}).status_code == 302
