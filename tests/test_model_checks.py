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
from engine.workflow.models import ProcessModel
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


def test_files_held_in_memory_resolve_a_call_activity_as_paths_do() -> None:
    """An upload has no paths: ``together`` takes :class:`runtime.ModelFile` (name, bytes); its
    forms are looked for where the server keeps them (``forms_dirs``)."""
    forms = [PROJECT / "bpmn" / "forms"]
    beratung = (PROJECT / "bpmn" / "beratungsfolge.bpmn").read_bytes()
    together = [runtime.ModelFile("vorlage.bpmn", _lifecycle()), runtime.ModelFile("beratungsfolge.bpmn", beratung)]
    parsed = runtime.parse_model("vorlage.bpmn", _lifecycle(), forms, requires=MODEL_REQUIREMENTS,
                                 together=together)
    assert parsed.process_id == "Freigabe" and "beratungsfolge" in parsed.spec_json
    # Another version of the same process in memory is not what is called; nor is the file itself.
    alone = [runtime.ModelFile("vorlage.bpmn", _lifecycle()), runtime.ModelFile("kopie.bpmn", _lifecycle())]
    with pytest.raises(ModelError, match="in keiner der zusammen bereitgestellten Dateien"):
        runtime.parse_model("vorlage.bpmn", _lifecycle(), requires=MODEL_REQUIREMENTS, together=alone)


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
