"""Camunda Modeler's vocabulary where it has a meaning here (issue 17, point 3): a user task
drawn in Camunda Modeler for a council deploys without hand edits.

:func:`translate` rewrites, on the XML tree before SpiffWorkflow parses it, each user task's

- ``camunda:candidateGroups="AWSG"`` → property ``candidateGroup`` (the Gremium by its short
  name or name, resolved when the task arises; deploy checks that it exists),
- ``camunda:formKey="…/ergebnis.schema.json"`` → ``formJsonSchemaFilename`` (the form file by
  its name; Camunda's own form formats are refused by name),
- ``camunda:dueDate`` / ``camunda:followUpDate`` → ``dueDate`` / ``followUpDate``: an ISO 8601
  duration from the day the task arises (``P3D``) or one of ratsflow's due rules by name,
- ``camunda:properties`` (the modelers' "Extension properties") of any element → the
  properties of the same names (``effect``, ``completableFrom``, ``endState`` …), checked like
  those declared as ``spiffworkflow:property``.

A property the model declares itself (``spiffworkflow:property``) wins over the Camunda
attribute. Whatever has no meaning here is refused by :mod:`engine.workflow.model_checks`.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from engine.workflow import iso_timers
from engine.workflow.model_checks import BPMN_PREFIX as _B
from engine.workflow.model_checks import CAMUNDA_PREFIX as _C
from engine.workflow.model_checks import Finding, finding

SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_S = f"{{{SPIFF}}}"

CANDIDATE_GROUP_PROPERTY = "candidateGroup"
#: ratsflow's own names (``engine.process.rules.DUE_PROPERTY`` is the same "dueDate").
DUE_PROPERTY = "dueDate"
FOLLOW_UP_PROPERTY = "followUpDate"

def _form_file(key: str) -> str | None:
    """The file name a formKey points at, if it is one of ours (a JSON Schema)."""
    name = key.strip().rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return name if name.endswith(".schema.json") else None


#: An ISO 8601 duration such as P3D (a due or follow-up date counted from the task's day).
is_duration = iso_timers.is_duration


def translate(root: Any, form_property: str) -> list[Finding]:
    """Camunda attributes of user tasks as ratsflow properties (in place); what cannot be
    translated, as findings."""
    found: list[Finding] = []
    for task in root.iter(f"{_B}userTask"):
        wanted: dict[str, str] = {}
        groups = task.get(f"{_C}candidateGroups")
        if groups:
            names = [g.strip() for g in groups.split(",") if g.strip()]
            if len(names) != 1:
                found.append(finding(task, f"camunda:candidateGroups nennt {len(names)} Gruppen; hier ist "
                                            "genau ein Gremium zuständig (sein Kurzname, etwa AWSG)"))
            else:
                wanted[CANDIDATE_GROUP_PROPERTY] = names[0]
        key = task.get(f"{_C}formKey")
        if key:
            form_file = _form_file(key)
            if form_file is None:
                found.append(finding(task, f"das Formular „{key}“ (camunda:formKey) gibt es hier nicht: "
                                            "Formulare sind JSON-Schemas (…schema.json) im Ordner forms "
                                            "neben dem Modell"))
            else:
                wanted[form_property] = form_file
        if task.get(f"{_C}formRef"):
            found.append(finding(task, "Camunda-Formulare (camunda:formRef) gibt es hier nicht: Formulare "
                                        "sind JSON-Schemas (…schema.json, camunda:formKey)"))
        for attr, prop in (("dueDate", DUE_PROPERTY), ("followUpDate", FOLLOW_UP_PROPERTY)):
            value = (task.get(f"{_C}{attr}") or "").strip()
            if not value:
                continue
            if "${" in value or "#{" in value or (prop == FOLLOW_UP_PROPERTY and not is_duration(value)):
                found.append(finding(task, f"camunda:{attr}=„{value}“ lässt sich hier nicht lesen: bitte "
                                            "eine Dauer ab dem Tag der Aufgabe (P3D)"
                                            + (" oder eine Fristregel" if prop == DUE_PROPERTY else "")))
                continue
            wanted[prop] = value
        if wanted:
            _declare(task, wanted)
    for element in root.iter():  # "Extension properties" (camunda:properties) of any element
        holder = element.find(f"{_B}extensionElements") if isinstance(element.tag, str) else None
        entries = holder.find(f"{_C}properties") if holder is not None else None
        if entries is not None:
            named = {p.get("name"): p.get("value") or "" for p in entries.findall(f"{_C}property")
                     if p.get("name")}
            if named:
                _declare(element, named)
    return found


def _declare(task: Any, wanted: dict[str, str]) -> None:
    """Add ``spiffworkflow:property`` entries the task does not declare itself."""
    extensions = task.find(f"{_B}extensionElements")
    if extensions is None:
        extensions = etree.Element(f"{_B}extensionElements")
        task.insert(0, extensions)
    properties = extensions.find(f"{_S}properties")
    if properties is None:
        properties = etree.SubElement(extensions, f"{_S}properties")
    declared = {p.get("name") for p in properties.findall(f"{_S}property")}
    for name, value in wanted.items():
        if name not in declared:
            etree.SubElement(properties, f"{_S}property", name=name, value=value)
