"""What changed between two versions of a model (issue 17, point 4): elements added, removed
and changed, by BPMN element id, computed from the two versions' XML alone."""

from __future__ import annotations

import pytest

from engine.workflow import model_diff
from engine.workflow.model_diff import Change, ModelDiffError

from .conftest import PROJECT


def _model(body: str, process_name: str = "Freigabe") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_1">
  <bpmn:process id="Freigabe" name="{process_name}" isExecutable="true">
{body}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_1"><bpmndi:BPMNPlane id="Plane_1" bpmnElement="Freigabe">
    <bpmndi:BPMNShape id="Shape_1" bpmnElement="Eingang"><dc:Bounds x="1" y="2" width="36" height="36" />
    </bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


BASE = """
    <bpmn:startEvent id="Eingang" name="Eingang" />
    <bpmn:userTask id="Pruefen" name="Prüfen">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="pruefen.schema.json" />
        <spiffworkflow:property name="dueDate" value="agendaClosing" />
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="Weiche" name="Ergebnis?" default="F_nein" />
    <bpmn:intermediateCatchEvent id="Warten" name="Zwei Wochen">
      <bpmn:timerEventDefinition id="Timer_1"><bpmn:timeDuration>P14D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="Erledigt" name="Erledigt" />
    <bpmn:sequenceFlow id="F1" sourceRef="Eingang" targetRef="Pruefen" />
    <bpmn:sequenceFlow id="F2" sourceRef="Pruefen" targetRef="Weiche" />
    <bpmn:sequenceFlow id="F_ja" sourceRef="Weiche" targetRef="Warten">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">ok == True</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="F_nein" sourceRef="Weiche" targetRef="Erledigt" />
    <bpmn:sequenceFlow id="F3" sourceRef="Warten" targetRef="Erledigt" />
"""


def test_the_same_model_has_no_differences_and_the_layout_does_not_count() -> None:
    moved = _model(BASE).replace('x="1" y="2"', 'x="400" y="300"')
    found = model_diff.diff(_model(BASE), moved)
    assert (found.added, found.removed, found.changed) == ([], [], [])
    assert found.empty


def test_added_and_removed_elements_with_their_kind_and_name() -> None:
    new = BASE.replace('<bpmn:endEvent id="Erledigt" name="Erledigt" />',
                       '<bpmn:endEvent id="Erledigt" name="Erledigt" />\n'
                       '    <bpmn:scriptTask id="Zaehlen" name="Zählen"><bpmn:script>n = 1</bpmn:script></bpmn:scriptTask>')
    new = new.replace('<bpmn:sequenceFlow id="F3" sourceRef="Warten" targetRef="Erledigt" />',
                      '<bpmn:sequenceFlow id="F3b" sourceRef="Warten" targetRef="Zaehlen" />\n'
                      '    <bpmn:sequenceFlow id="F4" sourceRef="Zaehlen" targetRef="Erledigt" />')
    found = model_diff.diff(_model(BASE), _model(new))
    assert [(e.id, e.kind, e.name) for e in found.added] == [
        ("F3b", "sequenceFlow", ""), ("F4", "sequenceFlow", ""), ("Zaehlen", "scriptTask", "Zählen")]
    assert [(e.id, e.kind) for e in found.removed] == [("F3", "sequenceFlow")]
    changed = {c.id: c.changes for c in found.changed}
    assert changed == {
        "Erledigt": (Change("incoming", "F3, F_nein", "F4, F_nein"),),
        "Warten": (Change("outgoing", "F3", "F3b"),),
    }


def test_what_changed_on_an_element_name_type_condition_timer_properties() -> None:
    new = (BASE.replace('name="Prüfen"', 'name="Prüfen und freigeben"')
           .replace("ok == True", "ok == True and betrag &lt; 1000")
           .replace("P14D", "P7D")
           .replace('<spiffworkflow:property name="dueDate" value="agendaClosing" />',
                    '<spiffworkflow:property name="dueDate" value="afterSession" />\n'
                    '        <spiffworkflow:property name="effect" value="recordResult" />')
           .replace('default="F_nein"', "")
           .replace('<bpmn:endEvent id="Erledigt" name="Erledigt" />',
                    '<bpmn:intermediateThrowEvent id="Erledigt" name="Erledigt" />'))
    found = model_diff.diff(_model(BASE), _model(new, process_name="Freigabe (neu)"))
    assert found.added == [] and found.removed == []
    changed = {c.id: (c.kind, c.name, c.changes) for c in found.changed}
    assert changed["Pruefen"] == ("userTask", "Prüfen und freigeben", (
        Change("name", "Prüfen", "Prüfen und freigeben"),
        Change("property", "agendaClosing", "afterSession", key="dueDate"),
        Change("property", None, "recordResult", key="effect"),
    ))
    assert changed["F_ja"][2] == (Change("condition", "ok == True", "ok == True and betrag < 1000"),)
    assert changed["Warten"][2] == (Change("timer", "timeDuration: P14D", "timeDuration: P7D"),)
    assert changed["Weiche"][2] == (Change("default", "F_nein", None),)
    assert changed["Erledigt"][2] == (Change("type", "endEvent", "intermediateThrowEvent"),)
    assert changed["Freigabe"][2] == (Change("name", "Freigabe", "Freigabe (neu)"),)
    assert set(changed) == {"Pruefen", "F_ja", "Warten", "Weiche", "Erledigt", "Freigabe"}


def test_a_script_and_a_called_process_count_as_changes() -> None:
    old = _model('<bpmn:scriptTask id="S" name="S"><bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>\n'
                 '<bpmn:callActivity id="C" name="C" calledElement="beratungsfolge" />')
    new = _model('<bpmn:scriptTask id="S" name="S"><bpmn:script>a = 2</bpmn:script></bpmn:scriptTask>\n'
                 '<bpmn:callActivity id="C" name="C" calledElement="sitzung" />')
    changed = {c.id: c.changes for c in model_diff.diff(old, new).changed}
    assert changed == {"S": (Change("script", "a = 1", "a = 2"),),
                       "C": (Change("called", "beratungsfolge", "sitzung"),)}


def test_the_shipped_models_differ_from_each_other_in_everything() -> None:
    beratung = (PROJECT / "bpmn" / "beratungsfolge.bpmn").read_text(encoding="utf-8")
    sitzung = (PROJECT / "bpmn" / "sitzung.bpmn").read_text(encoding="utf-8")
    assert model_diff.diff(beratung, beratung).empty
    found = model_diff.diff(beratung, sitzung)
    assert found.added and found.removed
    assert all(e.kind for e in [*found.added, *found.removed])


@pytest.mark.parametrize("xml, says", [
    ("kein xml", "kein gültiges XML"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "DOCTYPE"),
    ("<html><body /></html>", "keine BPMN-Datei"),
])
def test_unreadable_xml_is_refused_in_german(xml: str, says: str) -> None:
    with pytest.raises(ModelDiffError, match=says):
        model_diff.diff(_model(BASE), xml)
