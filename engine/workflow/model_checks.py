"""What a deploy proves about a model before it accepts it (issue 17, point 2), on the XML as
modelers write it: constructs that cannot run here refused by name with what to use
instead (Camunda's Java delegates, listeners, connectors, external tasks, scripts in other
languages or files, JUEL expressions); every element reachable from a start event and able
to reach an end; no gateway that can get stuck; every user task with its Gremium. Each
finding in German with the element's id, name and line (:class:`Finding`).

``runtime.parse_model`` runs these before SpiffWorkflow's own parser, so a Camunda model is
told what is wrong in its own words rather than in the engine's ("A Service Task must have
an operator.").
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
BPMN_PREFIX = _B = f"{{{BPMN}}}"
CAMUNDA_PREFIX = _C = f"{{{CAMUNDA}}}"

#: Flow nodes (what a sequence flow may connect), by local name.
_NODES = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
          "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
          "businessRuleTask", "callActivity", "subProcess", "transaction", "exclusiveGateway",
          "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
_TASKS_WITH_IMPLEMENTATION = {"serviceTask", "sendTask", "businessRuleTask"}
_JUEL = re.compile(r"[$#]\{")

_INSTEAD_CODE = ("Stattdessen: eine Skriptaufgabe in Python (scriptFormat leer oder \"python\") "
                 "oder eine Wirkung (spiffworkflow:property name=\"effect\")")


@dataclass(frozen=True)
class Finding:
    """One reason a model cannot run here."""

    reason: str
    element: str | None = None  # "id (Name)"
    line: int | None = None


def _local(node: Any) -> str:
    tag = node.tag if isinstance(node.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _label(node: Any) -> str:
    node_id, name = node.get("id"), node.get("name")
    return f"{node_id} ({name})" if name else str(node_id)


def finding(node: Any, reason: str) -> Finding:
    return Finding(reason, _label(node), node.sourceline)


def foreign_constructs(root: Any) -> list[Finding]:
    """Camunda's (and other engines') ways to run code, which have no meaning here."""
    found: list[Finding] = []
    for node in root.iter():
        local = _local(node)
        if not local:
            continue
        if local == "scriptTask":
            form = (node.get("scriptFormat") or "").strip().lower()
            if form not in ("", "python", "python3", "text/x-python"):
                found.append(finding(node, f"Skriptsprache „{node.get('scriptFormat')}“ läuft hier nicht. "
                                            f"{_INSTEAD_CODE}."))
            if node.get(f"{_C}resource") is not None:
                found.append(finding(node, "ein Skript aus einer externen Ressource (camunda:resource) "
                                            "würde hier nichts tun. Das Skript bitte in das Modell "
                                            "schreiben (bpmn:script)."))
        if local == "startEvent" and (node.get(f"{_C}formKey") or node.get(f"{_C}formRef")):
            found.append(finding(node, "Startformulare (camunda:formKey am Startereignis) gibt es hier "
                                        "nicht: die Startdaten kommen aus der Vorlage oder der Sitzung, die "
                                        "den Ablauf startet"))
        if local in _TASKS_WITH_IMPLEMENTATION:
            for attr, what in (("class", "Java-Klasse (camunda:class)"),
                               ("delegateExpression", "Java-Delegate (camunda:delegateExpression)"),
                               ("expression", "Ausdruck (camunda:expression)")):
                if node.get(f"{_C}{attr}") is not None:
                    found.append(finding(node, f"{what} läuft hier nicht. {_INSTEAD_CODE}."))
            if node.get(f"{_C}type") == "external":
                found.append(finding(node, "externe Aufgaben (camunda:type=\"external\", topic "
                                            f"„{node.get(f'{_C}topic')}“) holt hier kein Worker ab. "
                                            f"{_INSTEAD_CODE}."))
            if local == "businessRuleTask" and node.get(f"{_C}decisionRef") is not None:
                found.append(finding(node, "DMN-Entscheidungen (camunda:decisionRef) werden hier nicht "
                                            "ausgewertet. Stattdessen: ein exklusives Gateway mit "
                                            "Bedingungen in Python."))
        if local in ("executionListener", "taskListener") and node.tag.startswith(_C):
            owner = _owner(node)
            found.append(finding(owner, f"Listener (camunda:{local}) laufen hier nicht. "
                                         f"{_INSTEAD_CODE}."))
        if local == "connector" and node.tag.startswith(_C):
            found.append(finding(_owner(node), "Konnektoren (camunda:connector) gibt es hier nicht. "
                                                f"{_INSTEAD_CODE}."))
        if local in ("conditionExpression", "completionCondition", "loopCardinality") or (
                local in ("timeDate", "timeDuration", "timeCycle")):
            text = (node.text or "").strip()
            if _JUEL.search(text):
                found.append(finding(_owner(node), f"der Ausdruck „{text}“ ist JUEL (${{…}}); hier "
                                                    "sind Ausdrücke Python, etwa ergebnis == 'vertagt'."))
            language = (node.get("language") or "").strip().lower()
            if language and language not in ("python", "python3", "text/x-python"):
                found.append(finding(_owner(node), f"Ausdruckssprache „{node.get('language')}“ läuft "
                                                    "hier nicht; Ausdrücke sind Python."))
    return found


def _owner(node: Any) -> Any:
    """The BPMN element a nested definition belongs to (for the message)."""
    current = node
    while current is not None and not (current.get("id") and current.tag.startswith(_B)):
        current = current.getparent()
    return current if current is not None else node


def flow_problems(process: Any) -> list[Finding]:
    """Within one process (and each subprocess): every node reachable from a start event and
    able to reach an end; no exclusive or inclusive gateway that can get stuck."""
    found: list[Finding] = []
    for scope in [process, *process.iter(f"{_B}subProcess", f"{_B}transaction")]:
        found += _scope_problems(scope)
    return found


def _scope_problems(scope: Any) -> list[Finding]:
    nodes = {n.get("id"): n for n in scope if _local(n) in _NODES and n.get("id")}
    if not nodes:
        return []
    out: dict[str, list[str]] = defaultdict(list)
    into: dict[str, list[str]] = defaultdict(list)
    flows = {}
    for flow in scope.findall(f"{_B}sequenceFlow"):
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        flows[flow.get("id")] = flow
        out[source].append(target)
        into[target].append(source)
    dangling = [(flow, end) for flow in flows.values() for end in ("sourceRef", "targetRef")
                if flow.get(end) not in nodes]
    if dangling:  # the drawing is broken: say that, not what follows from it
        return [finding(flow, f"der Sequenzfluss verweist auf „{flow.get(end)}“, das es in diesem "
                               f"{'Unterprozess' if _local(scope) != 'process' else 'Prozess'} nicht gibt")
                for flow, end in dangling]
    for node_id, node in nodes.items():  # a boundary event leaves from the activity it sits on
        attached = node.get("attachedToRef")
        if _local(node) == "boundaryEvent" and attached:
            out[attached].append(node_id)
            into[node_id].append(attached)
    starts = [i for i, n in nodes.items() if _local(n) == "startEvent" or _entered_otherwise(n)
              or (not into[i] and _local(n) != "boundaryEvent" and scope.tag != f"{_B}process")]
    ends = [i for i, n in nodes.items() if _local(n) == "endEvent" or not out[i]]
    findings: list[Finding] = []
    if not [i for i, n in nodes.items() if _local(n) == "startEvent"] and _local(scope) == "process":
        return [Finding("der Prozess hat kein Startereignis", _label(scope), scope.sourceline)]
    reached = _walk(starts, out)
    for node_id, node in nodes.items():
        if node_id not in reached:
            findings.append(finding(node, "wird von keinem Startereignis aus erreicht"))
    finishing = _walk(ends, into)
    for node_id, node in nodes.items():
        if node_id in reached and node_id not in finishing:
            findings.append(finding(node, "führt zu keinem Endereignis (der Ablauf käme hier nie zu Ende)"))
    for node_id, node in nodes.items():
        if _local(node) not in ("exclusiveGateway", "inclusiveGateway"):
            continue
        outgoing = [f for f in flows.values() if f.get("sourceRef") == node_id]
        conditional = [f for f in outgoing if f.find(f"{_B}conditionExpression") is not None]
        if len(outgoing) > 1 and len(conditional) == len(outgoing) and not node.get("default"):
            findings.append(finding(node, "jeder Ausgang hat eine Bedingung und keiner ist der "
                                           "Standardfluss: sind alle falsch, bleibt der Ablauf hier "
                                           "stehen. Bitte einen Ausgang als Standardfluss markieren "
                                           "(default)."))
    return findings


def _entered_otherwise(node: Any) -> bool:
    """Entered without a sequence flow: an event subprocess (by its event), a compensation
    handler (by its association), a link's catching end (by its throwing one)."""
    linked = _local(node) == "intermediateCatchEvent" and node.find(f"{_B}linkEventDefinition") is not None
    return node.get("triggeredByEvent") == "true" or node.get("isForCompensation") == "true" or linked


def _walk(starts: list[str], edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(edges.get(current, []))
    return seen


BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"


def diagram_problems(root: Any, process: Any) -> list[Finding]:
    """The model has its drawing (BPMN DI) for the process: the auditor's diagram and the
    modeler draw from it; a file without it is not a diagram anyone can read or change."""
    drawn = {plane.get("bpmnElement") for plane in root.iter(f"{{{BPMNDI}}}BPMNPlane")}
    pools = {p.get("id") for p in root.iter(f"{_B}collaboration")
             if any(part.get("processRef") == process.get("id") for part in p.iter(f"{_B}participant"))}
    if process.get("id") in drawn or pools & drawn:
        return []
    return [Finding("das Modell hat keine Zeichnung (BPMN-DI: bpmndi:BPMNDiagram mit einer Ebene für den "
                    "Prozess); bitte im Modeler speichern, der sie mitschreibt", _label(process),
                    process.sourceline)]


def user_task_problems(process: Any, candidate_property: str, group_property: str) -> list[Finding]:
    """Every user task names who does it: a Gremium (``candidateOrganization``: an expression;
    ``candidateGroup``: its short name, as the modeler writes it), or Camunda's
    ``candidateGroups``."""
    found: list[Finding] = []
    for task in process.iter(f"{_B}userTask"):
        names = {p.get("name") for p in task.iter() if _local(p) == "property"}
        if not names & {candidate_property, group_property} and not task.get(f"{_C}candidateGroups"):
            found.append(finding(task, f"Benutzeraufgabe ohne zuständiges Gremium (Eigenschaft "
                                        f"{candidate_property} oder camunda:candidateGroups)"))
    return found


#: SpiffWorkflow's own refusals, in German (the first line of its message → ours).
ENGINE_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"A Service Task must have an operator"),
     f"eine Serviceaufgabe ohne Ausführung läuft hier nicht. {_INSTEAD_CODE}."),
    (re.compile(r"The process '([^']*)' was not found"),
     "die Aufrufaktivität ruft den Prozess „{0}“, der in keiner der zusammen bereitgestellten "
     "Dateien steht"),
    (re.compile(r"Unable to parse BPMN"), "keine BPMN-Datei, die sich lesen lässt"),
    # The BPMN schema (lxml's XML Schema messages).
    (re.compile(r"Element '\{[^}]*\}(\w+)', attribute '([^']+)': The attribute '[^']+' is not allowed"),
     "das Attribut „{1}“ ist an bpmn:{0} nach dem BPMN-Schema nicht erlaubt"),
    (re.compile(r"Element '\{[^}]*\}(\w+)': The attribute '([^']+)' is required but missing"),
     "an bpmn:{0} fehlt das Pflichtattribut „{1}“ (BPMN-Schema)"),
    (re.compile(r"Element '\{[^}]*\}(\w+)': This element is not expected"),
     "das Element bpmn:{0} ist an dieser Stelle nach dem BPMN-Schema nicht vorgesehen"),
    (re.compile(r"Element '\{[^}]*\}(\w+)', attribute '([^']+)': '([^']*)' is not a valid value"),
     "„{2}“ ist kein gültiger Wert für das Attribut „{1}“ an bpmn:{0} (BPMN-Schema)"),
    (re.compile(r"'([^']*)' is not a valid value (?:for|of) the atomic type"),
     "„{0}“ ist kein gültiger Wert (BPMN-Schema)"),
]


def engine_message(message: str) -> str:
    """SpiffWorkflow's refusal in German where we know it; otherwise as it came."""
    for pattern, german in ENGINE_MESSAGES:
        match = pattern.search(message)
        if match:
            return german.format(*match.groups())
    return message
