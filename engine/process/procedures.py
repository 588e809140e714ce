"""The verbs the outside world calls. Each runs inside the caller's unit of work.

The web layer, the CLI and the scheduler open a unit of work (``Database.unit_of_work``)
and call one verb; verbs only flush. Completing a task writes the workflow state, the
human-task rows, the domain rows and the audit event together or not at all.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy import join as sa_join
from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from engine import audit, search, standins, visibility
from engine.accounts import ACTOR_COLUMNS, Actor
from engine.calendar import deadlines
from engine.calendar.meetings import meeting_label, top_number
from engine.council import (
    PAPER_DRAFT,
    PAPER_IN_CONSULTATION,
    RESULTS,
    ROLE_ADMIN,
    ROLE_SECRETARIAT,
    Account,
    AgendaItem,
    Body,
    Consultation,
    DeadlineRule,
    File,
    Grant,
    Meeting,
    Organization,
    Paper,
    Person,
)
from engine.db import hold, memo, remembered
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.files import BadUpload, FileStore, Upload, check_upload
from engine.identity import logins, tokens
from engine.identity.logins import LoginSession
from engine.identity.tokens import ApiToken
from engine.process import effects, rules
from engine.schemas import PaperIn, load
from engine.settings import TIMEZONE
from engine.tasks import (
    DELEGATION_PENDING,
    TASK_CANCELLED,
    TASK_DONE,
    TASK_READY,
    HumanTask,
    held_by_other,
    may_work_on_in,
    search_text,
)
from engine.types import table_of, utcnow
from engine.workflow import camunda, runtime, scenarios
from engine.workflow.forms import NOT_A_CHOICE, Choice, Form, FormError, parse_form
from engine.workflow.models import (
    INSTANCE_CANCELLED,
    INSTANCE_COMPLETED,
    INSTANCE_INCIDENT,
    INSTANCE_RUNNING,
    TIMER_DROPPED,
    TIMER_FIRED,
    TIMER_WAITING,
    ProcessInstance,
    ProcessModel,
    WorkflowTimer,
)
from engine.writes import Writes

BERATUNGSFOLGE = rules.BERATUNGSFOLGE
SITZUNG = rules.SITZUNG
#: The lifecycle of a Vorlage (bpmn/vorlage.bpmn): Entwurf, Mitzeichnung, Freigabe, the
#: Beratungsfolge as its call activity, Beschlussausfertigung, Beschlusskontrolle.
LIFECYCLE = rules.LIFECYCLE
#: The department that co-signs whatever has a financial impact (by name or short name).
FINANCE_DEPARTMENT = "Finanzen"
BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
#: What Python relies on in a model: deploy refuses a model that breaks it.
MODEL_REQUIREMENTS = runtime.Requirements(
    declarable=effects.DECLARABLE, role_kinds=rules.ROLE_KINDS, required_roles=rules.REQUIRED_ROLES,
    property_kinds=rules.PROPERTY_KINDS, choice_sources=set(rules.CHOICE_SOURCES),
    needs_choice=effects.NEEDS_CHOICE)


# ----------------------------------------------------------------------------- models

def deploy(session: Session, path: Path | str, deployed_by: str,
           content: bytes | None = None, together: Sequence[Path] | None = None,
           process: str | None = None, forms_dirs: list[Path] | None = None) -> tuple[ProcessModel, bool]:
    """Deploy a BPMN file; return the model version and whether it is new. ``together``:
    the files deployed with it (where its call activities find what they call);
    ``forms_dirs``: where its forms are looked for first.

    Deploying unchanged content again returns the existing version.
    """
    parsed = runtime.parse_model(path, content, requires=_requirements(session), together=together,
                                 process=process, forms_dirs=forms_dirs)
    _one_deploy_at_a_time(session)
    existing = session.exec(
        select(ProcessModel).where(ProcessModel.spec_hash == parsed.spec_hash)
    ).first()
    if existing is not None:
        return existing, False
    if content is None:  # a file on disk: its scenarios lie beside it (an upload brings none)
        check_scenarios(Path(path), parsed.spec_json)
    newest = session.exec(
        select(func.max(ProcessModel.version)).where(ProcessModel.process_id == parsed.process_id)
    ).one()
    model = ProcessModel(
        process_id=parsed.process_id, name=parsed.name, version=(newest or 0) + 1,
        spec_hash=parsed.spec_hash, spec_json=parsed.spec_json, bpmn_xml=parsed.bpmn_xml,
        file_name=parsed.file_name, forms=parsed.forms, deployed_at=utcnow(), deployed_by=deployed_by,
    )
    session.add(model)
    session.flush()
    audit.record(session, deployed_by, deployed_by, "model.deployed", details={
        "process_id": model.process_id, "version": model.version, "file": model.file_name,
        "spec_hash": model.spec_hash,
    })
    return model, True


#: The advisory lock key of deploys (any number no other part of ratsflow uses).
DEPLOY_LOCK = 0x7261_7473_6465_706C  # "ratsdepl"


def _one_deploy_at_a_time(session: Session) -> None:
    """Deploys queue from here to their commit: two at once would both take the next version
    number (or both store the same content), and the second would fail on the unique key. On
    PostgreSQL a transaction-scoped advisory lock; SQLite's writers queue already (a writing
    unit of work begins with the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa_select(func.pg_advisory_xact_lock(DEPLOY_LOCK)))


def check_scenarios(path: Path, spec_json: str) -> list[scenarios.Outcome]:
    """Run the model's scenarios (``<name>.szenarien.json`` beside it, if there is one);
    :class:`runtime.ModelError` with every scenario that went otherwise."""
    scenario_file = scenarios.file_for(path)
    if not scenario_file.is_file():
        return []
    try:
        outcomes = scenarios.run_file(spec_json, scenario_file)
    except scenarios.ScenarioError as exc:
        raise runtime.ModelError(path.name, str(exc)) from None
    failed = [runtime.ModelError(path.name, f"Szenario „{o.name}“ ({scenario_file.name}): {o.problem}")
              for o in outcomes if not o.ok]
    if failed:
        raise runtime.ModelFindings(failed)
    return outcomes


@dataclass(frozen=True)
class UploadedModel:
    """The outcome for one uploaded BPMN file: deployed (or checked) or refused."""

    name: str
    process_id: str | None = None
    version: int | None = None
    new: bool = False
    findings: tuple[runtime.ModelError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings


#: Names an upload may give its files: BPMN models, their JSON Schema forms, their scenarios
#: (a name only: no folders, no "..").
UPLOAD_NAME = re.compile(r"^\w[\w .()-]{0,150}\.(bpmn|schema\.json|szenarien\.json)$")


def deploy_uploaded(session: Session, files: dict[str, bytes], deployed_by: str, *,
                    check_only: bool = False, process: str | None = None) -> list[UploadedModel]:
    """Deploy (or only check) files uploaded together – models, the forms they name (else the
    bundled ones), their scenarios – exactly as ``ratsflow deploy`` does with files on disk:
    they are written to a directory of their own for the moment (forms into ``forms/``), so
    call activities resolve among them and scenarios run. The caller keeps all or nothing:
    where any outcome is not ``ok``, it rolls its unit of work back (the web page and the API
    do)."""
    import tempfile

    bad = [name for name in files if not UPLOAD_NAME.match(name) or ".." in name]
    if bad:
        raise Invalid("Dateien bitte prüfen.", {"files": [
            f"„{name}“: erwartet NAME.bpmn, NAME.schema.json oder NAME.szenarien.json" for name in bad]})
    with tempfile.TemporaryDirectory(prefix="ratsflow-upload-") as folder:
        root = Path(folder)
        (root / "forms").mkdir()
        (root / "deployed").mkdir()
        for name, content in files.items():
            (root / ("forms" if name.endswith(".schema.json") else ".") / name).write_bytes(content)
        for name, definition in deployed_forms(session).items():
            (root / "deployed" / name).write_text(json.dumps(definition), encoding="utf-8")
        # Where a model's forms are found: uploaded with it, bundled, deployed with a model before
        # (so a model changed in the modeler keeps the form it was uploaded with).
        forms_dirs = [root / "forms", BPMN_DIR / "forms", root / "deployed"]
        models = sorted(root.glob("*.bpmn"))
        if not models:
            raise Invalid("Dateien bitte prüfen.", {"files": ["Keine BPMN-Datei (NAME.bpmn) dabei."]})
        outcomes = []
        for path in models:
            try:
                if check_only:
                    parsed = runtime.parse_model(path, requires=_requirements(session), together=models,
                                                 process=process, forms_dirs=forms_dirs)
                    check_scenarios(path, parsed.spec_json)
                    outcomes.append(UploadedModel(path.name, parsed.process_id))
                    continue
                model, new = deploy(session, path, deployed_by, together=models, process=process,
                                    forms_dirs=forms_dirs)
                outcomes.append(UploadedModel(path.name, model.process_id, model.version, new))
            except runtime.ModelError as exc:
                errors = exc.errors if isinstance(exc, runtime.ModelFindings) else [exc]
                outcomes.append(UploadedModel(path.name, findings=tuple(errors)))
        return outcomes


def deployed_forms(session: Session) -> dict[str, Any]:
    """The forms deployed with the newest version of each process, by file name
    (``NAME.schema.json``); where two processes have a form of one name, the first process's
    (by id)."""
    rows = session.exec(select(ProcessModel.process_id, ProcessModel.forms)
                        .order_by(col(ProcessModel.process_id), col(ProcessModel.version).desc())).all()
    newest: dict[str, Any] = {}
    for process_id, forms in rows:
        newest.setdefault(process_id, forms or {})
    found: dict[str, Any] = {}
    for forms in newest.values():
        for key, definition in forms.items():
            name = f"{key}.schema.json"
            if runtime.FORM_FILE_NAME.fullmatch(name) and ".." not in name:
                found.setdefault(name, definition)
    return found


def known_forms(session: Session) -> dict[str, str]:
    """Every form a model may name, file name → its title: the bundled ones (``bpmn/forms``),
    then those deployed with a model."""
    known: dict[str, str] = {}
    for path in sorted((BPMN_DIR / "forms").glob("*.json")):
        try:
            known[path.name] = str(json.loads(path.read_text(encoding="utf-8")).get("title") or path.name)
        except (ValueError, AttributeError):
            continue
    for name, definition in deployed_forms(session).items():
        title = definition.get("title") if isinstance(definition, dict) else None
        known.setdefault(name, str(title or name))
    return known


def _requirements(session: Session) -> runtime.Requirements:
    """What Python relies on, with the Gremien a model may name (from the database)."""
    groups = {name for row in session.exec(select(Organization.short_name, Organization.name))
              for name in row if name}
    return replace(MODEL_REQUIREMENTS, groups=groups)


def deploy_bundled(session: Session, deployed_by: str = "system") -> list[ProcessModel]:
    """Deploy every model shipped in ``bpmn/`` (unchanged ones are left as they are)."""
    bundled = sorted(BPMN_DIR.glob("*.bpmn"))  # together: the lifecycle calls the Beratungsfolge
    return [deploy(session, path, deployed_by, together=bundled)[0] for path in bundled]


def current_model(session: Session, process_id: str) -> ProcessModel:
    model = session.exec(
        select(ProcessModel).where(ProcessModel.process_id == process_id)
        .order_by(col(ProcessModel.version).desc())
    ).first()
    if model is None:
        raise NotFound(f"Prozessmodell {process_id!r} ist nicht bereitgestellt "
                       f"(ratsflow deploy bpmn/{process_id}.bpmn)")
    return model


def element_of(session: Session, instance: ProcessInstance, role: str) -> str | None:
    """The id of the element that plays ``role`` in the instance's model version."""
    model = session.get(ProcessModel, instance.model_id)
    assert model is not None
    spec = _model_spec(session, instance.model_id, model.spec_hash)
    return runtime.element_with_role(spec.spec_json, model.spec_hash, role, rules.ROLE_BY_EFFECT.get(role))


def _end_state(workflow: Any) -> str:
    """The Vorlage's status once its Beratungsfolge has ended: what the end event reached
    declares (``endState``), else abgeschlossen."""
    declared = runtime.declared_at_end(workflow, rules.END_STATE_PROPERTY)
    return rules.END_STATES[rules.END_WITHDRAWN if rules.END_WITHDRAWN in declared else rules.END_DONE]


@dataclass(frozen=True)
class _ModelSpec:
    spec_json: str
    forms: dict[str, Form]  # parsed once per model version
    has_timers: bool  # whether any element waits for a timer (else no timer rows to keep)


_SPEC_CACHE: dict[str, _ModelSpec] = {}


def _model_spec(session: Session, model_id: int, spec_hash: str) -> _ModelSpec:
    """A model version's spec and parsed forms; immutable once deployed, so cached by hash."""
    cached = _SPEC_CACHE.get(spec_hash)
    if cached is None:
        model = session.get(ProcessModel, model_id)
        assert model is not None
        forms = {key: parse_form(key, definition) for key, definition in model.forms.items()}
        cached = _SPEC_CACHE[spec_hash] = _ModelSpec(model.spec_json, forms,
                                                     runtime.model_has_timers(model.spec_json, spec_hash))
    return cached


# ----------------------------------------------------------------------------- papers

def create_paper(session: Session, actor: Actor, data: dict[str, Any],
                 attachments: Sequence[tuple[str, bytes, str | None]] = (),
                 files: FileStore | None = None, now: datetime | None = None) -> Paper:
    """A clerk creates a Vorlage with its Beratungsfolge and Anlagen (as Entwurf).

    ``attachments`` are (file name, bytes, the client's content type); the content type is
    not trusted: each Anlage's type is told from its bytes (:mod:`engine.doctypes`), its
    name normalised, and an Anlage of a type not on the list refuses the whole Vorlage."""
    if not visibility.is_clerk(actor):
        raise Forbidden("Nur die Sachbearbeitung kann Vorlagen anlegen.")
    values = load(PaperIn(), data)
    errors: dict[str, list[str]] = {}
    uploads: list[Upload] = []
    for file_name, content, _client_type in attachments:
        try:
            uploads.append(check_upload(file_name, content))
        except BadUpload as exc:
            errors.setdefault("anlagen", []).append(exc.message)
    if session.exec(select(Paper.id).where(Paper.reference == values["reference"])).first():
        errors["reference"] = [f"Die Vorlage {values['reference']} gibt es schon."]
    lead = session.get(Organization, values["under_direction_of_id"])
    if lead is None or lead.organization_type != "Verwaltungsbereich":
        errors["under_direction_of_id"] = ["Bitte den federführenden Bereich wählen."]
    elif not visibility.leads(actor, lead.id):
        errors["under_direction_of_id"] = ["Vorlagen legt die Sachbearbeitung des eigenen Bereichs an."]
    if values["clerk_id"] is not None and session.get(Person, values["clerk_id"]) is None:
        errors["clerk_id"] = ["Unbekannte Person."]
    previous_start: datetime | None = None
    for i, step in enumerate(values["consultations"]):
        org = session.get(Organization, step["organization_id"])
        if org is None or org.organization_type != "Gremium":
            errors[f"consultations.{i}.organization_id"] = ["Bitte ein Gremium wählen."]
            continue
        if step["meeting_id"] is not None:
            meeting = session.get(Meeting, step["meeting_id"])
            if meeting is None or meeting.organization_id != org.id or meeting.cancelled \
                    or meeting.start <= (now or utcnow()):
                # Only the Gremium's sessions ahead (what the form offers for it).
                what = ("Die gewählte Sitzung" if meeting is None
                        else meeting.reference or meeting_label(meeting))
                errors[f"consultations.{i}.meeting_id"] = [
                    f"{what} ist keine kommende Sitzung {org.genitive}."]
            elif previous_start is not None and meeting.start < previous_start:
                errors[f"consultations.{i}.meeting_id"] = [
                    "Die Sitzung liegt vor der Sitzung der vorigen Beratung."]
            else:
                previous_start = meeting.start
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    assert lead is not None
    paper = Paper(
        body_id=lead.body_id, reference=values["reference"], name=values["name"],
        paper_type=values["paper_type"], date=values["date"], public=values["public"],
        under_direction_of_id=lead.id, clerk_id=values["clerk_id"], facts=values["facts"],
        proposal_heading=values["proposal_heading"], proposal=values["proposal"],
        financial_impact=values["financial_impact"], personnel_impact=values["personnel_impact"],
    )
    session.add(paper)
    session.flush()
    assert paper.id is not None
    for i, step in enumerate(values["consultations"], start=1):
        session.add(Consultation(paper_id=paper.id, position=i, organization_id=step["organization_id"],
                                 meeting_id=step["meeting_id"], role=step["role"],
                                 authoritative=step["authoritative"]))
    for i, upload in enumerate(uploads, start=1):
        if files is None:
            raise Invalid("Anlagen können hier nicht gespeichert werden.", {"anlagen": ["Kein Ablageort."]})
        digest = files.put(session, upload.content)  # in place once this unit of work commits
        session.add(File(paper_id=paper.id, position=i, name=upload.name, file_name=upload.file_name,
                         mime_type=upload.doc_type.mime_type, size=len(upload.content),
                         sha_512_checksum=digest))
        if len(upload.content) <= search.INLINE_BYTES:  # larger ones: the scheduler's search job
            search.store_text(session, digest, upload.content, upload.doc_type.mime_type)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "paper.created", paper_id=paper.id,
                 details={"reference": paper.reference, "name": paper.name,
                          "consultations": len(values["consultations"]), "files": len(attachments)})
    return paper


def consultations_of(session: Session, paper_id: int) -> list[Consultation]:
    return list(session.exec(
        select(Consultation).where(Consultation.paper_id == paper_id).order_by(col(Consultation.position))
    ))


def _draft_to_start(session: Session, actor: Actor, paper_id: int, now: datetime, what: str) -> Paper:
    """The Vorlage whose procedure ``actor`` starts (``what``: "Die Beratungsfolge", "Den
    Lebenslauf"): one they see, of their lead department, still an Entwurf, without a procedure."""
    paper = session.get(Paper, paper_id)
    if paper is None or not visibility.can_see_paper(session, actor, paper, now.astimezone(TIMEZONE).date()):
        raise NotFound("Vorlage nicht gefunden.")
    if not visibility.leads(actor, paper.under_direction_of_id):
        raise Forbidden(f"{what} startet die Sachbearbeitung des federführenden Bereichs.")
    if paper.status != PAPER_DRAFT:
        raise Conflict(f"Die Vorlage {paper.reference} ist nicht im Entwurf ({paper.status}).")
    _no_procedure_yet(session, paper)
    return paper


def start_beratungsfolge(session: Session, actor: Actor, paper_id: int,
                         now: datetime | None = None) -> ProcessInstance:
    """Start the Beratungsfolge of a Vorlage: the first Gremium's Sekretariat gets a task."""
    now = now or utcnow()
    paper = _draft_to_start(session, actor, paper_id, now, "Die Beratungsfolge")
    consultations = consultations_of(session, paper_id)
    if not consultations:
        raise Invalid("Die Vorlage hat keine Beratungsfolge.", {"consultations": ["Keine Beratung."]})
    model = current_model(session, BERATUNGSFOLGE)
    workflow = runtime.new_workflow(model.spec_json, model.spec_hash)
    start_data = _paper_start_data(session, paper, consultations)
    for task in workflow.get_tasks(state=runtime.TaskState.READY):
        task.data.update(start_data)
    runtime.run_engine(workflow, now)
    # Its start releases it (without Mitzeichnung and Freigabe); of two concurrent starts
    # exactly one moves it on.
    effects.release_paper(session, paper, now,
                          taken=f"Die Beratungsfolge der Vorlage {paper.reference} läuft bereits.")
    assert model.id is not None
    instance = ProcessInstance(
        model_id=model.id, paper_id=paper.id, state=runtime.save(workflow),
        serializer_version=runtime.SERIALIZER_VERSION, started=now, updated=now,
    )
    session.add(instance)
    session.flush()
    assert instance.id is not None
    _sync_human_tasks(session, instance, workflow, [], now,
                      known={c.id: c for c in consultations if c.id is not None})
    if _model_spec(session, model.id, model.spec_hash).has_timers:
        _sync_timers(session, instance.id, workflow, now)
    audit.record(session, actor.username, actor.display_name, "procedure.started", paper_id=paper.id,
                 process_instance_id=instance.id, at=now, details={
                     "model": model.process_id, "model_version": model.version,
                     "beratungsfolge": [f"{b['position']}. {b['organization_name']} ({b['role']})"
                                        for b in start_data["beratungen"]]})
    return instance


def _no_procedure_yet(session: Session, paper: Paper) -> None:
    """A Vorlage runs one procedure: its lifecycle or (as before issue 18) its Beratungsfolge."""
    if session.exec(select(ProcessInstance.id).where(ProcessInstance.paper_id == paper.id)).first():
        raise Conflict(f"Für die Vorlage {paper.reference} läuft bereits ein Verfahren.")


def _paper_start_data(session: Session, paper: Paper, consultations: list[Consultation]) -> dict[str, Any]:
    orgs = {o.id: o for o in session.exec(select(Organization).where(
        col(Organization.id).in_([c.organization_id for c in consultations])))}
    return {
        "vorlage": {"id": paper.id, "reference": paper.reference, "name": paper.name},
        "beratungen": [
            {"position": c.position, "consultation_id": c.id, "organization_id": c.organization_id,
             "organization_name": orgs[c.organization_id].name, "role": c.role,
             "meeting_id": c.meeting_id}
            for c in consultations
        ],
    }


def _department(org: Organization) -> dict[str, Any]:
    return {"organization_id": org.id, "organization_name": org.name}


def start_lifecycle(session: Session, actor: Actor, paper_id: int, involved: Sequence[Any] = (),
                    now: datetime | None = None) -> ProcessInstance:
    """Start the lifecycle of a Vorlage in its Entwurf (bpmn/vorlage.bpmn): the clerk of the
    lead department gets the Entwurf step; ``involved`` are the departments that co-sign
    (Beteiligt). The Vorlage stays an Entwurf, unseen by the public, until its Freigabe."""
    now = now or utcnow()
    paper = _draft_to_start(session, actor, paper_id, now, "Den Lebenslauf")
    consultations = consultations_of(session, paper_id)
    errors: dict[str, list[str]] = {}
    if not consultations:
        errors["consultations"] = ["Die Vorlage hat keine Beratungsfolge."]
    ids = [_as_int(i) for i in involved]
    departments = {o.id: o for o in session.exec(select(Organization).where(
        col(Organization.id).in_([i for i in ids if i is not None]),
        Organization.organization_type == "Verwaltungsbereich"))} if ids else {}
    if any(i is None or i not in departments for i in ids):
        errors.setdefault("beteiligt", []).append("Bitte nur Bereiche der Verwaltung wählen.")
    elif paper.under_direction_of_id in departments:
        errors.setdefault("beteiligt", []).append("Der federführende Bereich zeichnet nicht mit.")
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    lead = session.get(Organization, paper.under_direction_of_id)
    assert lead is not None
    finance = session.exec(select(Organization).where(
        Organization.organization_type == "Verwaltungsbereich", Organization.body_id == lead.body_id,
        or_(col(Organization.name) == FINANCE_DEPARTMENT, col(Organization.short_name) == FINANCE_DEPARTMENT))
        .order_by(col(Organization.id))).first()
    model = current_model(session, LIFECYCLE)
    workflow = runtime.new_workflow(model.spec_json, model.spec_hash)
    chosen = [departments[i] for i in dict.fromkeys(i for i in ids if i is not None)]
    start_data = {**_paper_start_data(session, paper, consultations), "federfuehrung": _department(lead),
                  "beteiligte": [_department(o) for o in chosen],
                  "finanzen": _department(finance) if finance is not None else None}
    for task in workflow.get_tasks(state=runtime.TaskState.READY):
        task.data.update(start_data)
    runtime.run_engine(workflow, now)
    assert model.id is not None and paper.id is not None
    instance = ProcessInstance(
        model_id=model.id, paper_id=paper.id, state=runtime.save(workflow),
        serializer_version=runtime.SERIALIZER_VERSION, started=now, updated=now,
    )
    session.add(instance)
    session.flush()
    assert instance.id is not None
    _sync_human_tasks(session, instance, workflow, [], now)
    if _model_spec(session, model.id, model.spec_hash).has_timers:
        _sync_timers(session, instance.id, workflow, now)
    audit.record(session, actor.username, actor.display_name, "procedure.started", paper_id=paper.id,
                 process_instance_id=instance.id, at=now, details={
                     "model": model.process_id, "model_version": model.version,
                     "beteiligt": [o.name for o in chosen],
                     "beratungsfolge": [f"{b['position']}. {b['organization_name']} ({b['role']})"
                                        for b in start_data["beratungen"]]})
    return instance


# ----------------------------------------------------------------------------- tasks

def _sync_human_tasks(session: Session, instance: ProcessInstance, workflow: Any,
                      open_rows: list[HumanTask], now: datetime,
                      known: dict[int, Consultation] | None = None,
                      writes: Writes | None = None) -> list[HumanTask]:
    """Make the human-task rows mirror the workflow's ready user tasks.

    ``open_rows`` are the rows still ready before this step (except one just completed);
    ``known`` are consultations already loaded in this unit of work. With ``writes`` the
    rows are queued there (the new ones get their ids from :func:`_attach_tasks` once
    sent), else added to the session.
    """
    assert instance.id is not None
    instance_id, paper_id = instance.id, instance.paper_id
    own_meeting = session.get(Meeting, instance.meeting_id) if instance.meeting_id else None
    ready = {str(t.id): t for t in runtime.ready_user_tasks(workflow)}
    tasks = table_of(HumanTask)
    for row in open_rows:
        if row.spiff_task_id not in ready:
            if writes is None:
                row.status = TASK_CANCELLED
                session.add(row)
            else:
                writes.update(tasks, {"id": row.id}, {"status": TASK_CANCELLED})
                set_committed_value(row, "status", TASK_CANCELLED)
    known_ids = {row.spiff_task_id for row in open_rows}
    created = []
    for spiff_id, task in ready.items():
        if spiff_id in known_ids:
            continue
        props = runtime.task_properties(task)
        org_expr = props.get(runtime.CANDIDATE_ORGANIZATION_PROPERTY)
        organization_id = runtime.evaluate(workflow, task, org_expr) if org_expr else \
            _gremium_named(session, props.get(camunda.CANDIDATE_GROUP_PROPERTY))
        beratung = task.data.get("beratung") or {}
        vorlage = task.data.get("vorlage") or {}
        sitzung = task.data.get("sitzung") or {}
        consultation_id = beratung.get("consultation_id")
        consultation = (known or {}).get(consultation_id) if consultation_id else None
        if consultation is None and consultation_id is not None:
            consultation = rules.consultation_in_context(session, consultation_id, now)
        context: dict[str, Any] = {"beratung": beratung, "vorlage": vorlage}
        if sitzung:
            context["sitzung"] = sitzung
        if props.get("titleEn"):
            context["title_en"] = props["titleEn"]
        if props.get(rules.GUARD_PROPERTY):
            context["completable_from"] = props[rules.GUARD_PROPERTY]
        if props.get(rules.DUE_PROPERTY):
            context["due_rule"] = props[rules.DUE_PROPERTY]  # due again when its session moves
        if props.get(rules.DOCUMENT_PROPERTY):
            context["document"] = props[rules.DOCUMENT_PROPERTY]
        context.update(_consultation_notes(session, consultation, now))
        chosen = task.data.get("faellig_am")
        subject = rules.Subject(organization_id, consultation, own_meeting,
                                date.fromisoformat(chosen) if isinstance(chosen, str) else None)
        due = rules.due_of(props[rules.DUE_PROPERTY], session, subject, now) \
            if props.get(rules.DUE_PROPERTY) else rules.Due(None, None)
        due_day, at_once = rules.due_at_the_earliest(props.get(rules.DUE_PROPERTY, ""), due.due, now)
        if at_once:
            context["sofort"] = at_once
        hold(session, due.meeting, consultation)  # the answer shows them
        meeting_id = due.meeting.id if due.meeting else (consultation.meeting_id if consultation else None)
        if due.meeting is not None and consultation is not None:
            number = top_number(session, consultation.id, due.meeting.id)
            if number:
                context["top"] = number
        row = HumanTask(
            process_instance_id=instance_id, spiff_task_id=spiff_id,
            bpmn_id=task.task_spec.bpmn_id, title=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
            form_key=runtime.form_key_of(task),
            # Without a lane, a Gremium named as Camunda's candidate group: its Sekretariat.
            lane=task.task_spec.lane or (
                ROLE_SECRETARIAT if props.get(camunda.CANDIDATE_GROUP_PROPERTY) else None),
            organization_id=organization_id, paper_id=paper_id, consultation_id=consultation_id,
            meeting_id=meeting_id, context=context, created=now, due=due_day,
            follow_up=rules.day_after(props[camunda.FOLLOW_UP_PROPERTY], now)
            if props.get(camunda.FOLLOW_UP_PROPERTY) else None,
            search_text=search_text(str(vorlage.get("reference") or sitzung.get("reference") or ""),
                                    str(vorlage.get("name") or sitzung.get("name") or "")),
        )
        if writes is None:
            session.add(row)
        created.append(row)
    if writes is not None and created:
        writes.insert(tasks, [{c.name: getattr(r, c.name) for c in tasks.c if c.name != "id"}
                              for r in created], key="spiff_task_id")
    return created


def _gremium_named(session: Session, name: str | None) -> int | None:
    """The Gremium a model names by short name or name (Camunda's ``candidateGroups``)."""
    if not name:
        return None
    return remembered(session, ("gremium_named", name), lambda: session.exec(  # type: ignore[no-any-return]
        select(Organization.id)
        .where(or_(col(Organization.short_name) == name, col(Organization.name) == name))
        .order_by(col(Organization.id))).first())


def _attach_tasks(session: Session, created: list[HumanTask],
                  written: list[list[tuple[int, str | None]]]) -> None:
    """The rows queued by :func:`_sync_human_tasks`, now written: with their ids (returned
    by their SpiffWorkflow task id), in the session."""
    ids = {key: row_id for rows in written for row_id, key in rows if key is not None}
    for row in created:
        row.id = ids[row.spiff_task_id]
        make_transient_to_detached(row)
        session.add(row)


def _consultation_notes(session: Session, consultation: Consultation | None, now: datetime) -> dict[str, str]:
    """What a secretary must know when a Beratung's step appears: where it was vertagt,
    and whether its planned session no longer fits the Beratungsfolge's order."""
    if consultation is None:
        return {}
    window = rules.session_window(session, consultation, now)
    notes: dict[str, str] = {}
    if window.postponed_in is not None:
        notes["postponed_in"] = window.postponed_in.start.astimezone(TIMEZONE).date().isoformat()
    planned = session.get(Meeting, consultation.meeting_id) if consultation.meeting_id else None
    if planned is not None and window.previous is not None and planned.start <= window.previous.start:
        notes["order_conflict"] = window.refusal(planned) or ""
    return notes


def _instance_with_hash(session: Session, instance_id: int) -> tuple[ProcessInstance, str]:
    """An instance and its model version's spec hash (one query; the spec itself is cached)."""
    row = session.exec(
        select(ProcessInstance, ProcessModel.spec_hash)
        .join(ProcessModel, col(ProcessModel.id) == ProcessInstance.model_id)
        .where(ProcessInstance.id == instance_id)
    ).first()
    if row is None:
        raise NotFound("Vorgang nicht gefunden.")
    return row[0], row[1]


def _instance_of(session: Session, task: HumanTask) -> tuple[ProcessInstance, str]:
    return _instance_with_hash(session, task.process_instance_id)


def _restore(session: Session, instance: ProcessInstance, spec_hash: str) -> tuple[_ModelSpec, Any]:
    spec = _model_spec(session, instance.model_id, spec_hash)
    return spec, runtime.restore(instance.state, spec.spec_json, spec_hash)


def task_form(session: Session, task: HumanTask, now: datetime | None = None) -> tuple[Form, dict[str, Any]]:
    """The task's form with its run-time choices, and the values to show at first."""
    instance, spec_hash = _instance_of(session, task)
    found = _form_for(session, task, instance, spec_hash, now or utcnow())
    return found.form, found.initial


@dataclass
class _FormFor:
    form: Form
    initial: dict[str, Any]
    behind: dict[Any, Any]  # the objects behind the run-time choices, by value
    window: rules.SessionWindow | None  # which sessions fit, when the form offers sessions


def _form_for(session: Session, task: HumanTask, instance: ProcessInstance, spec_hash: str,
              now: datetime, consultation: Consultation | None = None,
              submitted: dict[str, Any] | None = None) -> _FormFor:
    """The task's form with the choices that fit its Beratung, and what stands behind them.

    With ``submitted`` (a completion's data) a run-time choice field offers only the
    submitted value, if it is a choice: validating it needs no more (a form to show passes
    none and gets every choice)."""
    spec = _model_spec(session, instance.model_id, spec_hash)
    if task.form_key is None or task.form_key not in spec.forms:
        raise NotFound(f"Formular {task.form_key!r} fehlt im Modell.")
    form = spec.forms[task.form_key].for_role((task.context.get("beratung") or {}).get("role"))
    initial: dict[str, Any] = {f.name: f.default for f in form.fields if f.default is not None}
    options: dict[str, list[Choice]] = {}
    behind: dict[Any, Any] = {}
    window: rules.SessionWindow | None = None
    for f in form.fields:
        if f.options_source is None:
            continue
        if consultation is None and task.consultation_id is not None:
            consultation = session.get(Consultation, task.consultation_id)
        only = rules.EVERY_CHOICE if submitted is None else submitted.get(f.name)
        source = rules.CHOICE_SOURCES[f.options_source]
        offered = source(session, task.organization_id, consultation, now, only)
        options[f.options_source] = offered.choices
        behind.update(offered.behind)
        window = offered.window or window
        if offered.initial is not None:
            initial[f.name] = offered.initial
    return _FormFor(form.with_options(options), initial, behind, window)


def _why_not_offered(session: Session, task: HumanTask, window: rules.SessionWindow | None,
                     value: Any) -> str | None:
    """Why a submitted session is not among the choices (order, postponement, past)."""
    meeting_id = _as_int(value)
    if window is None or meeting_id is None or not 0 < meeting_id < 2**31:
        return None
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.organization_id != task.organization_id:
        return None
    if meeting.cancelled:
        return "Diese Sitzung ist abgesagt."
    return window.refusal(meeting)


def completion_blocked(session: Session, task: HumanTask, now: datetime | None = None) -> str | None:
    """Why the task cannot be completed yet (its declared ``completableFrom`` rule), or None."""
    guard = task.context.get("completable_from")
    if guard is None or task.status != TASK_READY:
        return None
    meeting = session.get(Meeting, task.meeting_id) if task.meeting_id else None
    return rules.GUARDS[guard](session, meeting, now or utcnow())


@dataclass
class LoadedTask:
    """A task with what completing it needs, read together."""

    task: HumanTask
    instance: ProcessInstance
    spec_hash: str
    consultation: Consultation | None
    paper: Paper | None


#: The Vorlage's texts (kilobytes each) are not needed to complete a task.
_PAPER_TEXTS = tuple(defer(getattr(Paper, name)) for name in
                     ("facts", "proposal", "financial_impact", "personnel_impact"))


@functools.cache
def _task_query() -> Any:
    """The statement of :func:`load_task`, built once (building it cost more than running it).

    With the Gremium come its Body's Bundesland and its deadline rules: the step a completion
    makes ready is mostly the same Gremium's, and its due date needs them
    (``deadlines.gremium_rules`` then reads nothing)."""
    return (
        sa_select(HumanTask, ProcessInstance, col(ProcessModel.spec_hash), Consultation, Paper,
                  Organization, Meeting, col(Body.state), DeadlineRule)
        .join(ProcessInstance, col(ProcessInstance.id) == HumanTask.process_instance_id)
        .join(ProcessModel, col(ProcessModel.id) == ProcessInstance.model_id)
        .outerjoin(Consultation, col(Consultation.id) == HumanTask.consultation_id)
        .outerjoin(Paper, col(Paper.id) == HumanTask.paper_id)
        .outerjoin(Organization, col(Organization.id) == HumanTask.organization_id)
        .outerjoin(Body, col(Body.id) == Organization.body_id)
        .outerjoin(DeadlineRule, col(DeadlineRule.organization_id) == Organization.id)
        .outerjoin(Meeting, col(Meeting.id) == HumanTask.meeting_id)
        .where(col(HumanTask.id) == bindparam("task_id"))
        .options(*_PAPER_TEXTS)
        .with_for_update(of=HumanTask)
    )


#: Where :func:`_task_query`'s own columns end in a row of :func:`_task_with_login_query`.
_TASK_COLUMNS = 9


@functools.cache
def _task_with_login_query(kind: str = "login") -> Any:
    """:func:`_task_query` with the login session (``kind="login"``) or API token
    (``"token"``) of a key hash, its account and grants (``logins.check_with_actor``'s or
    ``tokens.find_with_actor``'s columns, one row per grant) outer-joined: a completion's
    two first reads in one statement."""
    entity: Any = LoginSession if kind == "login" else ApiToken
    by: Any = LoginSession.key_hash if kind == "login" else ApiToken.token_hash
    who = (sa_join(entity, Account, col(Account.id) == entity.account_id)
           .outerjoin(Grant, col(Grant.account_id) == Account.id))
    return (_task_query().add_columns(entity, *ACTOR_COLUMNS)
            .outerjoin(who, col(by) == bindparam("key_hash")))


def _loaded(session: Session, found: Any) -> LoadedTask:
    # The session's identity map holds objects weakly: kept here for the unit of work,
    # the answer's Gremium and Sitzung come from it without a query.
    hold(session, *found[:7])
    organization = found[5]
    if organization is not None and found[7] is not None:
        deadlines.note_gremium_rules(session, organization.id, found[8], found[7])
    return LoadedTask(*found[:5])


def load_task(session: Session, task_id: int) -> LoadedTask:
    """A task, its instance (state and version), its model version, Beratung, Vorlage,
    Gremium (with its deadline rules) and Sitzung: one query, held for the unit of work (404
    if unknown). It is read to complete the task: its row is locked (see
    :func:`complete_task`).

    The web layer calls it before its access check (or :func:`load_task_with_login` for its
    login check), so the completion that follows reads nothing twice; the Gremium and the
    Sitzung go into the session's identity map."""
    def read() -> LoadedTask | None:
        found = session.execute(_task_query(), {"task_id": task_id}).first()
        return None if found is None else _loaded(session, found)
    loaded = remembered(session, ("task", task_id), read)
    if loaded is None:
        raise NotFound("Aufgabe nicht gefunden.")
    return loaded  # type: ignore[no-any-return]


def load_task_with_login(session: Session, task_id: int, key: str) -> list[Any] | None:
    """:func:`load_task` and the login session of ``key`` read together (one statement): the
    task is held for the unit of work as :func:`load_task` holds it; the login's rows are
    returned for ``logins.check_with_actor(rows=…)`` (empty: no such login). None when the
    task is unknown (the login is then read on its own)."""
    if not key or len(key) > logins.MAX_KEY:
        return None
    return _load_task_with(session, task_id, "login", logins.key_hash(key))


def load_task_with_token(session: Session, task_id: int, plain: str) -> list[Any] | None:
    """:func:`load_task_with_login` for an API token: its rows are for
    ``tokens.find_with_actor(rows=…)``."""
    if not tokens.plausible(plain):
        return None
    return _load_task_with(session, task_id, "token", tokens.token_hash(plain))


def _load_task_with(session: Session, task_id: int, kind: str, key_hash: str) -> list[Any] | None:
    rows = session.execute(_task_with_login_query(kind), {"task_id": task_id, "key_hash": key_hash}).all()
    if not rows:
        return None
    memo(session)[("task", task_id)] = _loaded(session, rows[0])
    return [row[_TASK_COLUMNS:] for row in rows if row[_TASK_COLUMNS] is not None]


@dataclass
class Completion:
    task: HumanTask
    version: int
    next_tasks: list[HumanTask]
    finished: bool


def complete_task(session: Session, actor: Actor, task_id: int, data: dict[str, Any],
                  expected_version: int, now: datetime | None = None) -> Completion:
    """Complete a ready human task: one unit of work, refused whole if anything is off.

    The instance row is claimed with ``UPDATE … WHERE version = expected``: of two
    concurrent completions exactly one matches; the other is a 409 and its unit of work
    rolls back.

    The task's row is locked by the first read (PostgreSQL ``FOR UPDATE OF human_task``), so
    the completion holds it before anything else: a second completion of the same task waits
    and then finds it done (409), and a move of its Sitzung, which updates the due dates of
    the Sitzung's ready tasks, waits for it instead of holding it while the completion waits
    for the audit chain's head (that order deadlocked, ``tests/test_under_load.py``).
    """
    now = now or utcnow()
    loaded = load_task(session, task_id)
    row, instance, spec_hash = loaded.task, loaded.instance, loaded.spec_hash
    # In Vertretung: only where the actor's own rights do not suffice (no statement otherwise);
    # the chair's own task (lane Vorsitz) costs one query, only for that lane.
    deputy_for: standins.Represented | None = None
    own = may_work_on_in(session, actor, row)
    if not own or row.assignee not in (None, actor.username):
        deputy_for = standins.acting_for(session, actor.account_id, row.lane, row.organization_id,
                                         row.assignee, now, actor.username)
    if not own and deputy_for is None:
        raise Forbidden("Diese Aufgabe gehört nicht zu Ihren Gremien.")
    if row.status != TASK_READY:
        raise Conflict(f"Die Aufgabe ist bereits {row.status}.")
    acting_for_holder = deputy_for is not None and deputy_for.username == row.assignee
    refusal = None if acting_for_holder else held_by_other(session, actor, row)
    if refusal is not None:
        raise refusal
    if row.delegation == DELEGATION_PENDING:
        owner = row.owner or "?"
        raise Conflict(f"Die Aufgabe ist an Sie delegiert: bitte an {owner} zurückgeben; "
                       "abschließen kann sie, wer sie delegiert hat.")
    if instance.version != expected_version:
        raise Conflict("Der Vorgang wurde inzwischen geändert; bitte die Aufgabe neu laden.")
    blocked = completion_blocked(session, row, now)
    if blocked is not None:
        raise Conflict(blocked)
    form_for = _form_for(session, row, instance, spec_hash, now, loaded.consultation, submitted=data)
    try:
        values = form_for.form.validate(data)
    except FormError as exc:
        for name, messages in exc.errors.items():
            why = _why_not_offered(session, row, form_for.window, data.get(name)) \
                if NOT_A_CHOICE in messages else None
            if why is not None:
                exc.errors[name] = [why]
        raise Invalid("Eingaben bitte prüfen.", exc.errors) from None

    try:
        with session.no_autoflush:  # one flush at the end instead of one before every statement
            return _complete(session, actor, loaded, values, form_for.behind, expected_version, now,
                             deputy_for)
    except runtime.TaskFailed as exc:
        exc.instance_id, exc.paper_id = instance.id, instance.paper_id
        raise


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _complete(session: Session, actor: Actor, loaded: LoadedTask, values: dict[str, Any],
              behind: dict[Any, Any], expected_version: int, now: datetime,
              deputy_for: standins.Represented | None = None) -> Completion:
    row, instance, consultation, paper = loaded.task, loaded.instance, loaded.consultation, loaded.paper
    spec, workflow = _restore(session, instance, loaded.spec_hash)
    spiff_task = workflow.get_task_from_id(UUID(row.spiff_task_id))
    if spiff_task is None or spiff_task.state != runtime.TaskState.READY:
        raise Conflict("Die Aufgabe ist im Vorgang nicht mehr bereit.")
    others_ready = len(runtime.ready_user_tasks(workflow)) > 1
    meeting = session.get(Meeting, instance.meeting_id) if instance.meeting_id else None
    effect = runtime.task_properties(spiff_task).get(rules.EFFECT_PROPERTY)
    writes = Writes()
    details = effects.EFFECTS[effect](effects.EffectContext(
        session, actor.username, actor.display_name, now, consultation, paper, meeting, values, behind,
        instance.id, writes)) if effect else {}
    before = runtime.finished_task_ids(workflow)
    runtime.complete_user_task(workflow, row.spiff_task_id, values, now)
    happened = _event_effects(session, instance, workflow, before, now, skip={spiff_task.id})

    finished = workflow.is_completed()
    open_rows = list(session.exec(select(HumanTask).where(
        HumanTask.process_instance_id == instance.id, HumanTask.status == TASK_READY,
        HumanTask.id != row.id))) if others_ready else []
    # Reads first (what the next steps need), then the writes, sent together.
    next_tasks = _sync_human_tasks(
        session, instance, workflow, open_rows, now,
        known={consultation.id: consultation} if consultation and consultation.id else None,
        writes=writes)
    new_version = _save(session, instance, workflow, expected_version, now, writes)
    tasks = table_of(HumanTask)
    done = {"status": TASK_DONE, "completed": now, "completed_by": actor.username}
    writes.update(tasks, {"id": row.id, "status": TASK_READY}, done,
                  expect=1, refusal=Conflict("Die Aufgabe ist bereits erledigt."))
    # The Sitzung the step is about: the session's own process, or the one the Beratung is on
    # after the step (the agenda step's choice, the session a result was recorded in).
    about = instance.meeting_id or (consultation.meeting_id if consultation is not None else None)
    audit.record_with(writes, session, actor.username, actor.display_name, "task.completed",
                      paper_id=row.paper_id, process_instance_id=instance.id, meeting_id=about, at=now,
                      details={
                          "task": row.bpmn_id, "title": row.title, "task_id": row.id,
                          "gremium": (row.context.get("beratung") or row.context.get("sitzung") or {}).get(
                              "organization_name"),
                          "values": values, **details, **({"events": happened} if happened else {}),
                          **({"in_vertretung_fuer": {"username": deputy_for.username,
                                                     "name": deputy_for.display_name}} if deputy_for else {}),
                          "next": [t.title for t in next_tasks], "finished": finished})
    written = writes.send(session)
    for name, value in done.items():
        set_committed_value(row, name, value)
    _attach_tasks(session, next_tasks, written)
    assert instance.id is not None
    if spec.has_timers:
        _sync_timers(session, instance.id, workflow, now)
    if finished and paper is not None:
        paper.status = _end_state(workflow)
        session.add(paper)
    session.flush()
    return Completion(row, new_version, next_tasks, finished)


def _save(session: Session, instance: ProcessInstance, workflow: Any, expected_version: int,
          now: datetime, writes: Writes | None = None) -> int:
    """Write the workflow state if the instance is still at ``expected_version`` (else 409);
    with ``writes``, queued there (checked when sent)."""
    finished = workflow.is_completed()
    values = {"state": runtime.save(workflow), "version": expected_version + 1, "updated": now,
              "status": INSTANCE_COMPLETED if finished else INSTANCE_RUNNING,
              "completed": now if finished else None}
    table = table_of(ProcessInstance)  # Core: the ORM's bulk-DML layer only adds time here
    stale = Conflict("Der Vorgang wurde inzwischen geändert; bitte die Aufgabe neu laden.")
    if writes is not None:
        writes.update(table, {"id": instance.id, "version": expected_version}, values,
                      expect=1, refusal=stale)
    elif session.exec(update(table).where(table.c.id == instance.id, table.c.version == expected_version)
                      .values(**values)).rowcount != 1:
        raise stale
    # The object in this unit of work holds what the database now holds (no re-read, not dirty),
    # so a second step on the same instance in this unit of work starts from this one.
    for name, value in values.items():
        set_committed_value(instance, name, value)
    return expected_version + 1


def _event_effects(session: Session, instance: ProcessInstance, workflow: Any, before: set[UUID],
                   now: datetime, skip: set[UUID] | None = None) -> list[str]:
    """Carry out the declared effects of the events and script tasks that happened since
    ``before`` (a timer fired, an end reached), in the order they ran; audited per event."""
    happened = []
    meeting: Meeting | None = None
    for task in runtime.newly_finished(workflow, before):
        if skip and task.id in skip:
            continue
        effect = runtime.task_properties(task).get(rules.EFFECT_PROPERTY)
        if not effect:
            continue
        if meeting is None and instance.meeting_id is not None:
            meeting = session.get(Meeting, instance.meeting_id)
        paper = session.get(Paper, instance.paper_id) if instance.paper_id else None
        details = effects.EFFECTS[effect](effects.EffectContext(
            session, "system", "Ablauf", now, None, paper, meeting, {}, {}, instance.id))
        name = task.task_spec.bpmn_name or task.task_spec.bpmn_id
        audit.record(session, "system", "Ablauf", "workflow.event", paper_id=instance.paper_id,
                     process_instance_id=instance.id, at=now,
                     meeting_id=meeting.id if meeting else instance.meeting_id, details={
                         "event": task.task_spec.bpmn_id, "name": name, "effect": effect, **details})
        happened.append(name)
    return happened


def _sync_timers(session: Session, instance_id: int, workflow: Any, now: datetime) -> None:
    """Make the timer rows mirror the workflow's waiting timers: new ones are written, fired
    ones marked, left ones (interrupted, moved) dropped. A timer waiting again for a moment
    it was dropped from (a Sitzung moved away and back to the same day) takes its dropped row
    up again: (instance, task, due) is unique."""
    pending = {(t.spiff_task_id, t.due_at): t for t in runtime.pending_timers(workflow)}
    waiting = list(session.exec(select(WorkflowTimer).where(
        WorkflowTimer.process_instance_id == instance_id, WorkflowTimer.status == TIMER_WAITING)))
    seen = set()
    for row in waiting:
        key = (row.spiff_task_id, row.due_at)
        if key in pending:
            seen.add(key)
            continue
        task = workflow.get_task_from_id(UUID(row.spiff_task_id))
        fired = task is not None and (task.state == runtime.TaskState.COMPLETED or row.due_at <= now)
        row.status = TIMER_FIRED if fired else TIMER_DROPPED
        row.fired_at = now if fired else None
        session.add(row)
    new = {key: timer for key, timer in pending.items() if key not in seen}
    dropped = {(r.spiff_task_id, r.due_at): r for r in session.exec(select(WorkflowTimer).where(
        WorkflowTimer.process_instance_id == instance_id, WorkflowTimer.status == TIMER_DROPPED,
        col(WorkflowTimer.spiff_task_id).in_({k[0] for k in new})))} if new else {}
    for key, timer in new.items():
        again = dropped.get(key)
        if again is not None:
            again.status, again.fired_at = TIMER_WAITING, None
            session.add(again)
            continue
        session.add(WorkflowTimer(process_instance_id=instance_id, spiff_task_id=timer.spiff_task_id,
                                  bpmn_id=timer.bpmn_id, name=timer.name, kind=timer.kind,
                                  due_at=timer.due_at))
    session.flush()


def advance(session: Session, instance_id: int, now: datetime,
            change: Any = None) -> tuple[ProcessInstance, list[str]]:
    """Wake an instance at ``now``: timers due by then fire (``refresh_timers`` +
    ``do_engine_steps``), their effects run, its tasks and timer rows follow, under the
    version check. ``change(workflow)`` may alter the workflow first (a moved session's
    dates). Returns the instance and what happened."""
    instance, spec_hash = _instance_with_hash(session, instance_id)
    if instance.status != INSTANCE_RUNNING:
        return instance, []
    spec, workflow = _restore(session, instance, spec_hash)
    if change is not None:
        change(workflow)
    before = runtime.finished_task_ids(workflow)
    runtime.run_engine(workflow, now)
    happened = _event_effects(session, instance, workflow, before, now)
    _save(session, instance, workflow, instance.version, now)
    open_rows = list(session.exec(select(HumanTask).where(
        HumanTask.process_instance_id == instance.id, HumanTask.status == TASK_READY)))
    _sync_human_tasks(session, instance, workflow, open_rows, now)
    if spec.has_timers:
        _sync_timers(session, instance_id, workflow, now)
    if workflow.is_completed() and instance.paper_id is not None:
        paper = session.get(Paper, instance.paper_id)
        if paper is not None and paper.status == PAPER_IN_CONSULTATION:
            paper.status = _end_state(workflow)
            session.add(paper)
    return instance, happened


def _migration(session: Session, instance_id: int, version: int) -> tuple[
        ProcessInstance, ProcessModel, ProcessModel, Any, runtime.MigrationPlan, Any]:
    instance, spec_hash = _instance_with_hash(session, instance_id)
    current = session.get(ProcessModel, instance.model_id)
    assert current is not None
    target = session.exec(select(ProcessModel).where(ProcessModel.process_id == current.process_id,
                                                     ProcessModel.version == version)).first()
    if target is None:
        raise NotFound(f"Das Modell {current.process_id} hat keine Version {version}.")
    _, workflow = _restore(session, instance, spec_hash)
    plan, prepared = runtime.plan_migration(workflow, target.spec_json, target.spec_hash)
    if instance.status != INSTANCE_RUNNING:
        plan = runtime.MigrationPlan(plan.keeps, plan.changed, plan.removed,
                                     [*plan.problems, "der Vorgang läuft nicht mehr"])
    if target.id == current.id:
        plan = runtime.MigrationPlan(plan.keeps, plan.changed, plan.removed,
                                     [*plan.problems, f"der Vorgang läuft schon auf Version {version}"])
    return instance, current, target, workflow, plan, prepared


def migration_preview(session: Session, instance_id: int, version: int,
                      now: datetime | None = None) -> runtime.MigrationPlan:
    """What moving a running case to another version of its model would do (nothing written):
    the move is tried on the case restored for this preview, so an open step it would lose
    is named as the move itself would name it."""
    _instance, _current, _target, workflow, plan, prepared = _migration(session, instance_id, version)
    if not plan.safe:
        return plan
    lost = _lost_by_moving(workflow, prepared, now or utcnow())
    if not lost:
        return plan
    return runtime.MigrationPlan(plan.keeps, plan.changed, plan.removed, [_lost_problem(lost)])


def _lost_by_moving(workflow: Any, prepared: Any, now: datetime) -> list[str]:
    """Move ``workflow`` (in memory) and name the open steps that would no longer be a task: an
    open step SpiffWorkflow's diff took for something else (e.g. matched with an event after it)
    would vanish unnoticed."""
    before = {str(t.id): t.task_spec.bpmn_name or t.task_spec.bpmn_id
              for t in runtime.ready_user_tasks(workflow)}
    runtime.migrate(workflow, prepared, now)
    after = {str(t.id) for t in runtime.ready_user_tasks(workflow)}
    return sorted(name for task_id, name in before.items() if task_id not in after)


def _lost_problem(lost: list[str]) -> str:
    return f"der offene Schritt „{', '.join(lost)}“ hätte dort keine Aufgabe mehr"


def migrate_instance(session: Session, actor: Actor, instance_id: int, version: int,
                     expected_version: int, now: datetime | None = None) -> ProcessInstance:
    """Move a running case onto another version of its model, in this unit of work: refused
    (409, German, with the reasons) where unsafe; its open tasks and timers follow; audited."""
    now = now or utcnow()
    if not actor.is_admin:
        raise Forbidden("Vorgänge umstellen darf nur die Administration.")
    instance, current, target, workflow, plan, prepared = _migration(session, instance_id, version)
    if not plan.safe:
        raise Conflict(f"Vorgang {instance_id} lässt sich nicht auf Version {version} umstellen: "
                       + "; ".join(plan.problems) + ".")
    lost = _lost_by_moving(workflow, prepared, now)  # refused like a removed step
    if lost:
        raise Conflict(f"Vorgang {instance_id} lässt sich nicht auf Version {version} umstellen: "
                       f"{_lost_problem(lost)}.")
    _save(session, instance, workflow, expected_version, now)
    assert target.id is not None
    session.exec(update(table_of(ProcessInstance)).where(table_of(ProcessInstance).c.id == instance.id)
                 .values(model_id=target.id))
    set_committed_value(instance, "model_id", target.id)
    open_rows = list(session.exec(select(HumanTask).where(
        HumanTask.process_instance_id == instance.id, HumanTask.status == TASK_READY)))
    _sync_human_tasks(session, instance, workflow, open_rows, now)
    for row in _open_rows_renamed(workflow, open_rows):
        session.add(row)
    _sync_timers(session, instance_id, workflow, now)
    audit.record(session, actor.username, actor.display_name, "workflow.migrated", paper_id=instance.paper_id,
                 process_instance_id=instance.id, meeting_id=instance.meeting_id, at=now, details={
                     "model": current.process_id, "from_version": current.version,
                     "to_version": target.version, "keeps": plan.keeps, "changed": plan.changed})
    session.flush()
    return instance


def _open_rows_renamed(workflow: Any, rows: list[HumanTask]) -> list[HumanTask]:
    """Open task rows kept by the migration take their step's name in the new version."""
    by_id = {str(t.id): t for t in runtime.ready_user_tasks(workflow)}
    renamed = []
    for row in rows:
        task = by_id.get(row.spiff_task_id)
        title = (task.task_spec.bpmn_name or task.task_spec.bpmn_id) if task is not None else None
        if row.status == TASK_READY and title and title != row.title:
            row.title = title
            renamed.append(row)
    return renamed


def cancel_instance(session: Session, instance_id: int, now: datetime) -> int:
    """End an instance for good (its Sitzung is cancelled): open tasks cancelled, timers
    dropped. Returns how many tasks were open."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or instance.status not in (INSTANCE_RUNNING, INSTANCE_INCIDENT):
        return 0
    instance.status, instance.completed, instance.updated = INSTANCE_CANCELLED, now, now
    instance.version += 1
    session.add(instance)
    open_tasks = list(session.exec(select(HumanTask).where(
        HumanTask.process_instance_id == instance_id, HumanTask.status == TASK_READY)))
    for task in open_tasks:
        task.status = TASK_CANCELLED
        session.add(task)
    for timer in session.exec(select(WorkflowTimer).where(
            WorkflowTimer.process_instance_id == instance_id, WorkflowTimer.status == TIMER_WAITING)):
        timer.status = TIMER_DROPPED
        session.add(timer)
    session.flush()
    return len(open_tasks)


# ----------------------------------------------------------------------------- meetings

def secretariat_organizations(session: Session, actor: Actor) -> list[Organization]:
    query = select(Organization).where(Organization.organization_type == "Gremium")
    if not actor.has_role(ROLE_ADMIN):
        query = query.where(col(Organization.id).in_(
            actor.organizations_for(ROLE_SECRETARIAT)))
    return list(session.exec(query.order_by(Organization.name)))



def release_result(session: Session, actor: Actor, agenda_item_id: int,
                   now: datetime | None = None) -> AgendaItem:
    """The Sekretariat publishes the result of a non-public agenda item (audited)."""
    item = session.get(AgendaItem, agenda_item_id)
    meeting = session.get(Meeting, item.meeting_id) if item is not None else None
    if item is None or meeting is None:
        raise NotFound("Tagesordnungspunkt nicht gefunden.")
    if not actor.has_role(ROLE_SECRETARIAT, meeting.organization_id):
        raise Forbidden("Sie betreuen das Gremium dieser Sitzung nicht.")
    if item.public or item.result is None:
        raise Conflict("Es gibt hier kein nichtöffentliches Ergebnis freizugeben.")
    if not item.result_released:
        item.result_released = True
        session.add(item)
        session.flush()
        audit.record(session, actor.username, actor.display_name, "agenda_item.result_released",
                     at=now or utcnow(), meeting_id=meeting.id, details={
                         "agenda_item_id": item.id, "meeting": meeting_label(meeting),
                         "result": RESULTS.get(item.result or "", item.result)},
                     paper_id=paper_of_item(session, item))
    return item


def paper_of_item(session: Session, item: AgendaItem) -> int | None:
    if item.consultation_id is None:
        return None
    return session.exec(select(Consultation.paper_id).where(Consultation.id == item.consultation_id)).first()


# ----------------------------------------------------------------------------- the path taken

def diagram_state(session: Session, instance_id: int) -> dict[str, Any]:
    """What an auditor's diagram marks: the elements completed, the ones waiting now, the
    sequence flows taken; the model version the instance runs on and its BPMN XML."""
    instance, spec_hash = _instance_with_hash(session, instance_id)
    model = session.get(ProcessModel, instance.model_id)
    assert model is not None
    _spec, workflow = _restore(session, instance, spec_hash)
    completed, current = runtime.elements_by_state(workflow)
    called = called_models(session, model, workflow)
    taken = set(runtime.flows_taken(model.bpmn_xml, completed, current))
    for other in called:
        taken |= set(runtime.flows_taken(other.bpmn_xml, completed, current))
    return {"instance": instance, "model": model, "completed": sorted(completed), "current": sorted(current),
            "taken": sorted(taken), "labels": runtime.element_labels(workflow), "called": called}


def called_models(session: Session, model: ProcessModel, workflow: Any) -> list[ProcessModel]:
    """The models a version's call activities call (the Beratungsfolge of the lifecycle), each
    the version deployed last before it: their drawings show the steps inside."""
    found = []
    for process_id in sorted(getattr(workflow, "subprocess_specs", {}) or {}):
        other = session.exec(select(ProcessModel).where(
            ProcessModel.process_id == process_id, ProcessModel.deployed_at <= model.deployed_at)
            .order_by(col(ProcessModel.version).desc())).first() or session.exec(
            select(ProcessModel).where(ProcessModel.process_id == process_id)
            .order_by(col(ProcessModel.version).desc())).first()
        if other is not None:
            found.append(other)
    return found
