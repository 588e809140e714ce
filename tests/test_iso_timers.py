"""Standard BPMN timers (issue 17, point 1): ``timeDuration``, ``timeDate`` and ``timeCycle``
as ISO 8601 literals, exactly as Camunda Modeler and bpmn.io write them, parsed and checked at
deploy; a wrong one refused in German with the element; expressions keep working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.workflow import iso_timers, runtime
from engine.workflow.runtime import ModelError
from web.cli import main as cli

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _model(first: str, second: str, cycle: str = "R3/PT10H") -> bytes:
    """A process as Camunda Modeler 5 saves it: a script step with a repeating boundary timer,
    then two timers in a row."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler"
    exporterVersion="5.17.0">
  <bpmn:process id="Fristen" name="Fristen" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="StartEvent_1" name="Start"><bpmn:outgoing>F0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="Notiz" name="Notiz" scriptFormat="python">
      <bpmn:incoming>F0</bpmn:incoming><bpmn:outgoing>F1</bpmn:outgoing>
      <bpmn:script>notiz = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:boundaryEvent id="Alle_zehn_Stunden" name="Alle zehn Stunden" cancelActivity="false" attachedToRef="Notiz">
      <bpmn:outgoing>F9</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_3">
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">{cycle}</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="Zyklus_Ende"><bpmn:incoming>F9</bpmn:incoming></bpmn:endEvent>
    <bpmn:intermediateCatchEvent id="Warten" name="Eine Stunde warten">
      <bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_1">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{first}</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="Stichtag" name="Stichtag">
      <bpmn:incoming>F2</bpmn:incoming><bpmn:outgoing>F3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_2">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">{second}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="EndEvent_1" name="Ende"><bpmn:incoming>F3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F0" sourceRef="StartEvent_1" targetRef="Notiz" />
    <bpmn:sequenceFlow id="F1" sourceRef="Notiz" targetRef="Warten" />
    <bpmn:sequenceFlow id="F2" sourceRef="Warten" targetRef="Stichtag" />
    <bpmn:sequenceFlow id="F3" sourceRef="Stichtag" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="F9" sourceRef="Alle_zehn_Stunden" targetRef="Zyklus_Ende" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1"><bpmndi:BPMNPlane id="P1" bpmnElement="Fristen">
    <bpmndi:BPMNShape id="S1" bpmnElement="StartEvent_1"><dc:Bounds x="100" y="100" width="36" height="36" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
""".encode()


def test_iso_literals_run_as_the_specification_writes_them() -> None:
    parsed = runtime.parse_model("fristen.bpmn", _model("PT1H", "2030-03-01T09:00:00+01:00"))
    workflow = runtime.new_workflow(parsed.spec_json)
    runtime.run_engine(workflow, NOW)
    [waiting] = runtime.pending_timers(workflow)
    assert (waiting.bpmn_id, waiting.kind, waiting.due_at) == ("Warten", "timeDuration", NOW + timedelta(hours=1))
    runtime.run_engine(workflow, NOW + timedelta(hours=1, seconds=1))
    [deadline] = runtime.pending_timers(workflow)
    assert (deadline.bpmn_id, deadline.due_at) == ("Stichtag", datetime(2030, 3, 1, 8, 0, tzinfo=UTC))
    runtime.run_engine(workflow, datetime(2030, 3, 1, 8, 0, 1, tzinfo=UTC))
    assert workflow.is_completed()


def test_an_instant_without_offset_is_berlin_time() -> None:
    parsed = runtime.parse_model("fristen.bpmn", _model("P1D", "2030-07-01T09:00"))
    workflow = runtime.new_workflow(parsed.spec_json)
    runtime.run_engine(workflow, NOW)
    runtime.run_engine(workflow, NOW + timedelta(days=1, seconds=1))
    [deadline] = runtime.pending_timers(workflow)
    assert deadline.due_at == datetime(2030, 7, 1, 7, 0, tzinfo=UTC)  # 09:00 summer time


@pytest.mark.parametrize("first, second, cycle, reason", [
    ("P1W3X", "2030-03-01T09:00:00+01:00", "R3/PT10H", "„P1W3X“ ist keine Dauer nach ISO 8601"),
    ("PT", "2030-03-01T09:00:00+01:00", "R3/PT10H", "„PT“ ist keine Dauer nach ISO 8601"),
    ("PT1H", "2030-13-01T09:00:00+01:00", "R3/PT10H", "„2030-13-01T09:00:00+01:00“ ist kein Zeitpunkt"),
    ("PT1H", "PT1H", "R3/PT10H", "ist kein Zeitpunkt (timeDate); eine Dauer gehört in timeDuration"),
    ("PT1H", "2030-03-01T09:00:00+01:00", "R0/PT10H", "mindestens einen Durchlauf"),
    ("PT1H", "2030-03-01T09:00:00+01:00", "R3/PT10X", "„PT10X“ ist keine Dauer"),
])
def test_a_wrong_literal_is_refused_at_deploy_naming_the_element(first, second, cycle, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError) as refused:
        runtime.parse_model("fristen.bpmn", _model(first, second, cycle))
    message = str(refused.value)
    assert message.startswith("fristen.bpmn, Element ") and reason in message, message
    assert "Zeitereignis (" in message and "erwartet als" in message


def test_expressions_stay_expressions() -> None:
    assert iso_timers.normalize("timeDate", "termine['sitzungsbeginn']") == "termine['sitzungsbeginn']"
    assert iso_timers.normalize("timeDuration", " PT1H ") == "'PT1H'"
    assert iso_timers.normalize("timeCycle", "R/2030-03-01T09:00/P1D") == "'R/2030-03-01T09:00:00+01:00/P1D'"
    # The project's own session model (timers from the Sitzung's dates) still parses and runs.
    project = Path(__file__).resolve().parent.parent / "bpmn" / "sitzung.bpmn"
    assert runtime.parse_model(project).process_id


def test_ratsflow_deploy_refuses_in_german(tmp_path: Path, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    bad = tmp_path / "fristen.bpmn"
    bad.write_bytes(_model("P1W3X", "2030-03-01T09:00:00+01:00"))
    refused = CliRunner().invoke(cli, ["deploy", str(bad)])
    assert refused.exit_code == 1
    assert "Fehler: fristen.bpmn, Element Warten (Eine Stunde warten): Zeitereignis (timeDuration): " \
        "„P1W3X“ ist keine Dauer nach ISO 8601; erwartet als Dauer etwa PT1H, P3D, P1W" in refused.output


def test_a_task_without_a_type_passes_through_as_in_camunda() -> None:
    """bpmn.io's parallel model: its plain task ("Lesen") needs nobody; the way waits only for
    its ISO timer, then ends."""
    models = Path(__file__).resolve().parent / "models"
    parsed = runtime.parse_model(models / "bpmnio-einfach.bpmn")
    workflow = runtime.new_workflow(parsed.spec_json)
    runtime.run_engine(workflow, NOW)
    assert runtime.ready_user_tasks(workflow) == []
    assert [t.bpmn_id for t in runtime.pending_timers(workflow)] == ["Event_warten"]
    runtime.run_engine(workflow, datetime(2030, 3, 4, 7, 0, 1, tzinfo=UTC))
    assert workflow.is_completed()
