"""Verwaltung → Prozessmodelle (administration only): every deployed version of every BPMN
model with its cases, a version's diagram and file, upload with the deploy's checks, and
what changed between two versions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select
from werkzeug.exceptions import RequestEntityTooLarge

from engine.council import ROLE_AUDITOR, Meeting, Paper
from engine.errors import Invalid, NotFound
from engine.process import procedures
from engine.types import ascii_int
from engine.workflow import model_diff
from engine.workflow.models import (
    INSTANCE_CANCELLED,
    INSTANCE_COMPLETED,
    INSTANCE_INCIDENT,
    INSTANCE_RUNNING,
    ProcessInstance,
    ProcessModel,
)

from .admin import require_admin
from .auth import current_actor, login_required
from .files_response import content_disposition
from .i18n import N_
from .i18n import gettext as _
from .views import request_session, rollback_request

bp = Blueprint("models", __name__, url_prefix="/verwaltung/prozessmodelle")

#: At most this many files in one upload.
MAX_FILES = 20
#: Running cases listed with a link on a version's page (the counts are complete).
MAX_LISTED = 100
#: Instance states counted as running and as finished.
RUNNING = (INSTANCE_RUNNING, INSTANCE_INCIDENT)
FINISHED = (INSTANCE_COMPLETED, INSTANCE_CANCELLED)

#: BPMN element kinds in words (``_()`` in the templates); unknown kinds say "BPMN-Element".
ELEMENT_KINDS = {
    "process": N_("Prozess"), "lane": N_("Bahn"), "task": N_("Aufgabe"),
    "userTask": N_("Benutzeraufgabe"), "scriptTask": N_("Skriptaufgabe"),
    "serviceTask": N_("Serviceaufgabe"), "manualTask": N_("Manuelle Aufgabe"),
    "sendTask": N_("Sendeaufgabe"), "receiveTask": N_("Empfangsaufgabe"),
    "businessRuleTask": N_("Geschäftsregelaufgabe"), "callActivity": N_("Aufrufaktivität"),
    "subProcess": N_("Teilprozess"), "transaction": N_("Transaktion"),
    "startEvent": N_("Startereignis"), "endEvent": N_("Endereignis"),
    "intermediateCatchEvent": N_("Zwischenereignis (eintretend)"),
    "intermediateThrowEvent": N_("Zwischenereignis (auslösend)"), "boundaryEvent": N_("Randereignis"),
    "exclusiveGateway": N_("Exklusives Gateway"), "parallelGateway": N_("Paralleles Gateway"),
    "inclusiveGateway": N_("Inklusives Gateway"), "eventBasedGateway": N_("Ereignisbasiertes Gateway"),
    "complexGateway": N_("Komplexes Gateway"), "sequenceFlow": N_("Sequenzfluss"),
    "textAnnotation": N_("Textanmerkung"), "association": N_("Assoziation"),
    "dataObjectReference": N_("Datenobjekt"), "dataStoreReference": N_("Datenspeicher"),
    "dataObject": N_("Datenobjekt"),
}
#: What changed on an element, in words (``engine.workflow.model_diff.ASPECTS``).
ASPECT_NAMES = {
    "type": N_("Art"), "name": N_("Name"), "source": N_("kommt von"), "target": N_("führt zu"),
    "incoming": N_("eingehende Flüsse"), "outgoing": N_("ausgehende Flüsse"),
    "condition": N_("Bedingung"), "default": N_("Standardfluss"), "timer": N_("Zeitangabe"),
    "event": N_("Ereignisart"), "script": N_("Skript"), "called": N_("aufgerufener Prozess"),
    "property": N_("Eigenschaft"),
}
N_("BPMN-Element")


@bp.app_template_global("element_kind")
def _kind(kind: str) -> str:
    """A BPMN element's kind in words ("Benutzeraufgabe"), for an element without a name too."""
    return _(ELEMENT_KINDS.get(kind, "BPMN-Element"))


def _file_name(model: ProcessModel) -> str:
    return f"{model.process_id}-version-{model.version}.bpmn"


def _case_counts(s: Session, model_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per model version: its cases by state (one grouped query), plus "running" and "finished"."""
    counts: dict[int, dict[str, int]] = {i: {"running": 0, "finished": 0} for i in model_ids}
    if not model_ids:
        return counts
    rows = s.exec(select(col(ProcessInstance.model_id), col(ProcessInstance.status), func.count())
                  .where(col(ProcessInstance.model_id).in_(model_ids))
                  .group_by(col(ProcessInstance.model_id), col(ProcessInstance.status)))
    for model_id, status, number in rows:
        found = counts[model_id]
        found[status] = number
        if status in RUNNING:
            found["running"] += number
        elif status in FINISHED:
            found["finished"] += number
    return counts


#: What the list leaves unread: the parsed spec, the XML, the forms.
_LARGE_COLUMNS = tuple(defer(getattr(ProcessModel, name)) for name in ("spec_json", "bpmn_xml", "forms"))


def _groups(s: Session) -> list[dict[str, Any]]:
    """Every process with its versions, newest first (without the large XML and spec columns)."""
    models = list(s.exec(select(ProcessModel)
                         .options(*_LARGE_COLUMNS)
                         .order_by(col(ProcessModel.process_id), col(ProcessModel.version).desc())))
    counts = _case_counts(s, [m.id for m in models if m.id is not None])
    groups: list[dict[str, Any]] = []
    for model in models:
        if not groups or groups[-1]["process_id"] != model.process_id:
            groups.append({"process_id": model.process_id, "name": model.name, "versions": []})
        groups[-1]["versions"].append({"model": model, "cases": counts[model.id or 0]})
    return groups


def _list_page(status: int = 200, findings: list[str] | None = None, results: list[str] | None = None,
               errors: list[str] | None = None) -> ResponseReturnValue:
    return render_template("admin_models.html", groups=_groups(request_session()), findings=findings or [],
                           results=results or [], errors=errors or [], limit_mb=_limit_mb()), status


def _limit_mb() -> int:
    return (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    require_admin()
    return _list_page()


def _uploads() -> tuple[dict[str, bytes], list[str]]:
    """The chosen files (name without folders → bytes) and what is wrong with the choice."""
    files: dict[str, bytes] = {}
    errors: list[str] = []
    for upload in request.files.getlist("dateien"):
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
        if not name:
            continue
        if name in files:
            errors.append(_("Die Datei %(name)s ist zweimal gewählt.", name=name))
            continue
        files[name] = upload.read()
    if not files and not errors:
        errors.append(_("Bitte mindestens eine BPMN-Datei wählen."))
    elif len(files) > MAX_FILES:
        errors.append(_("Höchstens %(n)s Dateien auf einmal.", n=MAX_FILES))
    return files, errors


@bp.post("")
@login_required
def upload() -> ResponseReturnValue:
    """Check (``aktion=pruefen``) or deploy the uploaded files, all or none: files deployed
    together find each other's processes for their call activities."""
    actor = require_admin()
    check_only = request.form.get("aktion") == "pruefen"
    files, errors = _uploads()
    if errors:
        return _list_page(422, errors=errors)
    # The same path as the API and ``ratsflow deploy``: forms and scenarios uploaded with the
    # models count, the bundled forms otherwise.
    try:
        outcomes = procedures.deploy_uploaded(request_session(), files, actor.username, check_only=check_only)
    except Invalid as exc:
        return _list_page(422, errors=[m for ms in exc.errors.values() for m in ms])
    findings = [str(finding) for o in outcomes for finding in o.findings]
    results: list[str] = []
    for o in outcomes:
        if not o.ok:
            continue
        if check_only:
            results.append(_("%(file)s: in Ordnung – Prozess %(process)s (geprüft, nicht bereitgestellt)",
                             file=o.name, process=o.process_id))
            continue
        message = (_("%(file)s: Prozess %(process)s, Version %(version)s bereitgestellt") if o.new else
                   _("%(file)s: Prozess %(process)s, Version %(version)s unverändert (schon bereitgestellt)"))
        results.append(message % {"file": o.name, "process": o.process_id, "version": o.version})
    if findings:
        rollback_request()  # all or none: nothing of this upload is deployed
        return _list_page(422, findings=findings, results=results if check_only else [])
    if check_only:
        return _list_page(results=results)
    for message in results:
        flash(message, "success")
    return redirect(url_for("models.index"))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """An upload beyond the app's limit (``MAX_CONTENT_LENGTH``): said next to the field."""
    actor = current_actor()
    if actor is None or not actor.is_admin:
        return render_template("error.html", status=413, message=_("Die Datei ist zu groß.")), 413
    too_much = _("Die Dateien sind zu groß: zusammen höchstens %(mb)s MB.", mb=_limit_mb())
    return _list_page(413, errors=[too_much])


def _model_or_404(s: Session, model_id: int) -> ProcessModel:
    model = s.get(ProcessModel, model_id)
    if model is None:
        raise NotFound(_("Eine Modellversion %(id)s gibt es nicht.", id=model_id))
    return model


@bp.get("/<int:model_id>")
@login_required
def version(model_id: int) -> ResponseReturnValue:
    """One version: its diagram (bpmn-js, as the auditor's), its file, its cases."""
    actor = require_admin()
    s = request_session()
    model = _model_or_404(s, model_id)
    versions = list(s.exec(select(col(ProcessModel.id), col(ProcessModel.version))
                           .where(ProcessModel.process_id == model.process_id)
                           .order_by(col(ProcessModel.version))))
    newer = next((i for i, v in versions if v > model.version), None)
    older = next((i for i, v in reversed(versions) if v < model.version), None)
    cases = _case_counts(s, [model_id])[model_id]
    running: list[tuple[ProcessInstance, Paper | None, Meeting | None]] = []
    if actor.has_role(ROLE_AUDITOR):
        running = list(s.exec(
            select(ProcessInstance, Paper, Meeting)
            .join(Paper, col(Paper.id) == ProcessInstance.paper_id, isouter=True)
            .join(Meeting, col(Meeting.id) == ProcessInstance.meeting_id, isouter=True)
            .where(ProcessInstance.model_id == model_id, col(ProcessInstance.status).in_(RUNNING))
            .order_by(col(ProcessInstance.id)).limit(MAX_LISTED)))
    return render_template("admin_model.html", model=model, cases=cases, running=running,
                           states=(*RUNNING, *FINISHED),
                           versions=versions, newer=newer, older=older, file_name=_file_name(model),
                           max_listed=MAX_LISTED)


@bp.get("/<int:model_id>/<name>")
@login_required
def download(model_id: int, name: str) -> ResponseReturnValue:
    """The version's BPMN file as deployed."""
    require_admin()
    model = _model_or_404(request_session(), model_id)
    if name != _file_name(model):
        abort(404)
    return Response(model.bpmn_xml, mimetype="application/xml",
                    headers={"Content-Disposition": content_disposition("attachment", name)})


@bp.get("/vergleich")
@login_required
def compare() -> ResponseReturnValue:
    """What changed from version ``von`` to version ``zu`` of one process."""
    require_admin()
    s = request_session()
    ids = [ascii_int(request.args.get(k, ""), 19) for k in ("von", "zu")]
    if any(i is None or not 0 < i < 2**63 for i in ids):
        return render_template("admin_model_diff.html", error=_("Bitte zwei Versionen wählen.")), 422
    old, new = (_model_or_404(s, i) for i in ids if i is not None)
    if old.process_id != new.process_id:
        return render_template("admin_model_diff.html", error=_(
            "Nur Versionen desselben Prozesses lassen sich vergleichen: %(a)s und %(b)s.",
            a=old.process_id, b=new.process_id)), 422
    try:
        found = model_diff.diff(old.bpmn_xml, new.bpmn_xml)
    except model_diff.ModelDiffError as exc:  # stored models were parsed at deploy; never expected
        return render_template("admin_model_diff.html", error=str(exc)), 422
    return render_template("admin_model_diff.html", error=None, old=old, new=new, diff=found,
                           kind=_kind, aspects=ASPECT_NAMES)
