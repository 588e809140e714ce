"""SpiffWorkflow 3.2.0 behind a small interface: parse and check models, run, save, restore.

Nothing here touches the database; ``engine.process.procedures`` owns the units of work.
Workflow state is the serializer's JSON *without* the spec: the parsed spec of a model
version is stored once (``ProcessModel.spec_json``) and joined back in on restore.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.manual_task import ManualTask as ManualTaskMixin
from SpiffWorkflow.bpmn.specs.mixins.none_task import NoneTask as NoneTaskMixin
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.workflow import camunda, clock, iso_timers, model_checks
from engine.workflow.forms import Form, FormDefinitionError, parse_form
from engine.workflow.sandbox import ScriptLimit, check_source, restricted_script_engine

FORM_PROPERTY = "formJsonSchemaFilename"
CANDIDATE_ORGANIZATION_PROPERTY = "candidateOrganization"
#: The part an element plays that Python looks for (``engine.process.rules.REQUIRED_ROLES``).
ROLE_PROPERTY = "role"
#: Element kinds a declaration may require, and how a message names them.
KIND_USER_TASK, KIND_TIMER_EVENT, KIND_END_EVENT = "userTask", "timerEvent", "endEvent"
_KIND_NAMES = {KIND_USER_TASK: "eine Benutzeraufgabe", KIND_TIMER_EVENT: "ein Zeitereignis",
               KIND_END_EVENT: "ein Endereignis"}
RESERVED_IDS = {"Start", "End", "Root"}
#: A DTD can pull in files or URLs (external entities, parameter entities) or blow up in
#: memory (entity expansion): BPMN needs none, so a model with one is refused outright.
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_NO_DOCTYPE = "die Datei enthält eine DOCTYPE-Deklaration; das ist nicht erlaubt"


class ModelError(ValueError):
    """A BPMN file that cannot be deployed: says which file, which element, why."""

    def __init__(self, file_name: str, reason: str, element: str | None = None,
                 line: int | None = None) -> None:
        self.file_name, self.reason, self.element, self.line = file_name, reason, element, line
        where = file_name
        if line:
            where += f", Zeile {line}"
        if element:
            where += f", Element {element}"
        super().__init__(f"{where}: {reason}")


class ModelFindings(ModelError):
    """Several reasons at once (the deploy's checks): each a :class:`ModelError`."""

    def __init__(self, errors: list[ModelError]) -> None:
        first = errors[0]
        super().__init__(first.file_name, first.reason, None, None)
        self.element, self.line = first.element, first.line
        self.errors = errors
        self.args = ("\n".join(str(e) for e in errors),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class TaskFailed(RuntimeError):
    """A script, condition or expression in a model failed while the workflow ran."""

    def __init__(self, element: str, reason: str) -> None:
        self.element, self.reason = element, reason
        #: The instance it happened in, once known (an incident is recorded on it).
        self.instance_id: int | None = None
        self.paper_id: int | None = None
        super().__init__(f"Element {element}: {reason}")


@dataclass
class ParsedModel:
    process_id: str
    name: str
    file_name: str
    bpmn_xml: str
    spec_json: str
    spec_hash: str
    forms: dict[str, Any]  # form key → form file JSON
    roles: dict[str, str]  # declared role → element id


_SHARED_SPECS = "ratsflow_shared_specs"


class _WorkflowConverter(BpmnWorkflowConverter):
    """Restores a workflow on spec objects restored once per model version (if handed in),
    and writes its state without the spec (stored once per model version)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        # As BpmnWorkflowConverter.to_dict, minus converting the specs: that cost grew with
        # the model, for a part thrown away right after.
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        new_root = _prune(dct)
        if new_root is not None:  # it stored a delta: now the root, it holds its data whole
            root_data = self.registry.convert(workflow.tasks[UUID(new_root)].data)
            dct["tasks"][new_root].update(data=root_data, delta={})
        return dct


    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        shared = dct.pop(_SHARED_SPECS, None)
        if shared is None:
            return super().from_dict(dct)
        # As BpmnWorkflowConverter.from_dict, minus restoring the specs.
        workflow = self.target_class(shared[0], shared[1], deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


#: Where the state keeps the names of the task specs of pruned history (:func:`_prune`).
PRUNED = "ratsflow_pruned"
#: Prune only when at least this many finished tasks can go (not on every step).
_PRUNE_AT = 24
_FINISHED = int(TaskState.FINISHED_MASK)
#: Joins a called process's id and its step's spec name in :data:`PRUNED`.
_CALLED = "::"


def _prune(dct: dict[str, Any]) -> str | None:
    """Keep the stored state from growing with the history (issue 16, "state that does not
    grow with history").

    SpiffWorkflow keeps every task it ever ran: a Beratung vertagt 50 times carries 150
    finished tasks, and restoring and saving them costs more with each round. Everything
    above the lowest common ancestor of the unfinished tasks is finished and can no longer
    matter to the run (no unfinished task descends from a pruned one; joins and gateways look
    at their own subtree): the state is re-rooted there. What ran is still known: the names
    of the pruned tasks' specs are kept in the workflow's data (:data:`PRUNED`, bounded by
    the model's size) for the diagram and the end states; the history itself is the audit log.
    A finished workflow is not pruned. Returns the new root's id, if re-rooted."""
    tasks: dict[str, dict[str, Any]] = dct["tasks"]
    live = [tid for tid, t in tasks.items() if not t["state"] & _FINISHED]
    if not live or len(tasks) - len(live) < _PRUNE_AT:
        return None
    path = _ancestors(tasks, live[0])
    common = len(path)
    for tid in live[1:]:
        other = _ancestors(tasks, tid)
        common = next((i for i, (a, b) in enumerate(zip(path, other, strict=False)) if a != b),
                      min(common, len(other)))
        common = min(common, len(other))
    if common <= 1:
        return None
    new_root = path[common - 1]
    keep: set[str] = set()
    stack = [new_root]
    while stack:
        tid = stack.pop()
        keep.add(tid)
        stack.extend(tasks[tid]["children"])
    if len(tasks) - len(keep) < _PRUNE_AT:
        return None
    pruned = {t["task_spec"] for tid, t in tasks.items()
              if tid not in keep and t["state"] & TaskState.COMPLETED}
    dct["tasks"] = {tid: t for tid, t in tasks.items() if tid in keep}
    dct["tasks"][new_root]["parent"] = None
    dct["root"] = new_root
    if dct.get("last_task") not in keep:
        dct["last_task"] = new_root
    for tid, sp in dct["subprocesses"].items():  # a finished call activity's steps, by its process
        if tid not in keep:
            pruned |= {f"{sp.get('spec')}{_CALLED}{t['task_spec']}" for t in sp.get("tasks", {}).values()
                       if t["state"] & TaskState.COMPLETED}
    dct["subprocesses"] = {tid: sp for tid, sp in dct["subprocesses"].items() if tid in keep}
    data = dct.setdefault("data", {})
    data[PRUNED] = sorted(pruned | set(data.get(PRUNED, [])))
    return new_root


def _ancestors(tasks: dict[str, dict[str, Any]], tid: str) -> list[str]:
    """The task ids from the root down to ``tid``."""
    path = []
    current: str | None = tid
    while current is not None:
        path.append(current)
        current = tasks[current]["parent"]
    path.reverse()
    return path


class _Serializer(BpmnWorkflowSerializer):
    """The SpiffWorkflow serializer, writing and reading state without the spec."""

    def state_to_json(self, workflow: BpmnWorkflow) -> str:
        self.registry._encoder_mode = True  # as serialize_json does
        try:
            dct = self.to_dict(workflow)
        finally:
            self.registry._encoder_mode = False
        dct[self.VERSION_KEY] = self.VERSION
        return json.dumps(dct, cls=self._encoder_cls)

    def state_from_json(self, state: str, spec_json: str, spec_hash: str | None = None) -> BpmnWorkflow:
        dct = json.loads(state, cls=self.json_decoder_cls)
        if spec_hash is None or dct.get(self.VERSION_KEY) != self.VERSION:
            # An older serializer version migrates with the spec in place.
            dct.update(json.loads(spec_json, cls=self.json_decoder_cls))
            self.migrate(dct)
            return self.from_dict(dct)
        del dct[self.VERSION_KEY]
        dct[_SHARED_SPECS] = _specs(spec_hash, spec_json)
        return self.from_dict(dct)

    def spec_to_json(self, spec: Any, subprocess_specs: dict[str, Any]) -> str:
        dct = {
            "spec": self.to_dict(spec),
            "subprocess_specs": {name: self.to_dict(s) for name, s in subprocess_specs.items()},
        }
        return json.dumps(dct, sort_keys=True, cls=self._encoder_cls)


SERIALIZER = _Serializer(BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: _WorkflowConverter}))


@lru_cache(maxsize=64)
def _specs(spec_hash: str, spec_json: str) -> tuple[Any, dict[str, Any]]:
    """A model version's spec objects; specs are read-only while workflows run, so the
    instances of one model version share them (as SpiffWorkflow's own examples do)."""
    dct = json.loads(spec_json, cls=SERIALIZER.json_decoder_cls)
    return (SERIALIZER.from_dict(dct["spec"]),
            {name: SERIALIZER.from_dict(s) for name, s in dct["subprocess_specs"].items()})


SERIALIZER_VERSION = SERIALIZER.VERSION


def _element(spec: Any) -> str:
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    name = getattr(spec, "bpmn_name", None)
    return f"{bpmn_id} ({name})" if name else str(bpmn_id)


def _code_in(task_spec: Any) -> list[tuple[str, str, str]]:
    """Every piece of code in a task spec: (what, source, mode)."""
    found: list[tuple[str, str, str]] = []
    for attr in ("script", "prescript", "postscript"):
        source = getattr(task_spec, attr, None)
        if isinstance(source, str) and source.strip():
            found.append((attr, source, "exec"))
    for condition, _target in getattr(task_spec, "cond_task_specs", []) or []:
        args = getattr(condition, "args", None)
        if args and isinstance(args[0], str):
            found.append(("Bedingung", args[0], "eval"))
    event = getattr(task_spec, "event_definition", None)
    expression = getattr(event, "expression", None)
    if isinstance(expression, str) and expression.strip():
        found.append(("Zeitausdruck", expression, "eval"))
    for attr in ("cardinality", "condition"):
        source = getattr(task_spec, attr, None)
        if isinstance(source, str) and source.strip():
            found.append((attr, source, "eval"))
    props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    if props.get(CANDIDATE_ORGANIZATION_PROPERTY):
        found.append((CANDIDATE_ORGANIZATION_PROPERTY, props[CANDIDATE_ORGANIZATION_PROPERTY], "eval"))
    return found


def _is_kind(task_spec: Any, kind: str) -> bool:
    if kind == KIND_USER_TASK:
        return isinstance(task_spec, UserTask)
    if kind == KIND_TIMER_EVENT:
        return isinstance(getattr(task_spec, "event_definition", None), TimerEventDefinition)
    return kind == KIND_END_EVENT and isinstance(task_spec, EndEvent)


@dataclass(frozen=True)
class Requirements:
    """What Python relies on in the models it runs; deploy refuses a model that breaks it.

    ``declarable``: property → the names a model may give it (the engine's registries);
    ``role_kinds``: role → the kind of element that may declare it; ``required_roles``: kind
    of model (process id) → the roles its model must declare, each on exactly one element;
    ``property_kinds``: property → the kind of element it belongs on; ``choice_sources``:
    the names a form field's ``x-options`` may use (None: any); ``needs_choice``: effect →
    (form field, its ``x-options``) the effect reads.
    """

    declarable: dict[str, set[str]] = field(default_factory=dict)
    role_kinds: dict[str, str] = field(default_factory=dict)
    required_roles: dict[str, dict[str, str]] = field(default_factory=dict)
    property_kinds: dict[str, str] = field(default_factory=dict)
    choice_sources: set[str] | None = None
    needs_choice: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Gremien a user task may name by short name or name (``candidateGroup``, Camunda's
    #: ``candidateGroups``); None: not checked here (the deploy with a database checks).
    groups: set[str] | None = None


#: The largest model file read (the project's own are about 15 KB; Camunda's biggest examples 1 MB).
MAX_MODEL_BYTES = 5 * 1024 * 1024


def _too_large(size: int) -> str:
    megabytes = f"{size / 1024 / 1024:.1f}".replace(".", ",")
    return (f"die Datei ist zu groß ({megabytes} MB; ein Modell hat höchstens "
            f"{MAX_MODEL_BYTES // 1024 // 1024} MB)")


def _read_xml(path: Path, content: bytes | None) -> tuple[bytes, Any]:
    """A BPMN file's bytes and its XML tree, read safely (no DOCTYPE, no entities, no network)."""
    file_name = path.name
    if content is None:
        try:
            if path.stat().st_size > MAX_MODEL_BYTES:
                raise ModelError(file_name, _too_large(path.stat().st_size))
            content = path.read_bytes()
        except OSError as exc:
            raise ModelError(file_name, f"Datei nicht lesbar: {exc.strerror}") from None
    if len(content) > MAX_MODEL_BYTES:
        raise ModelError(file_name, _too_large(len(content)))
    if _DOCTYPE.search(content.replace(b"\x00", b"")):  # also in UTF-16, before any parsing
        raise ModelError(file_name, _NO_DOCTYPE)
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(
            resolve_entities=False, load_dtd=False, no_network=True, dtd_validation=False))
    except etree.XMLSyntaxError as exc:
        raise ModelError(file_name, f"kein gültiges XML: {exc.msg}", line=exc.lineno) from None
    if root.getroottree().docinfo.doctype:
        raise ModelError(file_name, _NO_DOCTYPE)
    if root.tag != f"{{{model_checks.BPMN}}}definitions":
        local = etree.QName(root.tag).localname if isinstance(root.tag, str) else "?"
        raise ModelError(file_name, f"keine BPMN-Datei: das äußerste Element ist {local}, erwartet "
                         "wird definitions im BPMN-Namensraum", line=root.sourceline)
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(file_name, "die Datei ist nicht in UTF-8 gespeichert; "
                         "bitte als UTF-8 speichern") from None
    return content, root


def parse_model(path: Path | str, content: bytes | None = None,
                forms_dirs: list[Path] | None = None,
                declarable: dict[str, set[str]] | None = None,
                requires: Requirements | None = None,
                together: Sequence[Path] | None = None,
                process: str | None = None) -> ParsedModel:
    """Parse and check one BPMN file; raise :class:`ModelError` on anything wrong.

    ``declarable`` maps a task property to the names a model may give it (the engine's
    registry of rules); any other name is refused. ``requires`` adds what Python relies on
    (:class:`Requirements`; its ``declarable`` is merged in). ``together``: the other files
    deployed with it, where its call activities may find the processes they call (a
    Vorlage's lifecycle calling the Beratungsfolge; an upload is written to a folder of its
    own first, ``procedures.deploy_uploaded``).
    ``process``: which executable process to deploy when the file has several (a
    collaboration of pools).
    """
    requires = requires or Requirements()
    declarable = {**requires.declarable, **(declarable or {})}
    path = Path(path)
    file_name = path.name
    content, root = _read_xml(path, content)

    for node in root.iter():
        node_id = node.get("id") if isinstance(node.tag, str) else None
        if node_id in RESERVED_IDS:
            raise ModelError(file_name, f"die id {node_id!r} kollidiert mit SpiffWorkflow-internen "
                             "Elementen; bitte umbenennen", element=node_id, line=node.sourceline)

    executable = [p for p in root.iter(f"{{{model_checks.BPMN}}}process")
                  if p.get("isExecutable", "false").lower() == "true"]
    try:  # the BPMN schema first: what follows reads the tree as BPMN
        VALIDATOR.validate(root, file_name)
    except ValidationException as exc:
        raise ModelError(file_name, model_checks.engine_message(str(exc).split("\n")[0]),
                         line=getattr(exc, "line_number", None) or None) from None
    if process is not None:
        chosen = [p for p in executable if p.get("id") == process]
        if not chosen:
            raise ModelError(file_name, f"keinen ausführbaren Prozess „{process}“ gefunden (ausführbar: "
                             f"{', '.join(str(p.get('id')) for p in executable) or 'keiner'})")
        executable = chosen
    if len(executable) > 1:
        raise ModelError(file_name, f"mehrere ausführbare Prozesse "
                         f"({', '.join(str(p.get('id')) for p in executable)}): bitte einen wählen "
                         "(ratsflow deploy --process ID)")
    if not executable:
        raise ModelError(file_name, "kein ausführbarer Prozess (isExecutable=\"true\"): im Modeler beim "
                         "Prozess „Executable“ ankreuzen")
    findings = [*camunda.translate(root, FORM_PROPERTY), *model_checks.diagram_problems(root, executable[0]),
                *model_checks.foreign_constructs(root), *model_checks.flow_problems(executable[0]),
                *model_checks.user_task_problems(executable[0], CANDIDATE_ORGANIZATION_PROPERTY,
                                                 camunda.CANDIDATE_GROUP_PROPERTY)]
    if findings:
        raise ModelFindings([ModelError(file_name, f.reason, element=f.element, line=f.line)
                             for f in findings])
    process_id = executable[0].get("id")

    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(root, filename=file_name)
        known = {p.get("id") for p in root.iter(f"{{{model_checks.BPMN}}}process")}
        for other in together or []:
            if other.resolve() == path.resolve():
                continue
            try:  # a file that cannot be read says so in its own deploy
                other_root = _read_xml(other, None)[1]
            except ModelError:
                continue
            ids = {p.get("id") for p in other_root.iter(f"{{{model_checks.BPMN}}}process")}
            if not ids & known:  # another version of the same process is not what is called
                parser.add_bpmn_xml(other_root, filename=other.name)
                known |= ids
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        element = getattr(exc, "id", None) or None
        name = getattr(exc, "name", None)
        if element and name:
            element = f"{element} ({name})"
        message = model_checks.engine_message(str(exc).split("\n")[0])
        raise ModelError(file_name, message, element=element,
                         line=getattr(exc, "line_number", None) or None) from None
    except WorkflowException as exc:
        raise ModelError(file_name, model_checks.engine_message(str(exc))) from None

    forms: dict[str, Any] = {}
    declared: dict[str, list[Any]] = {}  # role → the task specs declaring it
    search = list(forms_dirs or []) + [path.parent / "forms", path.parent] + [
        o.parent / "forms" for o in together or [] if o.parent != path.parent]
    for one_spec in [spec, *subprocess_specs.values()]:
        for task_spec in one_spec.task_specs.values():
            _timer_literal(file_name, task_spec)
            for what, source, mode in _code_in(task_spec):
                problems = check_source(source, mode)
                if problems:
                    raise ModelError(file_name, f"{what} abgelehnt: {'; '.join(problems)}",
                                     element=_element(task_spec))
            props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
            for prop, known in declarable.items():
                if prop in props and props[prop] not in known and not (
                        prop == camunda.DUE_PROPERTY and camunda.is_duration(props[prop])):
                    raise ModelError(file_name, f"{prop}={props[prop]!r} ist unbekannt "
                                     f"(bekannt: {', '.join(sorted(known))})",
                                     element=_element(task_spec))
            for prop, kind in requires.property_kinds.items():
                if prop in props and not _is_kind(task_spec, kind):
                    raise ModelError(file_name, f"{prop} gehört an {_KIND_NAMES[kind]}",
                                     element=_element(task_spec))
            follow_up = props.get(camunda.FOLLOW_UP_PROPERTY)
            if follow_up is not None and not camunda.is_duration(follow_up):
                raise ModelError(file_name, f"{camunda.FOLLOW_UP_PROPERTY}={follow_up!r}: bitte eine Dauer "
                                 "ab dem Tag der Aufgabe (P1D, P2W)", element=_element(task_spec))
            group = props.get(camunda.CANDIDATE_GROUP_PROPERTY)
            if group is not None and requires.groups is not None and group not in requires.groups:
                raise ModelError(file_name, f"das Gremium „{group}“ (camunda:candidateGroups) gibt es nicht "
                                 f"(Kurznamen: {', '.join(sorted(requires.groups)) or 'keine'})",
                                 element=_element(task_spec))
            role = props.get(ROLE_PROPERTY)
            if role:
                role_kind = requires.role_kinds.get(role)
                if role_kind is not None and not _is_kind(task_spec, role_kind):
                    raise ModelError(file_name, f"{ROLE_PROPERTY}={role!r} gehört an "
                                     f"{_KIND_NAMES[role_kind]}", element=_element(task_spec))
                declared.setdefault(role, []).append(task_spec)
            if isinstance(task_spec, UserTask):
                form_file = props.get(FORM_PROPERTY)
                if not form_file:
                    raise ModelError(file_name, f"Benutzeraufgabe ohne Formular ({FORM_PROPERTY})",
                                     element=_element(task_spec))
                definition, form = _load_form(file_name, task_spec, form_file, search)
                forms[_form_key(form_file)] = definition
                _check_choices(file_name, task_spec, form, props, requires)
    roles = _check_roles(file_name, process_id, declared, requires)

    spec_json = SERIALIZER.spec_to_json(spec, subprocess_specs)
    return ParsedModel(
        process_id=process_id,
        name=getattr(spec, "description", None) or process_id,
        file_name=file_name,
        bpmn_xml=content.decode("utf-8"),
        spec_json=spec_json,
        spec_hash=hashlib.sha256(spec_json.encode()).hexdigest(),
        forms=forms,
        roles=roles,
    )


def _timer_literal(file_name: str, task_spec: Any) -> None:
    """A timer written as an ISO 8601 literal (``PT1H``), checked and given to the engine as
    a string; an expression stays one (:mod:`engine.workflow.iso_timers`)."""
    definition: Any = getattr(task_spec, "event_definition", None)
    kind = next((k for cls, k in _TIMER_KINDS if isinstance(definition, cls)), None)
    expression = getattr(definition, "expression", None)
    if kind is None or not isinstance(expression, str):
        return
    try:
        definition.expression = iso_timers.normalize(kind, expression)
    except iso_timers.TimerError as exc:
        raise ModelError(file_name, f"Zeitereignis ({kind}): {exc}", element=_element(task_spec)) from None


def _check_choices(file_name: str, task_spec: Any, form: Form, props: dict[str, str],
                   requires: Requirements) -> None:
    """A form's run-time choices come from known sources; a declared effect finds the choice it reads."""
    for f in form.fields:
        if f.options_source is not None and requires.choice_sources is not None \
                and f.options_source not in requires.choice_sources:
            raise ModelError(file_name, f"Formular {form.key}, Feld {f.name}: x-options="
                             f"{f.options_source!r} ist unbekannt (bekannt: "
                             f"{', '.join(sorted(requires.choice_sources))})", element=_element(task_spec))
    needed = requires.needs_choice.get(props.get("effect", ""))
    if needed is not None and not any(f.name == needed[0] and f.options_source == needed[1]
                                      for f in form.fields):
        raise ModelError(file_name, f"effect={props['effect']!r} braucht im Formular {form.key} das Feld "
                         f"{needed[0]} mit x-options={needed[1]!r}", element=_element(task_spec))


def _check_roles(file_name: str, process_id: str, declared: dict[str, list[Any]],
                 requires: Requirements) -> dict[str, str]:
    """Each role on at most one element; every role the model's kind needs declared."""
    for role, specs in declared.items():
        if len(specs) > 1:
            raise ModelError(file_name, f"{ROLE_PROPERTY}={role!r} ist mehrfach erklärt "
                             f"({', '.join(_element(s) for s in specs)}); genau ein Element darf sie tragen")
    for role, kind in requires.required_roles.get(process_id, {}).items():
        if role not in declared:
            raise ModelError(file_name, f"kein Element erklärt {ROLE_PROPERTY}={role!r} "
                             f"({_KIND_NAMES[kind]}); ein Modell des Prozesses {process_id!r} braucht es")
    return {role: specs[0].bpmn_id for role, specs in declared.items()}


def _form_key(form_file: str) -> str:
    return form_file.removesuffix(".json").removesuffix(".schema")


#: A form is named by its bare file name (never a path: an uploaded model must not read
#: any JSON file of the server, nor show parts of one in its refusal).
FORM_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.json")


def _load_form(file_name: str, task_spec: Any, form_file: str, search: list[Path]) -> tuple[Any, Form]:
    if not FORM_FILE_NAME.fullmatch(form_file) or ".." in form_file:
        raise ModelError(file_name, f"Formular „{form_file}“: bitte nur den Dateinamen (NAME.schema.json) "
                         "angeben, ohne Pfad", element=_element(task_spec))
    for folder in search:
        candidate = folder / form_file
        if candidate.is_file():
            try:
                definition = json.loads(candidate.read_text(encoding="utf-8"))
                form = parse_form(_form_key(form_file), definition)
            except json.JSONDecodeError as exc:
                raise ModelError(file_name, f"Formular {form_file}: kein gültiges JSON "
                                 f"(Zeile {exc.lineno}: {exc.msg})", element=_element(task_spec)) from None
            except FormDefinitionError as exc:
                raise ModelError(file_name, str(exc), element=_element(task_spec)) from None
            return definition, form
    raise ModelError(file_name, f"Formular {form_file} nicht gefunden", element=_element(task_spec))


# ----------------------------------------------------------------------------- running

def new_workflow(spec_json: str, spec_hash: str | None = None) -> BpmnWorkflow:
    spec, subprocess_specs = _specs(spec_hash or hashlib.sha256(spec_json.encode()).hexdigest(),
                                    spec_json)
    return BpmnWorkflow(spec, subprocess_specs, script_engine=restricted_script_engine())


def restore(state: str, spec_json: str, spec_hash: str | None = None) -> BpmnWorkflow:
    workflow = SERIALIZER.state_from_json(state, spec_json, spec_hash)
    workflow.script_engine = restricted_script_engine()
    return workflow


def save(workflow: BpmnWorkflow) -> str:
    return SERIALIZER.state_to_json(workflow)


def run_engine(workflow: BpmnWorkflow, now: datetime | None = None) -> None:
    """Advance everything that needs no person, at ``now`` (the engine's clock: timers whose
    moment has come fire); report a failing element clearly."""
    try:
        with clock.at(now):
            for _ in range(_MAX_ROUNDS):
                workflow.refresh_timers()
                workflow.do_engine_steps()
                passing = [t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                           if isinstance(t.task_spec, _PASS_THROUGH)]
                for task in passing:
                    task.run()
                if not passing and not workflow.get_tasks(state=TaskState.READY, manual=False):
                    break
    except WorkflowException as exc:
        raise _task_failed(exc) from None


#: A task without a type (bpmn:task) and a manual task pass through, as in Camunda: nobody
#: here could complete them (no form, no Gremium); SpiffWorkflow would wait for a person.
_PASS_THROUGH = (NoneTaskMixin, ManualTaskMixin)

#: Rounds of timers-then-steps per run: a timer that fires makes its follow-up ready, which
#: SpiffWorkflow's own do_engine_steps leaves for the next call.
_MAX_ROUNDS = 50


def _task_failed(exc: WorkflowException) -> TaskFailed:
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
    element = _element(spec) if spec is not None else "?"
    cause = exc.__cause__ or exc.__context__  # SpiffWorkflow raises its own inside "except"
    if isinstance(cause, ScriptLimit):  # what the limit says is the whole story
        return TaskFailed(element, str(cause))
    reason = getattr(exc, "error_msg", None) or str(exc)
    reason = str(reason).split(". ")[0] if reason else "Fehler"
    if cause is not None and str(cause) and str(cause) not in reason:
        reason = f"{reason}: {cause}"
    return TaskFailed(element, reason)


def ready_user_tasks(workflow: BpmnWorkflow) -> list[Any]:
    return list(workflow.get_tasks(state=TaskState.READY, manual=True))


def complete_user_task(workflow: BpmnWorkflow, task_id: str, data: dict[str, Any],
                       now: datetime | None = None) -> None:
    task = workflow.get_task_from_id(UUID(task_id))
    task.data.update(data)
    try:
        with clock.at(now):
            task.run()
    except WorkflowException as exc:
        raise _task_failed(exc) from None
    run_engine(workflow, now)


def evaluate(workflow: BpmnWorkflow, task: Any, expression: str) -> Any:
    """Evaluate a model expression (e.g. candidateOrganization) in the task's data."""
    try:
        return workflow.script_engine.evaluate(task, expression)
    except WorkflowException as exc:
        raise _task_failed(exc) from None


def task_properties(task: Any) -> dict[str, str]:
    return dict((getattr(task.task_spec, "extensions", None) or {}).get("properties", {}))


def form_key_of(task: Any) -> str | None:
    form_file = task_properties(task).get(FORM_PROPERTY)
    return _form_key(form_file) if form_file else None


# ----------------------------------------------------------------------------- timers

TIMER_DATE, TIMER_DURATION, TIMER_CYCLE = "timeDate", "timeDuration", "timeCycle"
_TIMER_KINDS = ((CycleTimerEventDefinition, TIMER_CYCLE), (DurationTimerEventDefinition, TIMER_DURATION),
                (TimeDateEventDefinition, TIMER_DATE))


@dataclass(frozen=True)
class PendingTimer:
    """A timer event the workflow waits for, and when it comes due."""

    spiff_task_id: str
    bpmn_id: str
    name: str
    kind: str  # timeDate, timeDuration, timeCycle
    due_at: datetime


def pending_timers(workflow: BpmnWorkflow) -> list[PendingTimer]:
    """Every waiting timer (intermediate and boundary, in subprocesses too) with its moment."""
    found = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        kind = next((k for cls, k in _TIMER_KINDS if isinstance(definition, cls)), None)
        if kind is None:
            continue
        value = task.internal_data.get("event_value")
        if value is None:
            continue
        if kind == TIMER_CYCLE:
            if value.get("cycles", 0) == 0:
                continue
            due = datetime.fromisoformat(value["next"])
        else:
            due = TimerEventDefinition.get_datetime(str(value))
        found.append(PendingTimer(str(task.id), task.task_spec.bpmn_id or task.task_spec.name,
                                  task.task_spec.bpmn_name or task.task_spec.bpmn_id or "",
                                  kind, datetime.fromtimestamp(due.timestamp(), UTC)))
    return found


def element_with_role(spec_json: str, spec_hash: str, role: str, effect: str | None = None) -> str | None:
    """The id of the element of a model version that declares ``role``; for a version
    deployed before roles were declared, the one that declares ``effect`` instead."""
    spec, subprocess_specs = _specs(spec_hash, spec_json)
    task_specs = [t for one in [spec, *subprocess_specs.values()] for t in one.task_specs.values()]
    for wanted, value in ((ROLE_PROPERTY, role), ("effect", effect)):
        found = [t.bpmn_id for t in task_specs if value is not None and t.bpmn_id
                 and (getattr(t, "extensions", None) or {}).get("properties", {}).get(wanted) == value]
        if found:
            return str(found[0])
    return None


def declared_at_end(workflow: BpmnWorkflow, prop: str) -> set[str]:
    """What the end events the workflow reached declare as ``prop``."""
    reached = [task.task_spec for task in workflow.get_tasks() if task.state == TaskState.COMPLETED]
    reached += [workflow.spec.task_specs[name] for name in workflow.data.get(PRUNED, [])
                if name in workflow.spec.task_specs]
    return {value for spec in reached if isinstance(spec, EndEvent)
            and (value := (getattr(spec, "extensions", None) or {}).get("properties", {}).get(prop))}


def model_has_timers(spec_json: str, spec_hash: str) -> bool:
    """Whether any element of a model version waits for a timer."""
    spec, subprocess_specs = _specs(spec_hash, spec_json)
    return any(isinstance(getattr(task_spec, "event_definition", None), TimerEventDefinition)
               for one in [spec, *subprocess_specs.values()] for task_spec in one.task_specs.values())


def finished_task_ids(workflow: BpmnWorkflow) -> set[UUID]:
    # Unfiltered: filtering by state does not descend below a waiting task (a cycle timer's
    # rounds hang below it).
    return {t.id for t in workflow.get_tasks() if t.state == TaskState.COMPLETED}


def newly_finished(workflow: BpmnWorkflow, before: set[UUID]) -> list[Any]:
    """What happened since ``before`` (:func:`finished_task_ids`), in the order it ran: the
    tasks completed, and a cycle timer once per round it fired (it keeps waiting for the next
    round; each round starts a path of its own below it)."""
    done = sorted((t for t in workflow.get_tasks() if t.state == TaskState.COMPLETED and t.id not in before),
                  key=lambda t: t.last_state_change)
    found = []
    for task in done:
        parent = task.parent
        if parent is not None and parent.state == TaskState.WAITING and isinstance(
                getattr(parent.task_spec, "event_definition", None), CycleTimerEventDefinition):
            found.append(parent)
        found.append(task)
    return found


def set_data_everywhere(workflow: BpmnWorkflow, name: str, value: Any, now: datetime | None = None) -> int:
    """Set a start-data variable in every unfinished task, and move the waiting date timers
    that read it (a moved session's timers move). Returns how many timers were moved.

    A waiting task takes its data from its (finished) parent again at every update, so the
    parent gets the new value too, and the timer's moment is evaluated here at once.
    """
    moved = 0
    for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
        if name in task.data:
            task.data[name] = value
        if task.state != TaskState.WAITING:
            continue
        if task.parent is not None and name in task.parent.data:
            task.parent.data[name] = value
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, TimeDateEventDefinition) and name in definition.expression:
            try:
                with clock.at(now):
                    task.internal_data["event_value"] = workflow.script_engine.evaluate(
                        task, definition.expression)
            except WorkflowException as exc:
                raise _task_failed(exc) from None
            task.internal_data.pop("event_fired", None)
            moved += 1
    return moved


def fire_timer_now(workflow: BpmnWorkflow, bpmn_id: str) -> bool:
    """Let a waiting timer event (by its element id) count as fired now."""
    for task in workflow.get_tasks(state=TaskState.WAITING):
        if task.task_spec.bpmn_id == bpmn_id and isinstance(
                getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            task.internal_data["event_fired"] = True
            return True
    return False


# ----------------------------------------------------------------------------- the path taken

_BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def elements_by_state(workflow: BpmnWorkflow) -> tuple[set[str], set[str]]:
    """The BPMN element ids completed, and those ready or waiting now (in the called
    processes too)."""
    completed, current = set(), set()
    for name in workflow.data.get(PRUNED, []):
        spec = workflow.spec
        if _CALLED in name:  # a step of a called process, pruned with its call activity
            process, name = name.split(_CALLED, 1)
            spec = workflow.subprocess_specs.get(process)
            if spec is None:
                continue
        bpmn_id = getattr(spec.task_specs.get(name), "bpmn_id", None)
        if bpmn_id:
            completed.add(bpmn_id)
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.state == TaskState.COMPLETED:
            completed.add(bpmn_id)
        elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            current.add(bpmn_id)
    return completed, current


def element_labels(workflow: BpmnWorkflow) -> dict[str, tuple[str | None, str]]:
    """BPMN element id → its name in the model (None: it has none) and its kind as BPMN
    names it ("userTask", "exclusiveGateway"): what a page shows instead of the id."""
    labels: dict[str, tuple[str | None, str]] = {}
    for one in [workflow.spec, *workflow.subprocess_specs.values()]:
        for task_spec in one.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id and bpmn_id not in labels:
                kind = type(task_spec).__name__
                labels[bpmn_id] = (getattr(task_spec, "bpmn_name", None) or None, kind[:1].lower() + kind[1:])
    return labels


def flows_taken(bpmn_xml: str, completed: set[str], current: set[str]) -> list[str]:
    """Sequence flows from a completed element to a completed or current one."""
    root = etree.fromstring(bpmn_xml.encode(), parser=etree.XMLParser(resolve_entities=False))
    return sorted(flow.get("id") for flow in root.iter(f"{_BPMN_NS}sequenceFlow")
                  if flow.get("sourceRef") in completed and flow.get("targetRef") in completed | current)


# ----------------------------------------------------------------------------- migration

@dataclass(frozen=True)
class MigrationPlan:
    """What moving a running case to another version of its model does to its open steps
    (ready user tasks, waiting timers and events), by their names; and why it cannot be
    moved (empty: it can)."""

    keeps: list[str]
    changed: list[str]
    removed: list[str]
    problems: list[str]

    @property
    def safe(self) -> bool:
        return not self.problems


def _open(workflow: BpmnWorkflow) -> list[Any]:
    return [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True)
            if getattr(t.task_spec, "bpmn_id", None)]


def _step_name(task: Any) -> str:
    return str(task.task_spec.bpmn_name or task.task_spec.bpmn_id)


def plan_migration(workflow: BpmnWorkflow, spec_json: str, spec_hash: str) -> tuple[MigrationPlan, Any]:
    """Compare the case with the other version (SpiffWorkflow's ``diff_workflow``)."""
    new_spec, new_dependencies = _specs(spec_hash, spec_json)
    problems: list[str] = []
    if new_spec.name != workflow.spec.name:
        problems.append(f"die andere Version gehört zum Prozess „{new_spec.name}“, der Vorgang zu "
                        f"„{workflow.spec.name}“")
        return MigrationPlan([], [], [], problems), None
    top, subprocesses = diff_workflow(SERIALIZER.registry, workflow, new_spec, new_dependencies)
    removed_tasks = set(top.removed)
    changed_tasks = set(top.changed)
    keeps, changed, removed = [], [], []
    for task in _open(workflow):
        name = _step_name(task)
        if task in removed_tasks:
            removed.append(name)
            problems.append(f"den offenen Schritt „{name}“ ({task.task_spec.bpmn_id}) gibt es in der anderen "
                            "Version nicht")
        elif task in changed_tasks:
            changed.append(name)
        else:
            keeps.append(name)
    for sp_id, sp_diff in subprocesses.items():
        if sp_diff is None:
            name = workflow.subprocesses[sp_id].spec.name
            problems.append(f"der laufende Unterprozess „{name}“ fehlt in der anderen Version")
    return MigrationPlan(keeps, changed, removed, problems), (new_spec, new_dependencies, top, subprocesses)


def migrate(workflow: BpmnWorkflow, prepared: Any, now: datetime | None = None) -> None:
    """Move the case onto the other version (after a safe :func:`plan_migration`): open steps
    are reset and predicted anew on the new spec, then the engine runs."""
    new_spec, new_dependencies, top, subprocesses = prepared
    migrate_workflow(top, workflow, new_spec)
    for sp_id, sp_diff in subprocesses.items():
        sub = workflow.subprocesses[sp_id]
        migrate_workflow(sp_diff, sub, new_dependencies[sub.spec.name])
    workflow.subprocess_specs = new_dependencies
    run_engine(workflow, now)
