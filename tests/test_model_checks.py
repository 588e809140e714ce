"""A deploy that proves a model can run (issue 17, point 2): models in the shape Camunda
Modeler 5 writes them (``camunda:`` attributes, ``exporter="Camunda Modeler"``), each
construct that cannot run here refused by name with what to use instead; unreachable and
dead-end elements, gateways that can get stuck; ``ratsflow deploy --check`` lists every
finding with file, line and element, and deploys nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from engine.process.procedures import MODEL_REQUIREMENTS
from engine.workflow import runtime
from engine.workflow.models import ProcessInstance, ProcessModel
from engine.workflow.runtime import ModelError
from web.cli import main as cli

PROJECT = Path(__file__).resolve().parent.parent


def _camunda(body: str, flows: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler"
    exporterVersion="5.17.0">
  <bpmn:process id="Freigabe" name="Freigabe" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="StartEvent_1" name="Eingang" />
{body}
    <bpmn:endEvent id="EndEvent_1" name="Erledigt" />
{flows}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="Freigabe" />
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
""".encode()


def _flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    inner = (f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
             '</bpmn:conditionExpression>') if condition else ""
    return f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">{inner}</bpmn:sequenceFlow>'


def _one_step(step: str) -> bytes:
    """Start → the step (id ``Schritt``) → end."""
    return _camunda(step, "\n".join([_flow("F1", "StartEvent_1", "Schritt"), _flow("F2", "Schritt", "EndEvent_1")]))


def _refused(content: bytes) -> list[str]:
    with pytest.raises(ModelError) as refused:
        runtime.parse_model("freigabe.bpmn", content, requires=MODEL_REQUIREMENTS)
    return str(refused.value).splitlines()


@pytest.mark.parametrize("step, says", [
    ('<bpmn:serviceTask id="Schritt" name="Buchen" camunda:class="de.stadt.Buchung" />',
     "Element Schritt (Buchen): Java-Klasse (camunda:class) läuft hier nicht. Stattdessen: eine Skriptaufgabe in Python"),
    ('<bpmn:serviceTask id="Schritt" name="Buchen" camunda:delegateExpression="${buchung}" />',
     "Java-Delegate (camunda:delegateExpression) läuft hier nicht"),
    ('<bpmn:serviceTask id="Schritt" name="Melden" camunda:type="external" camunda:topic="melden" />',
     "externe Aufgaben (camunda:type=\"external\", topic „melden“) holt hier kein Worker ab"),
    ('<bpmn:scriptTask id="Schritt" name="Rechnen" scriptFormat="javascript"><bpmn:script>x = 1</bpmn:script>'
     '</bpmn:scriptTask>',
     "Skriptsprache „javascript“ läuft hier nicht"),
    ('<bpmn:scriptTask id="Schritt" name="Rechnen" scriptFormat="groovy" camunda:resource="rechnen.groovy" />',
     "ein Skript aus einer externen Ressource (camunda:resource) würde hier nichts tun"),
    ('<bpmn:businessRuleTask id="Schritt" name="Entscheiden" camunda:decisionRef="zuständigkeit" />',
     "DMN-Entscheidungen (camunda:decisionRef) werden hier nicht ausgewertet"),
    ('<bpmn:task id="Schritt" name="Merken"><bpmn:extensionElements><camunda:executionListener '
     'class="de.stadt.Log" event="start" /></bpmn:extensionElements></bpmn:task>',
     "Element Schritt (Merken): Listener (camunda:executionListener) laufen hier nicht"),
    ('<bpmn:serviceTask id="Schritt" name="Senden"><bpmn:extensionElements><camunda:connector>'
     '<camunda:connectorId>http-connector</camunda:connectorId></camunda:connector></bpmn:extensionElements>'
     '</bpmn:serviceTask>',
     "Konnektoren (camunda:connector) gibt es hier nicht"),
    ('<bpmn:userTask id="Schritt" name="Prüfen"><bpmn:extensionElements><spiffworkflow:properties '
     'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"><spiffworkflow:property '
     'name="formJsonSchemaFilename" value="ergebnis.schema.json" /></spiffworkflow:properties>'
     '</bpmn:extensionElements></bpmn:userTask>',
     "Element Schritt (Prüfen): Benutzeraufgabe ohne zuständiges Gremium"),
])
def test_constructs_that_cannot_run_here_are_named_with_what_instead(step: str, says: str) -> None:
    lines = _refused(_one_step(step))
    assert any(says in line for line in lines), lines
    assert all(line.startswith("freigabe.bpmn, Zeile ") for line in lines), lines


def test_unreachable_and_dead_end_elements_are_named() -> None:
    body = ('<bpmn:task id="Pruefen" name="Prüfen" />\n<bpmn:task id="Vergessen" name="Vergessen" />\n'
            '<bpmn:task id="Sackgasse" name="Sackgasse" />')
    flows = "\n".join([_flow("F1", "StartEvent_1", "Pruefen"), _flow("F2", "Pruefen", "EndEvent_1"),
                       _flow("F3", "Vergessen", "EndEvent_1"), _flow("F4", "Pruefen", "Sackgasse"),
                       _flow("F5", "Sackgasse", "Sackgasse")])
    lines = _refused(_camunda(body, flows))
    assert any("Element Vergessen (Vergessen): wird von keinem Startereignis aus erreicht" in line for line in lines)
    assert any("Element Sackgasse (Sackgasse): führt zu keinem Endereignis" in line for line in lines)
    assert not [line for line in lines if "Pruefen" in line]


def test_a_gateway_whose_conditions_may_all_be_false_needs_a_default() -> None:
    def model(default: str) -> bytes:
        body = (f'<bpmn:exclusiveGateway id="Weiche" name="Zugestimmt?"{default} />\n'
                '<bpmn:task id="Ja" name="Ja" />\n<bpmn:task id="Nein" name="Nein" />')
        flows = "\n".join([_flow("F1", "StartEvent_1", "Weiche"),
                           _flow("FJa", "Weiche", "Ja", "zugestimmt == True"),
                           _flow("FNein", "Weiche", "Nein", "zugestimmt == False"),
                           _flow("F4", "Ja", "EndEvent_1"), _flow("F5", "Nein", "EndEvent_1")])
        return _camunda(body, flows)
    lines = _refused(model(""))
    assert any("Element Weiche (Zugestimmt?): jeder Ausgang hat eine Bedingung" in line
               and "Standardfluss" in line for line in lines), lines
    assert runtime.parse_model("freigabe.bpmn", model(' default="FNein"')).process_id == "Freigabe"


def test_juel_expressions_are_refused_with_the_python_way() -> None:
    body = ('<bpmn:exclusiveGateway id="Weiche" name="Zugestimmt?" default="FNein" />\n'
            '<bpmn:task id="Ja" name="Ja" />\n<bpmn:task id="Nein" name="Nein" />')
    flows = "\n".join([_flow("F1", "StartEvent_1", "Weiche"), _flow("FJa", "Weiche", "Ja", "${zugestimmt}"),
                       _flow("FNein", "Weiche", "Nein"), _flow("F4", "Ja", "EndEvent_1"),
                       _flow("F5", "Nein", "EndEvent_1")])
    lines = _refused(_camunda(body, flows))
    assert any("Element FJa: der Ausdruck „${zugestimmt}“ ist JUEL" in line and "Python" in line
               for line in lines), lines


def test_the_engine_s_own_refusal_speaks_german() -> None:
    lines = _refused(_one_step('<bpmn:serviceTask id="Schritt" name="Buchen" />'))
    assert lines == ["freigabe.bpmn, Element Schritt (Buchen): eine Serviceaufgabe ohne Ausführung läuft hier "
                     "nicht. Stattdessen: eine Skriptaufgabe in Python (scriptFormat leer oder \"python\") oder "
                     "eine Wirkung (spiffworkflow:property name=\"effect\")."]


def test_deploy_check_lists_every_finding_and_deploys_nothing(tmp_path: Path, settings, database,  # type: ignore[no-untyped-def]
                                                               monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    bad = tmp_path / "freigabe.bpmn"
    bad.write_bytes(_camunda('<bpmn:serviceTask id="Buchen" name="Buchen" camunda:class="de.stadt.B" />\n'
                             '<bpmn:task id="Vergessen" name="Vergessen" />',
                             "\n".join([_flow("F1", "StartEvent_1", "Buchen"), _flow("F2", "Buchen", "EndEvent_1"),
                                        _flow("F3", "Vergessen", "EndEvent_1")])))
    result = CliRunner().invoke(cli, ["deploy", "--check", str(bad), str(PROJECT / "bpmn" / "beratungsfolge.bpmn")])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Fehler: ")]
    assert len(errors) == 2 and all(line.startswith("Fehler: freigabe.bpmn, Zeile ") for line in errors)
    assert "beratungsfolge.bpmn: in Ordnung – Prozess beratungsfolge (geprüft, nicht bereitgestellt)" in result.output
    with database.unit_of_work() as s:
        assert s.exec(select(ProcessModel)).all() == []
    good = CliRunner().invoke(cli, ["deploy", "--check", str(PROJECT / "bpmn" / "sitzung.bpmn")])
    assert good.exit_code == 0, good.output


def _lifecycle() -> bytes:
    """A Vorlage's lifecycle that calls the Beratungsfolge (another file) as a call activity."""
    return _one_step('<bpmn:callActivity id="Schritt" name="Beratungsfolge" calledElement="beratungsfolge" />')


def test_a_call_activity_resolves_among_the_files_deployed_together(tmp_path: Path) -> None:
    lifecycle = tmp_path / "vorlage.bpmn"
    lifecycle.write_bytes(_lifecycle())
    lines = _refused(_lifecycle())  # alone: what it calls is nowhere
    assert any("die Aufrufaktivität ruft den Prozess „beratungsfolge“, der in keiner der zusammen "
               "bereitgestellten Dateien steht" in line for line in lines), lines
    together = [lifecycle, PROJECT / "bpmn" / "beratungsfolge.bpmn"]
    parsed = runtime.parse_model(lifecycle, requires=MODEL_REQUIREMENTS, together=together)
    assert parsed.process_id == "Freigabe" and "beratungsfolge" in parsed.spec_json


def _camunda_beratungsfolge(group: str = "AWSG", due: str = "P3D", follow_up: str = "P1D") -> bytes:
    """A Beratungsfolge variant as a council would draw it in Camunda Modeler: one user task
    with Camunda's candidateGroups, formKey, dueDate and followUpDate, nothing of ours."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_2"
    targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.17.0">
  <bpmn:process id="beratungsfolge" name="Beratungsfolge (Vorprüfung)" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" name="Vorlage eingebracht" />
    <bpmn:userTask id="Vorpruefung" name="Vorprüfung" camunda:candidateGroups="{group}"
        camunda:formKey="embedded:app:forms/niederschrift.schema.json" camunda:dueDate="{due}"
        camunda:followUpDate="{follow_up}" />
    <bpmn:endEvent id="EndEvent_1" name="Geprüft" />
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Vorpruefung" />
    <bpmn:sequenceFlow id="F2" sourceRef="Vorpruefung" targetRef="EndEvent_1" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="beratungsfolge" />
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
""".encode()


def _with_forms(tmp_path: Path, content: bytes) -> Path:
    (tmp_path / "forms").mkdir(exist_ok=True)
    (tmp_path / "forms" / "niederschrift.schema.json").write_bytes(
        (PROJECT / "bpmn" / "forms" / "niederschrift.schema.json").read_bytes())
    model = tmp_path / "beratungsfolge.bpmn"
    model.write_bytes(content)
    return model


def test_a_camunda_drawn_model_deploys_and_runs_without_hand_edits(  # type: ignore[no-untyped-def]
        tmp_path: Path, database, demo, actor, draft) -> None:
    from datetime import timedelta

    from engine.council import Organization
    from engine.process import procedures
    from engine.settings import TIMEZONE
    from engine.tasks import TASK_READY, HumanTask

    from .conftest import NOW

    model_file = _with_forms(tmp_path, _camunda_beratungsfolge())
    with database.unit_of_work() as s:
        model, new = procedures.deploy(s, model_file, "admin")
        assert new and model.process_id == "beratungsfolge"
    paper_id = draft("2024/200", "Camunda-Vorprüfung")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY)).one()
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one()
        today = NOW.astimezone(TIMEZONE).date()
        assert (task.title, task.organization_id, task.form_key) == ("Vorprüfung", committee.id, "niederschrift")
        assert (task.due, task.follow_up) == (today + timedelta(days=3), today + timedelta(days=1))
        version = s.get(ProcessInstance, task.process_instance_id).version
    with database.unit_of_work() as s:  # the committee's Sekretariat completes it: the Gremium's task
        done = procedures.complete_task(s, actor("hoffmann"), task.id, {"anmerkung": "in Ordnung"}, version, now=NOW)
        assert done.finished


@pytest.mark.parametrize("group, due, follow_up, says", [
    ("XYZ", "P3D", "P1D", "Element Vorpruefung (Vorprüfung): das Gremium „XYZ“ (camunda:candidateGroups) gibt es "
                          "nicht (Kurznamen: "),
    ("AWSG,VV", "P3D", "P1D", "camunda:candidateGroups nennt 2 Gruppen"),
    ("AWSG", "${dateTime().plusDays(3)}", "P1D", "camunda:dueDate=„${dateTime().plusDays(3)}“ lässt sich hier "
                                                  "nicht lesen"),
    ("AWSG", "P3D", "morgen", "camunda:followUpDate=„morgen“ lässt sich hier nicht lesen"),
])
def test_camunda_values_without_a_meaning_here_are_refused(  # type: ignore[no-untyped-def]
        tmp_path: Path, database, demo, group, due, follow_up, says) -> None:
    from engine.process import procedures

    model_file = _with_forms(tmp_path, _camunda_beratungsfolge(group, due, follow_up))
    with pytest.raises(ModelError) as refused, database.unit_of_work() as s:
        procedures.deploy(s, model_file, "admin")
    assert says in str(refused.value), str(refused.value)
    with database.unit_of_work() as s:
        assert s.exec(select(ProcessModel).where(ProcessModel.file_name == "beratungsfolge.bpmn",
                                                 ProcessModel.deployed_by == "admin")).all() == []


def test_a_model_without_its_drawing_is_refused() -> None:
    content = _one_step('<bpmn:task id="Schritt" name="Prüfen" />')
    undrawn = content.replace(b'bpmnElement="Freigabe"', b'bpmnElement="Anderes"')
    lines = _refused(undrawn)
    assert lines == ["freigabe.bpmn, Zeile 6, Element Freigabe (Freigabe): das Modell hat keine Zeichnung "
                     "(BPMN-DI: bpmndi:BPMNDiagram mit einer Ebene für den Prozess); bitte im Modeler speichern, "
                     "der sie mitschreibt"]
    assert runtime.parse_model("freigabe.bpmn", content).process_id == "Freigabe"


def test_a_model_file_of_50_mb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "gross.bpmn"
    with big.open("wb") as f:
        f.write(_one_step('<bpmn:task id="Schritt" name="Prüfen" />'))
        f.write(b"<!-- " + b"x" * (50 * 1024 * 1024) + b" -->")
    with pytest.raises(ModelError) as refused:
        runtime.parse_model(big)
    assert str(refused.value) == "gross.bpmn: die Datei ist zu groß (50,0 MB; ein Modell hat höchstens 5 MB)"
    with pytest.raises(ModelError):
        runtime.parse_model("gross.bpmn", big.read_bytes())


def test_with_several_executable_processes_one_is_chosen() -> None:
    one = _one_step('<bpmn:task id="Schritt" name="Prüfen" />').decode()
    second = one[one.index("  <bpmn:process"):one.index("  </bpmn:process>") + len("  </bpmn:process>\n")]
    second = second.replace('id="Freigabe" name="Freigabe"', 'id="Zweiter" name="Zweiter"')
    for element in ("StartEvent_1", "EndEvent_1", "Schritt", '"F1"', '"F2"'):
        second = second.replace(element, element.replace('"', "") + "_b" if '"' not in element else
                                element[:-1] + '_b"')
    two = one.replace("  <bpmndi:BPMNDiagram", second + "  <bpmndi:BPMNDiagram").encode()
    lines = _refused(two)
    assert lines == ["freigabe.bpmn: mehrere ausführbare Prozesse (Freigabe, Zweiter): bitte einen wählen "
                     "(ratsflow deploy --process ID)"]
    assert runtime.parse_model("freigabe.bpmn", two, process="Freigabe").process_id == "Freigabe"
    with pytest.raises(ModelError) as unknown:
        runtime.parse_model("freigabe.bpmn", two, process="Dritter")
    assert "keinen ausführbaren Prozess „Dritter“ gefunden (ausführbar: Freigabe, Zweiter)" in str(unknown.value)


@pytest.mark.parametrize("step, says", [
    ('<bpmn:task id="Schritt" name="A" farbe="rot" />',
     "freigabe.bpmn, Zeile 8: das Attribut „farbe“ ist an bpmn:task nach dem BPMN-Schema nicht erlaubt"),
    ('<bpmn:aufgabe id="Schritt" />',
     "freigabe.bpmn, Zeile 8: das Element bpmn:aufgabe ist an dieser Stelle nach dem BPMN-Schema nicht vorgesehen"),
    ('<bpmn:task id="1Schritt" name="A" />',
     "freigabe.bpmn, Zeile 8: „1Schritt“ ist kein gültiger Wert für das Attribut „id“ an bpmn:task (BPMN-Schema)"),
])
def test_what_the_bpmn_schema_refuses_is_said_in_german(step: str, says: str) -> None:
    assert _refused(_one_step(step)) == [says]


def test_an_event_subprocess_is_entered_by_its_event_not_by_a_flow() -> None:
    body = ('<bpmn:task id="Pruefen" name="Prüfen" />\n'
            '<bpmn:subProcess id="Bei_Fristablauf" name="Bei Fristablauf" triggeredByEvent="true">'
            '<bpmn:startEvent id="Frist_abgelaufen" isInterrupting="false"><bpmn:outgoing>E1</bpmn:outgoing>'
            '<bpmn:timerEventDefinition id="T1"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P3D'
            '</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>'
            '<bpmn:endEvent id="Erinnert"><bpmn:incoming>E1</bpmn:incoming></bpmn:endEvent>'
            '<bpmn:sequenceFlow id="E1" sourceRef="Frist_abgelaufen" targetRef="Erinnert" /></bpmn:subProcess>')
    flows = "\n".join([_flow("F1", "StartEvent_1", "Pruefen"), _flow("F2", "Pruefen", "EndEvent_1")])
    from lxml import etree

    from engine.workflow import model_checks

    root = etree.fromstring(_camunda(body, flows))
    process = root.find(f"{model_checks.BPMN_PREFIX}process")
    assert model_checks.flow_problems(process) == []


@pytest.mark.parametrize("content, says", [
    (b'<?xml version="1.0"?>\n<html><body>Hallo</body></html>',
     "seite.bpmn, Zeile 2: keine BPMN-Datei: das äußerste Element ist html, erwartet wird definitions "
     "im BPMN-Namensraum"),
    (_one_step('<bpmn:task id="Schritt" name="Prüfen" />').decode().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
     .encode("latin-1"), "seite.bpmn: die Datei ist nicht in UTF-8 gespeichert; bitte als UTF-8 speichern"),
])
def test_a_file_that_is_not_bpmn_or_not_utf8_is_refused_by_name(content: bytes, says: str) -> None:
    assert _refused_as(content, "seite.bpmn") == [says]


def _refused_as(content: bytes, name: str) -> list[str]:
    with pytest.raises(ModelError) as refused:
        runtime.parse_model(name, content, requires=MODEL_REQUIREMENTS)
    return str(refused.value).splitlines()


@pytest.mark.parametrize("form_file", [
    "../forms/ergebnis.schema.json",
    str(PROJECT / "bpmn" / "forms" / "ergebnis.schema.json"),
    "unter/ergebnis.schema.json",
    "ergebnis.schema.json\\..\\x.json",
])
def test_a_form_is_named_by_its_bare_file_name_never_by_a_path(form_file: str) -> None:
    """A model names its form by file name only: a path (relative or absolute) would let an
    uploaded model read any JSON file of the server and show parts of it in the refusal."""
    step = ('<bpmn:userTask id="Schritt" name="Prüfen"><bpmn:extensionElements><spiffworkflow:properties '
            'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core">'
            f'<spiffworkflow:property name="formJsonSchemaFilename" value="{form_file}" />'
            '<spiffworkflow:property name="candidateGroup" value="VV" /></spiffworkflow:properties>'
            '</bpmn:extensionElements></bpmn:userTask>')
    content = _one_step(step)
    lines = _refused(content)
    assert lines == [f"freigabe.bpmn, Element Schritt (Prüfen): Formular „{form_file}“: bitte nur den Dateinamen "
                     "(NAME.schema.json) angeben, ohne Pfad"]
    fine = runtime.parse_model("freigabe.bpmn", content.replace(form_file.encode(), b"ergebnis.schema.json"),
                               requires=MODEL_REQUIREMENTS, forms_dirs=[PROJECT / "bpmn" / "forms"])
    assert fine.forms["ergebnis"]["title"]
